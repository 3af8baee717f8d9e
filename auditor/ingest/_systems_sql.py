"""A signals file's optional ``system_id`` column: the system under test of each conversation, written to
``conversations.system_id`` in the same transaction as the ratings (a conversation attribute, like ``task_id``).

A conversation with two systems in the file, or with another system already stored (unless ``--replace``), is an
error naming the row; a conversation that has none stored gets the file's.
"""

from __future__ import annotations

import uuid

from ..errors import IngestError
from ._read import short_text
from ._source import Source
from ._sqlcols import Col
from .signals import SignalOptions

__all__ = ["source_systems", "apply_systems"]


def _column(src: Source, opts: SignalOptions, canonical: str) -> str | None:
    mapped = [s for s, d in opts.mapping.items() if d == canonical]
    if mapped:
        return mapped[0]
    return canonical if canonical in src.types and canonical not in opts.mapping else None


def source_systems(con, src: Source, opts: SignalOptions, *, replace: bool) -> str | None:
    """A temp table (cid, sys, _row: each conversation's system and first row) from the file, or None when it has no
    system_id column. Raises :class:`IngestError` for a conflict."""
    sc, cc = _column(src, opts, "system_id"), _column(src, opts, "conversation_id")
    if sc is None or cc is None:
        return None
    s, c = Col(sc, src.types[sc]).text(), Col(cc, src.types[cc]).text()
    t = f"_sys_{uuid.uuid4().hex[:8]}"
    con.execute(f"CREATE TEMP TABLE {t} AS SELECT nfc_normalize({c}) AS cid, {s} AS sys, _row FROM {src.name}")
    try:
        bad = con.execute(
            f"WITH f AS (SELECT cid, arg_min(sys, _row) AS s0, min(_row) AS r0 FROM {t} WHERE cid IS NOT NULL AND "
            f"sys IS NOT NULL GROUP BY cid) SELECT t._row, t.cid, t.sys, f.s0, f.r0 FROM {t} t JOIN f USING (cid) "
            f"WHERE t.sys <> f.s0 ORDER BY t._row LIMIT 1").fetchall()
        if bad:
            row, cid, sys_, s0, r0 = bad[0]
            raise IngestError(src.path, f"conversation {short_text(cid)!r} has system {short_text(sys_)!r} here but "
                              f"{short_text(s0)!r} at {src.where} {r0}", row=row, field=sc, where=src.where,
                              fix="give each conversation one system_id.")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT cid, arg_min(sys, _row) AS sys, min(_row) AS _row "
                    f"FROM {t} WHERE cid IS NOT NULL AND sys IS NOT NULL GROUP BY cid")
        if not replace:
            clash = con.execute(f"SELECT t._row, t.cid, t.sys, c.system_id FROM {t} t JOIN conversations c ON "
                                f"c.conversation_id = t.cid WHERE c.system_id IS NOT NULL AND c.system_id <> t.sys "
                                f"ORDER BY t._row LIMIT 1").fetchall()
            if clash:
                row, cid, sys_, stored = clash[0]
                raise IngestError(src.path, f"conversation {short_text(cid)!r} is already stored with system "
                                  f"{short_text(stored)!r}, this file says {short_text(sys_)!r}", row=row, field=sc,
                                  where=src.where, fix="pass --replace to overwrite, or correct the file.")
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {t}")
        raise
    return t


def apply_systems(con, table: str, *, replace: bool) -> int:
    """Write the systems (inside the load's transaction); returns how many conversations changed."""
    cond = "c.system_id IS DISTINCT FROM t.sys" if replace else "c.system_id IS NULL"
    n = con.execute(f"SELECT count(*) FROM conversations c JOIN {table} t ON c.conversation_id = t.cid WHERE "
                    f"{cond}").fetchall()[0][0]
    if n:
        con.execute(f"UPDATE conversations c SET system_id = t.sys FROM {table} t WHERE c.conversation_id = t.cid "
                    f"AND {cond}")
    return int(n)
