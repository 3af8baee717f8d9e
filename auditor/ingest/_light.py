"""The light pass over a signals file: its raters and conversations (what the store's raters / conversations
tables get), whether an id is not in NFC or holds an invisible character, and which of a CSV's columns taken as
clean (:attr:`~auditor.ingest._source.Source.assumed`) it shows clean. :mod:`auditor.ingest._signals_sql` runs it
before the insert; the full check recomputes the tables with every row's first occurrence."""

from __future__ import annotations

import uuid

from ._source import Source, edge_whitespace
from .signals import SignalOptions

__all__ = ["AssumedDirty", "TAKEN_CLEAN", "INVISIBLE", "measure_the_rest", "light_aggregates", "aggregates",
           "id_checks"]


class AssumedDirty(Exception):
    """A column of ``Source.assumed`` has a cell that starts or ends in whitespace."""


# columns of a CSV taken as clean (Source.assumed) without a test of every cell, because a cell to trim cannot
# slip through: ids, kinds and tasks are tested as the distinct values of the light pass; a dimension must equal a
# rubric's dimension name, which has no whitespace, or the row fails; a row whose label cell has edge whitespace is
# held back from the unchecked insert (its _code is "held_back"). check_prepared tests every cell before it names a
# fault, so that this code is never shown: it prepares again with the label trimmed, or finds no such label.
TAKEN_CLEAN = ("conversation_id", "rater_id", "rater_kind", "task_id", "dimension", "label")


def measure_the_rest(con, src: Source, opts: SignalOptions) -> dict[str, str]:
    """Test every cell of the assumed-clean columns not in :data:`TAKEN_CLEAN`; returns the others, by canonical
    name -> file column."""
    origin = {opts.mapping.get(c, c): c for c in src.types}
    shown = {} if opts.wide else {n: origin[n] for n in TAKEN_CLEAN if n in origin and not (
        (n == "rater_id" and opts.rater_id is not None) or (n == "rater_kind" and opts.rater_kind is not None))}
    src.measure(con, [c for c in src.types if c not in shown.values()])
    return {n: c for n, c in shown.items() if c in src.assumed}


def _fresh(con, prep) -> None:
    """Drop the raters / conversations tables of ``prep`` and make sure ``prep.close`` drops the new ones."""
    for t in (prep.raters, prep.convs):
        con.execute(f"DROP TABLE IF EXISTS {t}")
        if f"DROP TABLE IF EXISTS {t}" not in prep.drops:
            prep.drops.append(f"DROP TABLE IF EXISTS {t}")


def aggregates(con, prep, rel: str, where: str) -> None:
    """The file's raters (``rid``; ``nk``: 1 or 2 kinds; ``k0``: the first kind; ``r0``: its row) and conversations
    (``cid``; ``nt``; ``t0``: the first task; ``tr0``: its row) among the rows of ``rel`` where ``where``, as the
    temporary tables ``prep.raters`` and ``prep.convs``."""
    _fresh(con, prep)
    # nk / nt: 1 or 2 distinct values (min <> max is several times cheaper than count(DISTINCT))
    con.execute(f"CREATE TEMP TABLE {prep.raters} AS SELECT rid, CASE WHEN min(kind) <> max(kind) THEN 2 ELSE 1 END "
                f"AS nk, arg_min(kind, _row) AS k0, min(_row) AS r0 FROM ({rel}) WHERE {where} GROUP BY rid")
    con.execute(f"CREATE TEMP TABLE {prep.convs} AS SELECT cid, CASE WHEN min(task) <> max(task) THEN 2 ELSE 1 END "
                f"AS nt, arg_min(task, _row) FILTER (WHERE task IS NOT NULL) AS t0, "
                f"min(_row) FILTER (WHERE task IS NOT NULL) AS tr0 FROM ({rel}) WHERE {where} GROUP BY cid")


def light_aggregates(con, prep, rel: str, *, edges: bool = True) -> dict[str, bool]:
    """The raters and conversations tables of :func:`aggregates` in one pass over the file (GROUPING SETS) and
    without the first rows, which only a fault's message needs: ``k0`` / ``t0`` are the smallest kind and task, each
    one's only kind or task when ``nk`` / ``nt`` is 1 (any other load takes the full check, whose tables have the
    first ones and their rows); ``r0`` / ``tr0`` are NULL. With ``edges``, returns by column whether one of its
    distinct values (the smallest and largest kind and task) starts or ends in whitespace; else {}."""
    g = f"_sig_g_{uuid.uuid4().hex[:8]}"
    _fresh(con, prep)
    con.execute(f"CREATE TEMP TABLE {g} AS SELECT grouping(rid) = 0 AS by_rater, rid, cid, min(kind) AS kmin, "
                f"max(kind) AS kmax, min(task) AS tmin, max(task) AS tmax FROM ({rel}) GROUP BY GROUPING SETS ((rid), "
                f"(cid))")
    try:
        con.execute(f"CREATE TEMP TABLE {prep.raters} AS SELECT rid, CASE WHEN kmin <> kmax THEN 2 ELSE 1 END AS nk, "
                    f"kmin AS k0, NULL::BIGINT AS r0 FROM {g} WHERE by_rater")
        con.execute(f"CREATE TEMP TABLE {prep.convs} AS SELECT cid, CASE WHEN tmin <> tmax THEN 2 ELSE 1 END AS nt, "
                    f"tmin AS t0, NULL::BIGINT AS tr0 FROM {g} WHERE NOT by_rater")
        if not edges:
            return {}

        def edge(cols, where):
            return " OR ".join(f"coalesce(bool_or({edge_whitespace(c)}) FILTER (WHERE {where}), false)" for c in cols)
        (rid, kind, cid, task), = con.execute(
            f"SELECT {edge(['rid'], 'by_rater')}, {edge(['kmin', 'kmax'], 'by_rater')}, "
            f"{edge(['cid'], 'NOT by_rater')}, {edge(['tmin', 'tmax'], 'NOT by_rater')} FROM {g}").fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {g}")
    return {"rater_id": rid, "rater_kind": kind, "conversation_id": cid, "task_id": task}


# format characters (zero-width space, joiners, BOM, bidi marks) and controls other than tab and line breaks
INVISIBLE = r"[\p{Cf}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"


def id_checks(con, prep) -> tuple[bool, bool]:
    """(some id is not in NFC, some id holds an invisible character), asked of the file's distinct ids only."""
    def q(c: str, t: str) -> str:
        return (f"SELECT coalesce(bool_or(nfc_normalize({c}) <> {c}), false), "
                f"coalesce(bool_or(regexp_matches({c}, '{INVISIBLE}')), false) FROM {t}")

    (a, b), = con.execute(q("rid", prep.raters)).fetchall()
    (c, d), = con.execute(q("cid", prep.convs)).fetchall()
    (e,), = con.execute(f"SELECT coalesce(bool_or(nfc_normalize(t0) <> t0), false) FROM {prep.convs}").fetchall()
    return bool(a or c or e), bool(b or d)
