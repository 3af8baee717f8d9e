"""``export``: a table, view or read-only query of the store written to Parquet, CSV or JSON lines by DuckDB.

``auditor sql`` refuses ``COPY`` (it writes files); this is the one path that does, on a read-only connection,
for a query that passes the same read-only check.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .errors import AuditorError
from .store import Store, check_read_only

__all__ = ["FORMATS", "export"]

FORMATS = {".parquet": "(FORMAT parquet)", ".csv": "(FORMAT csv, HEADER true)", ".jsonl": "(FORMAT json)",
           ".ndjson": "(FORMAT json)", ".json": "(FORMAT json, ARRAY true)"}


def _relations(store: Store) -> list[str]:
    return [r[0] for r in store.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]


def export(store: Store, to: str | Path, *, table: str | None = None, query: str | None = None,
           overwrite: bool = False) -> int:
    """Write ``table`` (a table or view) or ``query`` to ``to``; the format follows its extension. Returns rows."""
    if (table is None) == (query is None):
        raise AuditorError("export needs a table or view name, or --query SQL (one of them). Fix: e.g. `auditor "
                           "export signals_long --to ratings.parquet`.")
    out = Path(to)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise AuditorError(f"--to {str(out)!r}: unknown format {out.suffix or '(no extension)'!r}. Fix: end the "
                           f"file name in one of {', '.join(FORMATS)}.")
    if out.is_dir():
        raise AuditorError(f"--to {str(out)!r} is a folder. Fix: give a file name, e.g. {out / 'export.parquet'}.")
    if not out.parent.is_dir():
        raise AuditorError(f"--to {str(out)!r}: the folder {str(out.parent)!r} does not exist. Fix: create it first.")
    if out.exists() and not overwrite:
        raise AuditorError(f"--to {str(out)!r} exists. Fix: pass --force to overwrite it, or choose another name.")
    if table is not None:
        names = _relations(store)
        if table not in names:
            raise AuditorError(f"no table or view {table!r} in the store. Fix: use one of {', '.join(names)}, or "
                               "--query SQL.")
        inner = f'SELECT * FROM "{table}"'
    else:
        if len(duckdb.extract_statements(query)) != 1:
            raise AuditorError("--query must be one SELECT statement.")
        check_read_only(query)
        inner = query.strip().rstrip(";")
    target = str(out).replace("'", "''")
    try:
        rows = store.con.execute(f"COPY ({inner}) TO '{target}' {fmt}").fetchall()
    except duckdb.Error as e:
        raise AuditorError(f"export failed: {str(e).splitlines()[0]}") from None
    return int(rows[0][0]) if rows and rows[0] else 0
