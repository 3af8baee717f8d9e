"""Every write of ingested data goes through here: one transaction per load, bound parameters, idempotent.

A load is compared with what is stored, key by key:
- same key, same content -> unchanged (nothing written; a load that changes nothing records no batch);
- same key, different content -> an error naming the stored row's batch and the file's row, unless ``replace``;
- new key -> inserted.
Any error rolls the whole load back, so the store's contents are unchanged.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pandas as pd
import pyarrow as pa

from .._text import short_text, sql_str
from ..errors import IngestError
from ..rubric import Rubric
from ._store import Store

__all__ = ["SIGNAL_COLUMNS", "CONVERSATION_COLUMNS", "LoadResult", "register_rubric", "write_signals",
           "write_conversations", "write_prepared", "NeedsCheck", "new_batch_id"]

SIGNAL_KEY = ["conversation_id", "rubric", "dimension", "rater_id", "sample"]
SIGNAL_CONTENT = ["status", "label", "value", "confidence", "probs"]
SIGNAL_COLUMNS = SIGNAL_KEY + ["task_id", "rater_kind", "model", "config_hash", "status", "label", "value",
                               "value_source", "confidence", "probs", "raw", "rationale", "error", "run_id", "_row"]
CONVERSATION_FIELDS = ["task_id", "system_id", "user_kind", "user_id", "human_batch", "messages", "n_turns",
                       "n_chars", "reward", "keep", "metadata"]
CONVERSATION_COLUMNS = ["conversation_id"] + CONVERSATION_FIELDS + ["domain", "_row"]

_ARROW_TYPES = {
    "conversation_id": pa.string(), "rubric": pa.string(), "dimension": pa.string(), "rater_id": pa.string(),
    "sample": pa.int32(), "task_id": pa.string(), "rater_kind": pa.string(), "model": pa.string(),
    "config_hash": pa.string(), "status": pa.string(), "label": pa.string(), "value": pa.float64(),
    "value_source": pa.string(), "confidence": pa.float64(), "probs": pa.string(), "raw": pa.string(),
    "rationale": pa.string(), "error": pa.string(), "run_id": pa.string(), "_row": pa.int64(),
    "user_kind": pa.string(), "user_id": pa.string(), "human_batch": pa.string(), "messages": pa.string(),
    "n_turns": pa.int32(), "n_chars": pa.int64(), "reward": pa.float64(), "keep": pa.bool_(),
    "metadata": pa.string(), "domain": pa.string(), "system_id": pa.string(),
}


@dataclass
class LoadResult:
    """What one load did. ``batch_id`` is None when nothing changed (a repeated load)."""

    source: str
    n_rows: int
    n_inserted: int = 0
    n_replaced: int = 0
    n_unchanged: int = 0
    n_not_answered: int = 0
    n_failed: int = 0
    batch_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def new_batch_id() -> str:
    return datetime.now(timezone.utc).strftime("b%Y%m%d%H%M%S-") + uuid.uuid4().hex[:6]


def _to_arrow(df: pd.DataFrame, columns: list[str]) -> pa.Table:
    arrays = []
    for c in columns:
        col = df[c] if c in df.columns else pd.Series([None] * len(df), dtype=object)
        t = _ARROW_TYPES[c]
        if pa.types.is_string(t):
            col = col.astype(object).where(col.notna(), None)
            arrays.append(pa.array(col.tolist(), type=t))
        else:
            arrays.append(pa.array(col, type=t, from_pandas=True))
    return pa.Table.from_arrays(arrays, names=columns)


def register_rubric(store: Store, rubric: Rubric, source: str | None = None) -> None:
    """Store a rubric (idempotent). A different rubric under a stored name is an error. ``source``: the file it
    came from, recorded the first time one is known."""
    con = store.con
    if source:
        from pathlib import Path

        p = Path(str(source))
        source = storable(str(p.resolve())) if p.suffix and p.exists() else None
    rows = con.execute("SELECT content_hash FROM rubrics WHERE rubric = ?", [rubric.name]).fetchall()
    row = rows[0] if rows else None
    if row:
        if row[0] != rubric.content_hash:
            raise IngestError(rubric.name, f"a different rubric named '{rubric.name}' is already stored "
                              f"(hash {row[0]}, this one {rubric.content_hash})",
                              fix="give the changed rubric a new name (or version it as a new rubric name).")
        if source:
            con.execute("UPDATE rubrics SET source = ? WHERE rubric = ? AND source IS NULL", [source, rubric.name])
        return
    with store.transaction():
        con.execute("INSERT INTO rubrics (rubric, version, description, content_hash, spec, source) VALUES "
                    "(?, ?, ?, ?, ?, ?)", [rubric.name, rubric.version, rubric.description, rubric.content_hash,
                                           json.dumps(rubric.model_dump()), source])
        for i, d in enumerate(rubric.dimensions):
            lo, hi = d.value_range
            con.execute("INSERT INTO dimensions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [rubric.name, d.name, i, d.question, d.level, d.higher_is_better, d.missing_code, lo, hi])
            con.executemany("INSERT INTO options VALUES (?, ?, ?, ?, ?)",
                            [[rubric.name, d.name, j, o.label, o.value] for j, o in enumerate(d.options)])


def storable(s: str | None) -> str | None:
    """Text DuckDB can store: a file name that is not valid UTF-8 (Python keeps its bytes as surrogate escapes) is
    stored with those bytes written as ``\\xff``."""
    if s is None:
        return None
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        try:
            return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _record_batch(store: Store, result: LoadResult, *, kind: str, sha256: str | None, rubric: str | None,
                  options: dict | None) -> None:
    if result.n_inserted == 0 and result.n_replaced == 0:
        result.batch_id = None          # a load that changed nothing records no batch
        return
    result.batch_id = result.batch_id or new_batch_id()
    store.con.execute(
        "INSERT INTO ingest_batches (batch_id, kind, source, sha256, rubric, options, n_rows, n_inserted, "
        "n_replaced, n_unchanged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [result.batch_id, kind, storable(result.source), sha256, rubric, json.dumps(options or {}), result.n_rows,
         result.n_inserted, result.n_replaced, result.n_unchanged])


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "empty"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return repr(v) if isinstance(v, str) else str(v)


def write_signals(store: Store, df: pd.DataFrame, *, source: str, kind: str = "signals", replace: bool = False,
                  sha256: str | None = None, rubric: str | None = None, options: dict | None = None,
                  batch_id: str | None = None) -> LoadResult:
    """Write normalised signals (a DataFrame with columns :data:`SIGNAL_COLUMNS`) in one transaction."""
    result = LoadResult(source=source, n_rows=len(df), batch_id=batch_id)
    result.n_not_answered = int((df["status"] == "not_answered").sum()) if len(df) else 0
    table = _to_arrow(df, SIGNAL_COLUMNS)
    con = store.con
    tag = uuid.uuid4().hex[:8]
    inc, rat, conv = f"_incoming_{tag}", f"_inc_raters_{tag}", f"_inc_convs_{tag}"
    with store.transaction():
        con.register(inc, table)
        try:
            con.execute(f"CREATE TEMP TABLE {rat} AS SELECT rater_id AS rid, any_value(rater_kind) AS k0, "
                        f"min(_row) AS r0, any_value(model) AS model, any_value(config_hash) AS config_hash "
                        f"FROM {inc} GROUP BY rater_id")
            con.execute(f"CREATE TEMP TABLE {conv} AS SELECT conversation_id AS cid, any_value(task_id) AS t0, "
                        f"min(_row) FILTER (WHERE task_id IS NOT NULL) AS tr0 FROM {inc} GROUP BY conversation_id")
            _write_incoming(store, result, inc, rat, conv, where=df.attrs.get("where", "row"), replace=replace,
                            kind=kind, sha256=sha256, rubric=rubric, options=options)
        finally:
            con.unregister(inc)
            con.execute(f"DROP TABLE IF EXISTS {rat}")
            con.execute(f"DROP TABLE IF EXISTS {conv}")
    return result


class NeedsCheck(Exception):
    """The fast write met something only the full check can word (a fault, a duplicate, a stored conflict)."""


def write_prepared(store: Store, prep, *, source: str, rubric: str, model: str | None, replace: bool = False,
                   sha256: str | None = None, options: dict | None = None, kind: str = "signals") -> LoadResult:
    """Write signals prepared in the store's connection (:func:`auditor.ingest.prepare_signals`).

    Unchecked (``prep.validated`` false), the rows are inserted in one pass and checked afterwards inside the
    transaction; anything unusual raises :class:`NeedsCheck` (the caller rolls back, runs the full check, which
    names the faults, and writes again). Checked, the rows are compared key by key with the stored ones."""
    result = LoadResult(source=source, n_rows=prep.n_expected)
    con = store.con
    tag = uuid.uuid4().hex[:8]
    inc, rat = f"_incoming_{tag}", f"_inc_raters_{tag}"
    con.execute(f"CREATE TEMP VIEW {inc} AS SELECT cid AS conversation_id, {sql_str(rubric)} AS rubric, "
                f"dim AS dimension, rid AS rater_id, sample, task AS task_id, kind AS rater_kind, "
                f"status, label, value, value_source, conf AS confidence, probs, _raw AS raw, "
                f"_rationale AS rationale, _error AS error, NULL::VARCHAR AS run_id, _row "
                f"FROM {prep.view}")
    con.execute(f"CREATE TEMP VIEW {rat} AS SELECT rid, k0, r0, {sql_str(model)} AS model, "
                f"NULL::VARCHAR AS config_hash FROM {prep.raters}")
    try:
        with store.transaction():
            if prep.validated:
                result.n_not_answered, result.n_failed = prep.n_not_answered, prep.n_failed
                _write_incoming(store, result, inc, rat, prep.convs, where=prep.where, replace=replace, kind=kind,
                                sha256=sha256, rubric=rubric, options=options)
            else:
                _write_unchecked(store, result, inc, rat, prep, kind=kind, sha256=sha256, rubric=rubric,
                                 options=options)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {rat}")
        con.execute(f"DROP VIEW IF EXISTS {inc}")
    return result


def _write_unchecked(store: Store, result: LoadResult, inc: str, rat: str, prep, *, kind: str,
                     sha256: str | None, rubric: str, options: dict | None) -> None:
    con = store.con
    if prep.suspect or _stored_rater_conflict(con, rat) or _stored_task_conflict(con, prep.convs):
        raise NeedsCheck
    if con.execute(f"SELECT EXISTS (SELECT 1 FROM signals s WHERE s.rater_id IN (SELECT rid FROM {rat}))"
                   ).fetchall()[0][0]:
        raise NeedsCheck                 # stored signals of these raters: compare key by key
    result.batch_id = new_batch_id()
    # a file of plain ratings goes to signal_rows_lean (migration 009: DuckDB pays for every column it appends, empty
    # or not), its rubric and batch id once to signal_loads (migration 010); the new rows are read back from that
    # one table. A table without rows (the first bulk load) holds only this file's rows afterwards: the checks below
    # then read every row instead of filtering on the load
    if prep.lean:
        table, tag = "signal_rows_lean", "load_key = ?"
        (mark,), = con.execute("SELECT coalesce(max(load_key), 0) + 1 FROM signal_loads").fetchall()
        con.execute("INSERT INTO signal_loads (load_key, rubric, batch_id) VALUES (?, ?, ?)",
                    [mark, rubric, result.batch_id])
        cols = "conversation_id, dimension, rater_id, sample, status, label, value, value_source, load_key"
        picks, args_in = "cid, dim, rid, sample, status, label, value, value_source, ?", [mark]
    else:
        table, tag, mark = "signal_rows", "batch_id = ?", result.batch_id
        cols = ("conversation_id, rubric, dimension, rater_id, sample, status, label, value, value_source, "
                "confidence, probs, raw, rationale, error, run_id, batch_id")
        picks = ("cid, ?, dim, rid, sample, status, label, value, value_source, conf, probs::JSON, _raw, _rationale, "
                 "_error, NULL, ?")
        args_in = [rubric, result.batch_id]
    mine, args = ("true", []) if _empty(con, table) else (tag, [mark])
    # the store's row order means nothing (every read orders), and not keeping it makes the insert ~6% cheaper
    con.execute("SET preserve_insertion_order = false")
    try:
        n = con.execute(f"INSERT INTO {table} ({cols}) SELECT {picks} FROM {prep.view} WHERE _code IS NULL",
                        args_in).fetchall()[0][0]
    finally:
        con.execute("RESET preserve_insertion_order")
    if n != prep.n_expected:
        raise NeedsCheck                 # some rows failed a check
    # duplicates: sort the new rows by a hash of their key and compare neighbours (no stored signal of these
    # raters exists, checked above, so a duplicate can only be within the file)
    n_dup = con.execute(
        "SELECT count(*) FROM (SELECT h = lag(h) OVER (ORDER BY h) AS d FROM (SELECT hash(conversation_id, "
        f"dimension, rater_id, sample) AS h FROM {table} WHERE {mine})) WHERE d", args
    ).fetchall()[0][0]
    if n_dup:
        raise NeedsCheck
    n_na, n_failed = con.execute("SELECT count(*) FILTER (WHERE status = 'not_answered'), count(*) FILTER (WHERE "
                                 f"status = 'failed') FROM {table} WHERE {mine}", args).fetchall()[0]
    result.n_inserted, result.n_not_answered, result.n_failed = n, n_na, n_failed
    _insert_raters_conversations(con, rat, prep.convs, result.batch_id)
    _record_batch(store, result, kind=kind, sha256=sha256, rubric=rubric, options=options)


_SETVAL: dict[str, bool] = {}


def _has_setval(con) -> bool:
    """Whether this DuckDB has setval (asked once per DuckDB version: the catalog query takes ~40 ms)."""
    if duckdb.__version__ not in _SETVAL:
        _SETVAL[duckdb.__version__] = bool(con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'setval'").fetchall()[0][0])
    return _SETVAL[duckdb.__version__]


def _empty(con, table: str) -> bool:
    return not con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchall()[0][0]


def _stored_rater_conflict(con, rat: str) -> bool:
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {rat} i JOIN raters r ON r.rater_id = i.rid "
                            f"WHERE i.k0 <> r.kind)").fetchall()[0][0])


def _stored_task_conflict(con, conv: str) -> bool:
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {conv} i JOIN conversations c ON "
                            f"c.conversation_id = i.cid WHERE i.t0 IS NOT NULL AND c.task_id IS NOT NULL AND "
                            f"i.t0 <> c.task_id)").fetchall()[0][0])


def _insert_raters_conversations(con, rat: str, conv: str, batch_id: str) -> None:
    con.execute(f"INSERT INTO raters (rater_id, kind, model, config_hash) SELECT rid, k0, model, config_hash "
                f"FROM {rat} i WHERE NOT EXISTS (SELECT 1 FROM raters r WHERE r.rater_id = i.rid)")
    new_only = "" if _empty(con, "conversations") else \
        "WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.conversation_id = i.cid)"
    # conv_key: one block of the sequence for all new conversations (nextval per row runs on one thread: ~0.5 s per
    # million conversations)
    n_new = con.execute(f"SELECT count(*) FROM {conv} i {new_only}").fetchall()[0][0]
    if n_new:
        if n_new > 1 and _has_setval(con):
            (k0,), = con.execute("SELECT nextval('conversation_key_seq')").fetchall()
            con.execute("SELECT setval('conversation_key_seq', ?)", [k0 + n_new - 1])
            con.execute(f"INSERT INTO conversations (conversation_id, conv_key, task_id, batch_id) SELECT cid, "
                        f"? + row_number() OVER () - 1, t0, ? FROM {conv} i {new_only}", [k0, batch_id])
        else:                  # one conversation, or a DuckDB without setval: nextval per row
            con.execute(f"INSERT INTO conversations (conversation_id, task_id, batch_id) SELECT cid, t0, ? "
                        f"FROM {conv} i {new_only}", [batch_id])
    con.execute(f"UPDATE conversations c SET task_id = i.t0 FROM {conv} i WHERE c.conversation_id = i.cid "
                f"AND i.t0 IS NOT NULL AND c.task_id IS NULL")
    con.execute(f"INSERT INTO tasks (task_id) SELECT DISTINCT t0 FROM {conv} i WHERE t0 IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM tasks t WHERE t.task_id = i.t0)")


def _write_incoming(store: Store, result: LoadResult, inc: str, rat: str, conv: str, *, where: str, replace: bool,
                    kind: str, sha256: str | None, rubric: str | None, options: dict | None) -> None:
    """The signals of relation ``inc`` into the store; ``rat`` (rid, k0, r0, model, config_hash) and ``conv``
    (cid, t0, tr0) are its raters and conversations. Runs inside the caller's transaction."""
    con = store.con
    _check_raters(con, rat, result.source, where)
    _check_conversation_tasks(con, conv, result.source, where)
    key = " AND ".join(f"s.{k} = i.{k}" for k in SIGNAL_KEY)
    same = " AND ".join(f"s.{c} IS NOT DISTINCT FROM i.{c}" for c in ["status", "label", "confidence"])
    # an expected value is a sum over the stored probabilities: the same probabilities give the same value up to
    # the order of summation (numpy's BLAS and DuckDB differ in the last bit), so compare it to 1e-12
    same += (" AND (s.value IS NOT DISTINCT FROM i.value OR (s.value_source = 'expected' AND "
             "abs(s.value - i.value) <= 1e-12 * greatest(1, abs(s.value))))")
    same += " AND s.probs::VARCHAR IS NOT DISTINCT FROM i.probs"
    # a store that holds no signal of these raters cannot conflict: skip the joins (a fresh store's bulk load)
    overlap = con.execute(f"SELECT EXISTS (SELECT 1 FROM signals s WHERE s.rater_id IN (SELECT rid FROM {rat}))"
                          ).fetchall()[0][0]
    n_conflicts = n_same = 0
    if overlap:
        n_conflicts, n_same = con.execute(
            f"SELECT count(*) FILTER (WHERE NOT ({same})), count(*) FILTER (WHERE {same}) FROM {inc} i "
            f"JOIN signals s ON {key}").fetchall()[0]
    if n_conflicts and not replace:
        row, cid, dim, rater, sample, sl, sv, ss, il, iv, istat, sb, ssrc = con.execute(
            f"SELECT i._row, i.conversation_id, i.dimension, i.rater_id, i.sample, s.label, s.value, s.status,"
            f" i.label, i.value, i.status, s.batch_id, b.source FROM {inc} i JOIN signals s ON {key} "
            f"LEFT JOIN ingest_batches b ON b.batch_id = s.batch_id WHERE NOT ({same}) ORDER BY i._row "
            f"LIMIT 1").fetchall()[0]
        stored = f"{ss} label {_fmt(sl)} value {_fmt(sv)}"
        incoming = f"{istat} label {_fmt(il)} value {_fmt(iv)}"
        cid, rater = short_text(cid), short_text(rater)
        raise IngestError(result.source, f"conflicts with a stored signal (conversation {cid!r}, dimension "
                          f"{dim!r}, rater {rater!r}, sample {sample}) loaded from "
                          f"{ssrc or sb or 'an earlier run'}: stored {stored}, this file {incoming} "
                          f"({n_conflicts} conflicting row(s) in all)", row=row, where=where, field="value",
                          fix="pass --replace to overwrite the stored values, or correct the file.")
    result.batch_id = result.batch_id or new_batch_id()
    if n_conflicts:
        # compared through the view (either table may hold the stored signal), deleted from the table that has it
        keys = ", ".join(f"i.{k}" for k in SIGNAL_KEY)
        store.delete_signals(key, using=f"USING (SELECT {keys} FROM {inc} i JOIN signals s ON {key} "
                                        f"WHERE NOT ({same})) i")
    new_only = f"WHERE NOT EXISTS (SELECT 1 FROM signals s WHERE {key})" if overlap else ""
    con.execute(
        f"INSERT INTO signal_rows (conversation_id, rubric, dimension, rater_id, sample, status, label, value, "
        f"value_source, confidence, probs, raw, rationale, error, run_id, batch_id) "
        f"SELECT conversation_id, rubric, dimension, rater_id, sample, status, label, value, value_source, "
        f"confidence, probs::JSON, raw, rationale, error, run_id, ? FROM {inc} i {new_only}", [result.batch_id])
    result.n_replaced = n_conflicts
    result.n_unchanged = n_same
    result.n_inserted = result.n_rows - n_same - n_conflicts
    _insert_raters_conversations(con, rat, conv, result.batch_id)
    _record_batch(store, result, kind=kind, sha256=sha256, rubric=rubric, options=options)


def _check_raters(con, rat: str, source: str, where: str = "row") -> None:
    bad = con.execute(f"SELECT i.r0, i.rid, i.k0, r.kind FROM {rat} i JOIN raters r ON r.rater_id = i.rid "
                      f"WHERE i.k0 <> r.kind ORDER BY 1 LIMIT 1").fetchall()
    if bad:
        row, rater, new, old = bad[0]
        rater = short_text(rater)
        raise IngestError(source, f"rater {rater!r} is stored as kind '{old}', this file says '{new}'", row=row,
                          where=where, field="rater_kind",
                          fix=f"use --rater-kind {old}, or give this rater another id.")


def _check_conversation_tasks(con, conv: str, source: str, where: str = "row") -> None:
    bad = con.execute(f"SELECT i.tr0, i.cid, i.t0, c.task_id FROM {conv} i JOIN conversations c ON "
                      f"c.conversation_id = i.cid WHERE i.t0 IS NOT NULL AND c.task_id IS NOT NULL AND "
                      f"i.t0 <> c.task_id ORDER BY 1 LIMIT 1").fetchall()
    if bad:
        row, cid, new, old = (bad[0][0], *map(short_text, bad[0][1:]))
        raise IngestError(source, f"conversation {cid!r} is stored with task {old!r}, this file says {new!r}",
                          row=row, where=where, field="task_id",
                          fix="correct the task_id, or use another conversation id.")


def write_conversations(store: Store, df: pd.DataFrame, *, source: str, kind: str = "conversations",
                        replace: bool = False, sha256: str | None = None, options: dict | None = None) -> LoadResult:
    """Write normalised conversations (columns :data:`CONVERSATION_COLUMNS`) in one transaction.

    A stored conversation whose fields are empty (created by a signals load) is filled in; a stored non-empty
    field that differs is a conflict unless ``replace``.
    """
    result = LoadResult(source=source, n_rows=len(df))
    table = _to_arrow(df, CONVERSATION_COLUMNS)
    con = store.con
    with store.transaction():
        con.register("_incoming", table)
        try:
            def cmp(f):
                s, i = (f"c.{f}::VARCHAR", f"i.{f}") if f in ("messages", "metadata") else (f"c.{f}", f"i.{f}")
                return s, i
            differs = " OR ".join(f"({s} IS NOT NULL AND {i} IS NOT NULL AND {s} <> {i})"
                                  for s, i in map(cmp, CONVERSATION_FIELDS))
            fills = " OR ".join(f"({s} IS NULL AND {i} IS NOT NULL)" for s, i in map(cmp, CONVERSATION_FIELDS))
            conflict = con.execute(
                f"SELECT i._row, i.conversation_id FROM _incoming i JOIN conversations c USING (conversation_id) "
                f"WHERE {differs} ORDER BY i._row LIMIT 1").fetchall()
            n_conflicts = con.execute(f"SELECT count(*) FROM _incoming i JOIN conversations c USING "
                                      f"(conversation_id) WHERE {differs}").fetchall()[0][0]
            if conflict and not replace:
                row, cid = conflict[0]
                stored = con.execute("SELECT * FROM conversations WHERE conversation_id = ?", [cid]).fetchdf().iloc[0]
                inc = df[df["conversation_id"] == cid].iloc[0]
                fld = next(f for f in CONVERSATION_FIELDS if f in df.columns and pd.notna(stored[f])
                           and pd.notna(inc.get(f)) and str(stored[f]) != str(inc[f]))
                raise IngestError(source, f"conversation {short_text(cid)!r} is already stored with a different {fld} "
                                  f"(stored {str(stored[fld])[:60]!r}, this file {str(inc[fld])[:60]!r})",
                                  row=row, where=df.attrs.get("where", "row"), field=fld,
                                  fix="pass --replace to overwrite, or correct the file.")
            n_fill = con.execute(f"SELECT count(*) FROM _incoming i JOIN conversations c USING (conversation_id) "
                                 f"WHERE NOT ({differs}) AND ({fills})").fetchall()[0][0]
            n_existing = con.execute("SELECT count(*) FROM _incoming i JOIN conversations c USING "
                                     "(conversation_id)").fetchall()[0][0]
            result.batch_id = new_batch_id()
            sets = ", ".join(
                (f"{f} = i.{f}" if replace else f"{f} = coalesce(c.{f}, i.{f})") if f not in ("messages", "metadata")
                else (f"{f} = i.{f}::JSON" if replace else f"{f} = coalesce(c.{f}, i.{f}::JSON)")
                for f in CONVERSATION_FIELDS)
            con.execute(f"UPDATE conversations c SET {sets}, batch_id = ? FROM _incoming i WHERE "
                        f"c.conversation_id = i.conversation_id AND (({differs}) OR ({fills}))", [result.batch_id])
            con.execute("INSERT INTO conversations (conversation_id, task_id, system_id, user_kind, user_id, "
                        "human_batch, messages, n_turns, n_chars, reward, keep, metadata, batch_id) SELECT "
                        "conversation_id, task_id, system_id, user_kind, user_id, human_batch, messages::JSON, n_turns,"
                        " n_chars, reward, keep, "
                        "metadata::JSON, ? FROM _incoming i WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE "
                        "c.conversation_id = i.conversation_id)", [result.batch_id])
            con.execute("INSERT INTO tasks (task_id, domain) SELECT task_id, any_value(domain) FROM _incoming i "
                        "WHERE task_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.task_id = i.task_id)"
                        " GROUP BY task_id")
            result.n_inserted = len(df) - n_existing + n_fill
            result.n_replaced = n_conflicts if replace else 0
            result.n_unchanged = n_existing - n_fill - result.n_replaced
            _record_batch(store, result, kind=kind, sha256=sha256, rubric=None, options=options)
        finally:
            con.unregister("_incoming")
    return result
