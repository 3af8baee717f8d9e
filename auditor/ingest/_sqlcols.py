"""SQL expressions that read one raw column the way the Python reader reads a cell.

A column arrives as text (CSV, JSON) or typed (Parquet, a DataFrame). Each expression gives the same answer for
both: ``raw`` is ``str(cell)`` (for error messages), ``text`` the stripped text or NULL when blank, ``label`` the
text of a label cell (a whole float ``3.0`` reads as ``"3"``, and so does ``text``), ``num`` the number or NULL
(never for a boolean), ``nonscalar`` the type
name of a cell that holds an object or a list (``dict``, ``list``, ``ndarray``) or NULL.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._text import sql_str
from ._source import edge_whitespace, quote_ident

__all__ = ["Col", "sql_str", "WS"]

# str.strip() whitespace that occurs in files (DuckDB's trim() alone strips spaces only)
WS = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"

_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
         "UHUGEINT")
_FLOATS = ("FLOAT", "DOUBLE", "REAL")


def _kind(t: str) -> str:
    t = t.upper()
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return "nested"
    if t in _INTS:
        return "int"
    if t in _FLOATS:
        return "float"
    if t.startswith("DECIMAL"):
        return "decimal"
    if t == "BOOLEAN":
        return "bool"
    if t == "VARCHAR":
        return "text"
    return "other"


@dataclass
class Col:
    """One source column: ``name`` as in the file, ``type`` its DuckDB type; ``flag`` the name of a
    ``__nonscalar__`` column beside it (frames only)."""

    name: str
    type: str
    flag: str | None = None
    expr: str | None = None          # a SQL expression standing for the column (e.g. --rater-id's constant)
    clean: bool = False              # no cell starts or ends in whitespace (Source.clean): text needs no trim

    @property
    def kind(self) -> str:
        return _kind(self.type)

    @property
    def q(self) -> str:
        return f"({self.expr})" if self.expr is not None else quote_ident(self.name)

    def raw(self) -> str:
        q, k = self.q, self.kind
        if k == "float":
            return f"(CASE WHEN isnan({q}) THEN NULL ELSE CAST({q} AS VARCHAR) END)"
        if k == "bool":
            return f"(CASE WHEN {q} THEN 'True' WHEN NOT {q} THEN 'False' END)"
        if k == "text":
            return q
        return f"CAST({q} AS VARCHAR)"

    def text(self) -> str:
        """Stripped text, NULL when blank. A whole float reads as an integer (Parquet's float id ``901.0`` is the
        CSV's ``901``)."""
        if self.kind == "float":
            return self.label()
        if self.kind in ("int", "decimal", "bool"):
            return self.raw()
        r = self.raw()
        if self.clean:
            return f"nullif({r}, '')"
        # trim only what starts or ends in whitespace or a control character (testing the first and last
        # character is several times cheaper than trimming every cell)
        return f"nullif(CASE WHEN {edge_whitespace(r)} THEN trim({r}, {WS}) ELSE {r} END, '')"

    def label(self) -> str:
        q = self.q
        if self.kind == "float":
            return (f"(CASE WHEN isnan({q}) THEN NULL WHEN {q} = trunc({q}) AND abs({q}) < 1e15 "
                    f"THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) ELSE CAST({q} AS VARCHAR) END)")
        return self.text()

    def num(self) -> str:
        q, k = self.q, self.kind
        if k in ("int", "decimal"):
            return f"CAST({q} AS DOUBLE)"
        if k == "bool":                  # true / false is no number on a rating scale (it would read as option 1)
            return "CAST(NULL AS DOUBLE)"
        if k == "float":
            return f"(CASE WHEN isnan({q}) THEN NULL ELSE CAST({q} AS DOUBLE) END)"
        if k == "nested":
            return "CAST(NULL AS DOUBLE)"
        t = self.text()
        # pandas reads "1_000" as no number; DuckDB would read 1000. A nonzero number a double cannot hold is no
        # number either: "1e-400" would read as 0 (the not-answered code of some rubrics), "1e400" as infinity
        x = f"TRY_CAST({t} AS DOUBLE)"
        return (f"(CASE WHEN contains({t}, '_') THEN NULL WHEN {x} = 0 AND regexp_matches({t}, '^[^eE]*[1-9]') "
                f"THEN NULL ELSE {x} END)")

    def nonscalar(self) -> str:
        if self.flag is not None:
            return quote_ident(self.flag)
        t = self.type.upper()
        if self.kind != "nested":
            return "NULL"
        name = "dict" if t.startswith("STRUCT") else "list" if t.startswith("MAP") else "ndarray"
        return f"(CASE WHEN {self.q} IS NOT NULL THEN '{name}' END)"
