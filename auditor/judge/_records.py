"""Store reads and writes for judge runs: configs, raters, run records and judge signals.

Idempotency and resume live here. The unit of work is an *item*: one conversation x one sample index. A judge
rater's id is ``name@hash8`` and is tied to exactly one config hash, so "stored for this config" is "stored for
this rater". :func:`plan_items` selects conversations, crosses them with the sample indices and removes every item
that already has its signals stored as answers (``ok`` or ``not_answered``): those are never requested again.
Items whose stored signals are ``failed`` are planned again and, when they finish, :func:`write_results` replaces
the failed rows in the same transaction as the new ones. Each call of :func:`write_results` is one committed
transaction, so whatever has been written survives a crash; a run killed mid-way loses only requests in flight
(and replies that arrived in the writer's last commit interval). The run's counters (items, tokens, cost) are
written in the same transaction as the signals they count, and its item counts are recounted from the stored
signals when it is closed (:func:`finish_run`, or :func:`start_run` for a run a killed process left open), so a
run's figures are those of what it stored.

An item's raw reply is stored once, on the row of its first dimension (the rubric's order); its other rows hold
NULL in ``raw`` (one reply, not one copy per dimension). Readers that show raw text take it per
(conversation, rater, sample).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import AuditorError
from .._redact import safe_url
from ..store import Store
from ..store._writes import register_rubric

if TYPE_CHECKING:  # pragma: no cover
    from ._call import ItemResult
    from ._config import Judge

__all__ = ["PlannedItem", "Plan", "save_judge", "check_where", "plan_items", "start_run", "write_results",
           "finish_run", "list_runs", "get_run", "safe_url", "RUN_STATUSES"]

RUN_STATUSES = ("running", "submitted", "finished", "interrupted", "failed")   # submitted: waiting in batches
_SIGNAL_COLS = ["conversation_id", "rubric", "dimension", "rater_id", "sample", "status", "label", "value",
                "value_source", "confidence", "raw", "rationale", "error", "run_id"]
_SIGNAL_SCHEMA = pa.schema([
    ("conversation_id", pa.string()), ("rubric", pa.string()), ("dimension", pa.string()),
    ("rater_id", pa.string()), ("sample", pa.int32()), ("status", pa.string()), ("label", pa.string()),
    ("value", pa.float64()), ("value_source", pa.string()), ("confidence", pa.float64()), ("raw", pa.string()),
    ("rationale", pa.string()), ("error", pa.string()), ("run_id", pa.string()),
])
CONVERSATION_COLUMNS = ("conversation_id, task_id, system_id, user_kind, user_id, human_batch, n_turns, n_chars, "
                        "reward, keep")


@dataclasses.dataclass
class PlannedItem:
    conversation: dict            # id, task_id, user_kind, reward, n_turns, messages (JSON text), metadata (JSON)
    sample: int
    replaces_failure: bool = False

    @property
    def conversation_id(self) -> str:
        return self.conversation["id"]


@dataclasses.dataclass
class Plan:
    """What a run will do. ``items`` yields the ``n_todo`` items to request in order, reading their conversations
    page by page (at most ``PAGE_ITEMS`` items' messages in memory); ``n_planned`` = selected items, ``n_cached``
    already stored. Iterate ``items`` once, while the store is open; :meth:`close` releases its read cursor (also
    done when it is exhausted).
    """

    items: Iterator[PlannedItem]
    n_conversations: int
    n_planned: int
    n_cached: int
    n_retrying: int
    n_without_messages: int
    n_todo: int = 0
    n_in_batches: int = 0         # selected items waiting in a provider batch (not requested again until collected)

    def close(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()


# items per page read while a run streams its plan: the messages of this many items are in memory at once
PAGE_ITEMS = 512


def save_judge(store: Store, judge: "Judge") -> None:
    """Store the judge's config (by hash), its rubric and its rater (idempotent)."""
    con = store.con
    with store.transaction():
        register_rubric(store, judge.rubric)
        if not con.execute("SELECT 1 FROM judge_configs WHERE config_hash = ?", [judge.config_hash]).fetchall():
            spec = judge.config.public_spec()
            spec["base_url"] = safe_url(judge.base_url)
            con.execute("INSERT INTO judge_configs (config_hash, name, model, base_url, rubric, role, spec, prompt) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [judge.config_hash, judge.name, judge.config.model, safe_url(judge.base_url),
                         judge.rubric.name, judge.role, json.dumps(spec), judge.prompt_text])
        row = con.execute("SELECT kind, config_hash FROM raters WHERE rater_id = ?", [judge.rater_id]).fetchall()
        if row:
            kind, h = row[0]
            if kind != judge.rater_kind or (h is not None and h != judge.config_hash):
                raise AuditorError(f"rater {judge.rater_id!r} is already stored as a {kind} with config hash {h}; "
                                   f"this config is a {judge.rater_kind} with hash {judge.config_hash}. Fix: rename "
                                   "the judge (its `name` field).")
        else:
            con.execute("INSERT INTO raters (rater_id, kind, model, config_hash, metadata) VALUES (?, ?, ?, ?, ?)",
                        [judge.rater_id, judge.rater_kind, judge.config.model, judge.config_hash,
                         json.dumps({"name": judge.name, "role": judge.role, "rubric": judge.rubric.name})])


def check_where(where: str | None) -> str:
    """A ``--where`` filter checked to be one SQL expression over ``conversations`` (returns the SQL to AND)."""
    if where is None or not where.strip():
        return "TRUE"
    probe = f"SELECT conversation_id FROM conversations WHERE ({where})"
    try:
        statements = duckdb.extract_statements(probe)
    except duckdb.Error as e:
        raise AuditorError(f"--where {where!r}: {str(e).splitlines()[0]}. Fix: give a SQL condition over the "
                           "conversations table, e.g. --where \"task_id = 'T1' AND n_turns > 4\".") from None
    if len(statements) != 1 or statements[0].type.name != "SELECT" or ";" in where:
        raise AuditorError(f"--where {where!r}: must be one SQL condition (no ';', no statements). Fix: e.g. "
                           "--where \"user_kind = 'human'\".")
    return f"({where})"


def plan_items(store: Store, judge: "Judge", *, samples: int, where: str | None = None,
               limit: int | None = None) -> Plan:
    """Select conversations (with messages, matching ``where``, first ``limit`` in load order), cross them with
    sample indices ``0..samples-1``, and leave out every item already stored as answers for this judge, and
    every item waiting in one of its provider batches (``n_in_batches``: asked once, collected by
    :func:`auditor.judge._batch.collect_batches`).

    Only the items' keys are read here (13 bytes an item); their messages are read a page at a time as ``items`` is
    iterated, through a cursor of its own (the run's writer uses the store's connection on its thread meanwhile).
    """
    cond = check_where(where)
    if limit is not None and limit < 0:
        raise AuditorError(f"--limit {limit}: must be >= 0")
    con = store.con
    lim = "LIMIT ?" if limit is not None else ""
    params: list[Any] = [limit] if limit is not None else []
    try:
        n_nomsg = con.execute(f"SELECT count(*) FROM conversations WHERE messages IS NULL AND {cond}").fetchall()[0][0]
        sel = (f"SELECT conversation_id, conv_key FROM conversations WHERE messages IS NOT NULL AND {cond} "
               f"ORDER BY conv_key {lim}")
        n_conv = con.execute(f"SELECT count(*) FROM ({sel})", params).fetchall()[0][0]
        todo = con.execute(
            f"WITH sel AS ({sel}), "
            "smp AS (SELECT range::INTEGER AS sample FROM range(?)), "
            "st AS (SELECT conversation_id, sample, bool_and(status <> 'failed') AS answered FROM signals "
            "WHERE rater_id = ? GROUP BY conversation_id, sample), "
            f"pend AS ({PENDING_SQL}) "
            "SELECT sel.conv_key AS k, smp.sample AS s, coalesce(NOT st.answered, FALSE) AS retry, "
            "pend.sample IS NOT NULL AS in_batch "
            "FROM sel CROSS JOIN smp LEFT JOIN st ON st.conversation_id = sel.conversation_id "
            "AND st.sample = smp.sample LEFT JOIN pend ON pend.conversation_id = sel.conversation_id "
            "AND pend.sample = smp.sample WHERE st.answered IS NOT TRUE ORDER BY sel.conv_key, smp.sample",
            params + [samples, judge.rater_id, judge.config_hash]).fetchnumpy()
    except duckdb.Error as e:
        raise AuditorError(f"--where {where!r}: {str(e).splitlines()[0]}. Fix: use columns of the conversations "
                           f"table ({CONVERSATION_COLUMNS}).") from None
    free = ~np.asarray(todo["in_batch"], dtype=bool)
    keys = np.asarray(todo["k"], dtype=np.int64)[free]
    smp = np.asarray(todo["s"], dtype=np.int32)[free]
    retry = np.asarray(todo["retry"], dtype=bool)[free]
    n_in_batches = int(free.size - free.sum())
    n_planned = int(n_conv) * max(int(samples), 0)
    return Plan(items=_stream_items(con.cursor(), keys, smp, retry) if keys.size else iter(()),
                n_conversations=int(n_conv), n_planned=n_planned,
                n_cached=n_planned - int(keys.size) - n_in_batches, n_retrying=int(retry.sum()),
                n_without_messages=n_nomsg, n_todo=int(keys.size), n_in_batches=n_in_batches)


# items of this config (parameter: its hash) waiting in a provider batch that has not been collected
PENDING_SQL = ("SELECT DISTINCT i.conversation_id, i.sample FROM judge_batch_items i JOIN judge_batches b "
               "USING (submission_id) WHERE b.config_hash = ? AND b.state <> 'collected' AND i.outcome IS NULL")

_PAGE_SQL = ("SELECT conv_key, conversation_id, task_id, user_kind, reward, n_turns, messages::VARCHAR, "
             "metadata::VARCHAR FROM conversations WHERE conv_key BETWEEN ? AND ? AND list_contains(?, conv_key)")


def _stream_items(cur, keys: np.ndarray, samples: np.ndarray, retry: np.ndarray) -> Iterator[PlannedItem]:
    """The planned items in order, their conversations read ``PAGE_ITEMS`` items at a time through ``cur``
    (a range on ``conv_key`` lets DuckDB skip the rest of the table)."""
    try:
        for i in range(0, keys.size, PAGE_ITEMS):
            k, s, r = keys[i:i + PAGE_ITEMS], samples[i:i + PAGE_ITEMS], retry[i:i + PAGE_ITEMS]
            uk = np.unique(k)
            rows = {row[0]: row for row in cur.execute(_PAGE_SQL, [int(uk[0]), int(uk[-1]), uk.tolist()]).fetchall()}
            for key, sample, failed_before in zip(k.tolist(), s.tolist(), r.tolist()):
                _, cid, task, ukind, reward, n_turns, msgs, meta = rows[key]
                yield PlannedItem({"id": cid, "task_id": task, "user_kind": ukind, "reward": reward,
                                   "n_turns": n_turns, "messages": msgs, "metadata": meta}, sample, failed_before)
    finally:
        cur.close()


def _new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("r%Y%m%d%H%M%S-") + uuid.uuid4().hex[:6]


def start_run(store: Store, judge: "Judge", plan: Plan, *, metadata: dict | None = None) -> str:
    """Record a new run (status ``running``). Runs of this config left ``running`` by a killed process become
    ``interrupted``: the store's file lock means no other process can still be running them."""
    run_id = _new_run_id()
    con = store.con
    meta = {"name": judge.name, "model": judge.config.model, "role": judge.role, "rubric": judge.rubric.name,
            "base_url": safe_url(judge.base_url), "samples": judge.config.samples, "unit": "conversation x sample",
            "n_conversations": plan.n_conversations, "n_retrying": plan.n_retrying,
            "n_without_messages": plan.n_without_messages, **(metadata or {})}
    with store.transaction():
        stale = [r for (r,) in con.execute("SELECT run_id FROM runs WHERE config_hash = ? AND status = 'running'",
                                           [judge.config_hash]).fetchall()]
        for rid in stale:
            _recount(store, rid)
        con.execute("UPDATE runs SET status = 'interrupted', metadata = json_merge_patch(coalesce(metadata, '{}'), "
                    "'{\"note\": \"the process ended without closing this run (killed?)\"}') "
                    "WHERE config_hash = ? AND status = 'running'", [judge.config_hash])
        con.execute("INSERT INTO runs (run_id, config_hash, rater_id, status, n_planned, n_cached, cost_usd, wall_s, "
                    "metadata) VALUES (?, ?, ?, 'running', ?, ?, ?, 0, ?)",
                    [run_id, judge.config_hash, judge.rater_id, plan.n_planned, plan.n_cached,
                     0.0 if judge.prices_known else None, json.dumps(meta)])
    return run_id


def _signal_table(judge: "Judge", run_id: str, results: Iterable["ItemResult"]) -> pa.Table:
    cols: dict[str, list] = {c: [] for c in _SIGNAL_COLS}
    rubric, rater = judge.rubric.name, judge.rater_id
    dims = judge.rubric.dimension_names
    for r in results:
        if r.status == "ok":
            rows = r.rows
        else:
            rows = [{"dimension": d, "status": "failed", "label": None, "value": None, "value_source": None,
                     "confidence": None, "rationale": None} for d in dims]
        for i, row in enumerate(rows):
            cols["conversation_id"].append(r.conversation_id)
            cols["rubric"].append(rubric)
            cols["dimension"].append(row["dimension"])
            cols["rater_id"].append(rater)
            cols["sample"].append(r.sample)
            cols["status"].append(row["status"])
            cols["label"].append(row["label"])
            cols["value"].append(row["value"])
            cols["value_source"].append(row["value_source"])
            cols["confidence"].append(row["confidence"])
            cols["raw"].append(r.raw if i == 0 else None)      # one copy per item
            cols["rationale"].append(row["rationale"])
            cols["error"].append(r.error)
            cols["run_id"].append(run_id)
    return pa.Table.from_pydict(cols, schema=_SIGNAL_SCHEMA)


def write_results(store: Store, judge: "Judge", run_id: str, results: list["ItemResult"], *,
                  counters: dict | None = None) -> None:
    """Store finished items (answers or failures) in one committed transaction.

    A result for an item with a stored failure replaces that item's rows. Items are never written twice: the
    plan leaves out stored items and a run requests each planned item once. ``counters`` (the run's cumulative
    ``n_done``, ``n_failed``, ``tokens_in``, ``tokens_out``, ``cost_usd``, ``wall_s``), when given, are written
    to the run record in the same transaction.
    """
    if not results:
        return
    con = store.con
    _judge_new_signals = _signal_table(judge, run_id, results)  # noqa: F841 - read by DuckDB's replacement scan
    with store.transaction():
        for r in results:
            if r.replaces_failure:
                store.delete_signals("s.rater_id = ? AND s.conversation_id = ? AND s.sample = ?",
                                     [judge.rater_id, r.conversation_id, r.sample])
        # The Arrow table above is scanned by its variable name (cheaper than register/unregister per commit).
        con.execute(f"INSERT INTO signal_rows ({', '.join(_SIGNAL_COLS)}) SELECT {', '.join(_SIGNAL_COLS)} "
                    "FROM _judge_new_signals")
        if counters is not None:
            _update_counters(store, run_id, counters)


def _recount(store: Store, run_id: str) -> None:
    """Set a run's ``n_done`` / ``n_failed`` to the items stored under its id (answered, failed)."""
    store.con.execute(
        "UPDATE runs SET n_done = c.done, n_failed = c.failed FROM (SELECT count(*) FILTER (WHERE ok) AS done, "
        "count(*) FILTER (WHERE NOT ok) AS failed FROM (SELECT bool_and(status <> 'failed') AS ok FROM signals "
        "WHERE run_id = ? GROUP BY conversation_id, sample)) c WHERE runs.run_id = ?", [run_id, run_id])


def _update_counters(store: Store, run_id: str, c: dict) -> None:
    store.con.execute("UPDATE runs SET n_done = ?, n_failed = ?, tokens_in = ?, tokens_out = ?, cost_usd = ?, "
                      "wall_s = ? WHERE run_id = ?", [c["n_done"], c["n_failed"], c["tokens_in"], c["tokens_out"],
                                                      c["cost_usd"], c["wall_s"], run_id])


_FAILURES_SQL = ("SELECT split_part(error, ':', 1) AS reason, count(DISTINCT (conversation_id, sample)) AS items, "
                 "min(error) AS example FROM signals WHERE run_id = ? AND status = 'failed' GROUP BY reason "
                 "ORDER BY items DESC, reason LIMIT 20")


def _failures(store: Store, run_id: str) -> list[dict]:
    return [{"reason": r, "items": int(n), "example": e}
            for r, n, e in store.con.execute(_FAILURES_SQL, [run_id]).fetchall()]


def finish_run(store: Store, run_id: str, status: str, *, counters: dict, error: str | None = None,
               timing: dict | None = None) -> None:
    """Close a run: ``finished``, ``interrupted`` (Ctrl-C; finished work kept) or ``failed`` (with the reason),
    with its final ``counters`` (see :func:`write_results`; the item counts are recounted from the stored
    signals) and ``timing`` (seconds of start-up, requests and retry waits, kept in its metadata).

    The reasons items failed are summarised into the run's metadata, so ``judge show`` still lists them after a
    later run has retried (and replaced) those failed signals.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {RUN_STATUSES}, not {status!r}")
    with store.transaction():
        _update_counters(store, run_id, counters)
        _recount(store, run_id)
        patch = {"failures": _failures(store, run_id), **(timing or {})}
        if error:
            patch["error"] = error
        store.con.execute("UPDATE runs SET status = ?, finished_at = current_timestamp, "
                          "metadata = json_merge_patch(coalesce(metadata, '{}'), ?) WHERE run_id = ?",
                          [status, json.dumps(patch), run_id])


def list_runs(store: Store, *, name: str | None = None) -> pd.DataFrame:
    """One row per run, newest first."""
    q = ("SELECT r.run_id, r.rater_id, j.role, j.model, r.status, r.started_at, r.n_planned, r.n_cached, r.n_done, "
         "r.n_failed, r.tokens_in, r.tokens_out, r.cost_usd, r.wall_s FROM runs r LEFT JOIN judge_configs j "
         "USING (config_hash)")
    params: list = []
    if name:
        q += " WHERE j.name = ? OR r.rater_id = ?"
        params = [name, name]
    return store.con.execute(q + " ORDER BY r.started_at DESC, r.run_id DESC", params).fetchdf()


def _resolve_run_id(store: Store, run: str) -> str:
    con = store.con
    if run in ("latest", "last"):
        rows = con.execute("SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT 1").fetchall()
    else:
        rows = con.execute("SELECT run_id FROM runs WHERE run_id = ? UNION SELECT run_id FROM runs WHERE "
                           "starts_with(run_id, ?) LIMIT 3", [run, run]).fetchall()
        exact = [r for r in rows if r[0] == run]
        rows = exact or rows
    if not rows:
        raise LookupError(f"no run {run!r} in this store. Fix: `auditor judge list` shows the run ids.")
    if len(rows) > 1:
        raise LookupError(f"run {run!r} is ambiguous ({', '.join(r[0] for r in rows)}, ...). Fix: give more of "
                          "the id.")
    return rows[0][0]


def get_run(store: Store, run: str) -> dict:
    """A run's record, its config, its stored signals by status and why items failed (reason, items, example).

    ``run`` is a run id, a unique prefix of one, or ``latest``.
    """
    run_id = _resolve_run_id(store, run)
    con = store.con
    rec = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).fetchdf().iloc[0].to_dict()
    meta = rec.pop("metadata")
    rec["metadata"] = json.loads(meta) if isinstance(meta, str) else (meta or {})
    cfg = con.execute("SELECT name, model, base_url, rubric, role, spec::VARCHAR AS spec FROM judge_configs "
                      "WHERE config_hash = ?", [rec["config_hash"]]).fetchdf()
    rec["config"] = ({**cfg.iloc[0].to_dict(), "spec": json.loads(cfg.iloc[0]["spec"])} if len(cfg) else None)
    rec["signals"] = {s: int(n) for s, n in con.execute(
        "SELECT status, count(*) FROM signals WHERE run_id = ? GROUP BY status ORDER BY status", [run_id]).fetchall()}
    from ._batch_store import run_batches

    rec["batches"] = run_batches(store, run_id)
    failures = rec["metadata"].pop("failures", None)
    rec["failures"] = failures if failures is not None else _failures(store, run_id)
    return rec
