"""One LLM rater's per-conversation scores next to the reference consensus (the audit's consensus rules)."""

from __future__ import annotations

import numpy as np

from ..audit._paired import rater_scores, reference_scores

__all__ = ["pair_up", "SignalCache"]


def pair_up(sig, llm_idx: int, ref_idx: list[int], level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(units, LLM score, reference consensus) on the conversations both rated, ordered by unit.

    The LLM's samples and the reference raters' ratings are aggregated as the audit does
    (``auditor.audit._consensus``), so these pairs are the ones behind the audit's paired rows.
    """
    ux, vx = rater_scores(sig, llm_idx, level)
    uy, vy, _, _ = reference_scores(sig, ref_idx, level)
    common, ix, iy = np.intersect1d(ux, uy, assume_unique=True, return_indices=True)
    return common, vx[ix], vy[iy]


class SignalCache:
    """``dimension_signals`` of each (rubric, dimension), read once per report (several sections use them)."""

    def __init__(self, store):
        self.store = store
        self._memo: dict[tuple[str, str], object] = {}

    def __call__(self, rubric: str, dimension: str):
        from ..audit import _fetch

        key = (rubric, dimension)
        if key not in self._memo:
            self._memo[key] = _fetch.dimension_signals(self.store, rubric, dimension)
        return self._memo[key]
