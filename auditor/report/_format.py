"""Number and text formatting shared by the HTML and Markdown reports (so both show the same digits)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_num", "fmt", "fmt_ci", "fmt_cell", "clip_text", "plot_text", "plural", "DIGITS"]

# statistics shown with fewer decimals (they live on a 0-100 scale)
_ONE_DECIMAL = {"eval_score", "eval_score_batch_std", "eval"}
_COUNTS = {"system_reversed_pairs"}          # counts: whole numbers
DIGITS = 3


def is_num(v: Any) -> bool:
    """True for a finite real number (not None, not NaN, not a bool)."""
    if v is None or isinstance(v, bool):
        return False
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return math.isfinite(f)


def _digits(stat: str | None) -> int:
    return 0 if stat in _COUNTS else 1 if stat in _ONE_DECIMAL else DIGITS


def fmt(v: Any, stat: str | None = None, *, signed: bool = False, missing: str = "n/a") -> str:
    """A number with the report's precision: 3 decimals (1 on 0-100 scales); ``missing`` when undefined."""
    if not is_num(v):
        return missing
    f = float(v)
    d = _digits(stat)
    if abs(f) >= 1e5:
        return f"{f:,.0f}"
    s = f"{f:+.{d}f}" if signed else f"{f:.{d}f}"
    return s.replace("-0." + "0" * d, "0." + "0" * d) if not signed else s


def fmt_ci(lo: Any, hi: Any, stat: str | None = None) -> str:
    """``[lo, hi]`` with one decimal fewer than the estimate; empty when there is no interval."""
    if not (is_num(lo) and is_num(hi)):
        return ""
    d = 0 if stat in _COUNTS else max(_digits(stat) - 1, 1)
    return f"[{float(lo):.{d}f}, {float(hi):.{d}f}]"


def fmt_cell(cell: dict | None, stat: str | None = None, *, signed: bool = False) -> str:
    """``value [lo, hi]`` for a ``{"value", "ci_low", "ci_high"}`` cell (``n/a`` when undefined)."""
    if not cell or not is_num(cell.get("value")):
        return "n/a"
    ci = fmt_ci(cell.get("ci_low"), cell.get("ci_high"), stat)
    v = fmt(cell["value"], stat, signed=signed)
    return f"{v} {ci}" if ci else v


def clip_text(s: Any, limit: int) -> tuple[str, bool]:
    """(text cut to ``limit`` characters with an ellipsis, whether it was cut)."""
    s = "" if s is None else str(s)
    if len(s) <= limit:
        return s, False
    return s[: max(limit - 1, 1)].rstrip() + "\u2026", True


def plot_text(s: Any, limit: int = 28) -> str:
    """A label for matplotlib: cut to ``limit`` and with ``$`` escaped (matplotlib reads $...$ as math)."""
    t, _ = clip_text(s, limit)
    return t.replace("\\", "\\\\").replace("$", r"\$")


def plural(n: Any, word: str, many: str | None = None) -> str:
    """``1 dimension``, ``6 dimensions`` (``many`` for irregular plurals); the count as given."""
    one = is_num(n) and float(n) == 1
    return f"{n} {word if one else (many or word + 's')}"
