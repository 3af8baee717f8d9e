"""Server-rendered pages: one jinja2 environment with autoescaping on, and the small formatting helpers."""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache

import jinja2
import pandas as pd

__all__ = ["render", "fold", "fmt", "jsonable", "records", "FOLD_AT"]

FOLD_AT = 1200      # characters: a longer turn shows its start and folds the rest


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("auditor.web", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context) -> str:
    return _env().get_template(template).render(**context)


def fold(text: str) -> tuple[str, str]:
    """(shown, folded) parts of a turn: everything shown when short; else a head and the rest behind a toggle."""
    if len(text) <= FOLD_AT:
        return text, ""
    cut = text.rfind(" ", 0, FOLD_AT // 2)
    cut = cut if cut > FOLD_AT // 4 else FOLD_AT // 2
    return text[:cut], text[cut:]


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if not v.is_integer() else str(int(v))
    return str(v)


def jsonable(v):
    """Plain JSON values: NaN -> None, timestamps -> ISO strings, numpy scalars -> Python."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (pd.Timestamp, datetime)):
        return None if pd.isna(v) else v.isoformat()
    if v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def records(df: pd.DataFrame) -> list[dict]:
    return [jsonable(r) for r in df.to_dict("records")] if len(df) else []
