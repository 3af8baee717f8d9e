"""The paired design: an LLM rater and humans on the same conversations; unit of resampling = conversation."""

from __future__ import annotations

import numpy as np

from ..rubric import Dimension
from ..stats._result import StatRow
from ._consensus import consensus, leave_one_out

__all__ = ["PairedInputs", "paired_inputs", "reference_scores", "llm_vs_reference", "human_ceiling",
           "humans_multirater", "failed_as_wrong"]


class PairedInputs:
    """One dimension's per-unit arrays: the LLM rater's aggregated score and the reference consensus."""

    def __init__(self, units, x, y, n_ref):
        self.units, self.x, self.y, self.n_ref = units, x, y, n_ref


def _memo(sig, key, compute):
    """``compute()`` once per ``sig`` and key (the audit asks for the same per-unit scores several times)."""
    memo = getattr(sig, "memo", None)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def rater_scores(sig, rater_idx: int, level: str):
    """(units, per-unit score) of one rater, its samples aggregated by the level's consensus rule."""
    return _memo(sig, ("rater", int(rater_idx), level), lambda: _rater_scores(sig, rater_idx, level))


def _rater_scores(sig, rater_idx: int, level: str):
    m = sig.rater == rater_idx
    u, v, _ = consensus(sig.conv[m], sig.value[m], level)
    return u, v


def reference_scores(sig, ref_idx: list[int], level: str):
    """The reference raters' per-unit consensus: (units, consensus, n ratings, (conv, rater, value) ratings)."""
    return _memo(sig, ("reference", tuple(sorted(int(i) for i in ref_idx)), level),
                 lambda: _reference_scores(sig, ref_idx, level))


def _reference_scores(sig, ref_idx: list[int], level: str):
    m = np.isin(sig.rater, ref_idx)
    # one rating per (unit, rater): a human with several samples is first aggregated
    conv, rat, val = sig.conv[m], sig.rater[m], sig.value[m]
    if sig.sample[m].max(initial=0) > 0:
        key = conv * (int(rat.max(initial=0)) + 1) + rat
        k, v, _ = consensus(key, val, level)
        conv, rat, val = k // (int(rat.max(initial=0)) + 1), k % (int(rat.max(initial=0)) + 1), v
    u, v, n = consensus(conv, val, level)
    return u, v, n, (conv, rat, val)


def paired_inputs(sig, llm_idx: int, ref, level: str) -> PairedInputs:
    """``ref`` is :func:`reference_scores`' result (computed once per dimension)."""
    ux, vx = rater_scores(sig, llm_idx, level)
    uy, vy, ny, _ = ref
    common, ix, iy = np.intersect1d(ux, uy, assume_unique=True, return_indices=True)
    return PairedInputs(common, vx[ix], vy[iy], ny[iy])


def llm_vs_reference(inp: PairedInputs, dim: Dimension, *, n_boot, seed, ci_method, statistics=None):
    from ..stats.paired import paired_statistics

    return paired_statistics(inp.x, inp.y, level=dim.level, option_values=dim.distinct_values,
                             statistics=statistics, n_boot=n_boot, seed=seed, ci_method=ci_method)


FAILED_AS_WRONG = ("exact_agreement", "cohen_kappa")


def failed_as_wrong(inp: PairedInputs, failed_units, ref, dim: Dimension, *, n_boot, seed, ci_method,
                    statistics=None) -> tuple[list, int]:
    """Exact agreement and Cohen's kappa with each failed verdict counted as a disagreement (LLMBar's and
    MT-Bench's convention): a failed unit gets a category no human uses. Returns (rows, failed units counted)."""
    from ..stats.paired import paired_statistics

    uy, vy, _, _ = ref
    fu = np.setdiff1d(np.intersect1d(failed_units, uy), inp.units)
    names = [s for s in FAILED_AS_WRONG if statistics is None or s in statistics]
    if fu.size == 0 or not names:
        return [], int(fu.size)
    lo, hi = dim.value_range
    failed_code = hi + max(hi - lo, 1.0) + 1.0        # off the scale: equal to no human's rating
    yf = vy[np.searchsorted(uy, fu)]
    x = np.concatenate([inp.x, np.full(fu.size, failed_code)])
    y = np.concatenate([inp.y, yf])
    rows = paired_statistics(x, y, level="nominal", option_values=list(dim.distinct_values) + [failed_code],
                             units=np.concatenate([inp.units, fu]), statistics=names, n_boot=n_boot, seed=seed,
                             ci_method=ci_method)
    return rows, int(fu.size)


def human_ceiling(humans, dim: Dimension, *, n_boot, seed, ci_method, statistics=None):
    """Each human against the consensus of the other humans, pooled over humans; units = conversations.

    ``humans`` is :func:`reference_scores` over the human raters.
    """
    from ..stats.paired import paired_statistics

    _, _, _, (conv, rat, val) = humans
    u, r, x, y = leave_one_out(conv, rat, val, dim.level)
    if u.size == 0:
        return [StatRow(s, float("nan"), n=0, note=f"{dim.level}; undefined: no conversation has two or more "
                        "human ratings, so there is no human ceiling") for s in (statistics or ["krippendorff_alpha"])]
    return paired_statistics(x, y, level=dim.level, option_values=dim.distinct_values, units=u,
                             statistics=statistics, n_boot=n_boot, seed=seed, ci_method=ci_method)


def humans_multirater(humans, dim: Dimension, *, n_boot, seed, ci_method, statistics=None):
    from ..stats.multirater import multirater_statistics

    _, _, _, (conv, rat, val) = humans
    return multirater_statistics(conv, rat, val, level=dim.level, option_values=dim.distinct_values,
                                 statistics=statistics, n_boot=n_boot, seed=seed, ci_method=ci_method)
