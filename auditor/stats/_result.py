"""The tidy result row every statistic returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
        return asdict(self)
