"""Small text helpers shared by the readers and the store (so that neither imports the other for them)."""

from __future__ import annotations

__all__ = ["short_text", "sql_str"]


def short_text(v, n: int = 60) -> str:
    """``v`` as text, cut to ``n`` characters, so that an error message stays one short line."""
    s = str(v)
    return s if len(s) <= n else s[:n] + "..."


def sql_str(s) -> str:
    """A SQL string literal (NULL for None)."""
    return "NULL" if s is None else "'" + str(s).replace("'", "''") + "'"
