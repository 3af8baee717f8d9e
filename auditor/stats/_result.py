"""The tidy result row every statistic returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["StatRow"]


@dataclass
class StatRow:
    """One statistic: value, interval, number of units behind it and a note.

    ``note`` names the level of measurement, the CI method and, when ``value`` is NaN, why it is undefined.
    """

    statistic: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    note: str = ""

    def to_dict(self) -> dict:
        # the fields are scalars: a plain dict, not dataclasses.asdict's recursive deep copy (a tenth of a small audit)
        return {"statistic": self.statistic, "value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n": self.n, "note": self.note}
