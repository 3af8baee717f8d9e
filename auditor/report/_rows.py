"""Look-ups over the audit's tidy rows (``auditor.audit.ROW_COLUMNS``)."""

from __future__ import annotations

import math
from typing import Iterable

import pandas as pd

__all__ = ["RowIndex", "CEILING", "MULTIRATER", "HUMAN_ROWS", "llm_raters", "clean"]

CEILING = "human_loo"      # each human against the other humans: the ceiling
MULTIRATER = "humans"      # agreement among all humans
HUMAN_ROWS = (CEILING, MULTIRATER)


def clean(v):
    """A JSON-safe scalar: NaN / inf -> None, numpy scalars -> Python."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    return v


class RowIndex:
    """The audit rows keyed by (rater, rubric, dimension, statistic); first row wins when designs repeat."""

    def __init__(self, rows: pd.DataFrame):
        self.df = rows.reset_index(drop=True)
        self._by: dict[tuple, dict] = {}
        for r in self.df.to_dict("records"):
            rec = {k: clean(v) for k, v in r.items()}
            key = (rec["rater"], rec["rubric"], rec["dimension"], rec["statistic"])
            self._by.setdefault(key, rec)
            # the ceiling can exist for both designs: keep them apart as well
            self._by.setdefault(key + (rec.get("design"),), rec)

    def get(self, rater: str, rubric: str, dimension: str, statistic: str, design: str | None = None) -> dict | None:
        if design is not None:
            hit = self._by.get((rater, rubric, dimension, statistic, design))
            if hit is not None:
                return hit
        return self._by.get((rater, rubric, dimension, statistic))

    def cell(self, *key, design: str | None = None) -> dict | None:
        """``{"value", "ci_low", "ci_high", "n", "note"}`` of one row, or None."""
        r = self.get(*key, design=design)
        if r is None:
            return None
        return {k: r.get(k) for k in ("value", "ci_low", "ci_high", "n", "note")}

    def rubrics(self) -> list[str]:
        return list(dict.fromkeys(self.df["rubric"].dropna()))

    def dimensions(self, rubric: str, rater: str | None = None) -> list[str]:
        d = self.df[self.df["rubric"] == rubric]
        if rater is not None:
            d = d[d["rater"] == rater]
        return list(dict.fromkeys(d["dimension"]))

    def statistics(self, rater: str, rubric: str, dimension: str | None = None) -> list[str]:
        d = self.df[(self.df["rater"] == rater) & (self.df["rubric"] == rubric)]
        if dimension is not None:
            d = d[d["dimension"] == dimension]
        return list(dict.fromkeys(d["statistic"]))

    def design(self, rater: str, rubric: str) -> str | None:
        """The rater's design (paired or matched); its system-level rows (design ``system``) ride along."""
        d = self.df[(self.df["rater"] == rater) & (self.df["rubric"] == rubric)]["design"].dropna()
        d = d[d != "system"]
        return str(d.iloc[0]) if len(d) else None

    def reference(self, rater: str, rubric: str) -> str:
        d = self.df[(self.df["rater"] == rater) & (self.df["rubric"] == rubric)]["reference"].dropna()
        return str(d.iloc[0]) if len(d) else "humans"

    def has(self, statistic: str | Iterable[str]) -> bool:
        names = [statistic] if isinstance(statistic, str) else list(statistic)
        return bool(self.df["statistic"].isin(names).any())


def llm_raters(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """(rater, rubric) pairs of the audited LLM raters, in the rows' order."""
    d = rows[~rows["rater"].isin(HUMAN_ROWS)]
    return list(dict.fromkeys(zip(d["rater"], d["rubric"])))
