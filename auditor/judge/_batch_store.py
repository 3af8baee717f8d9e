"""Store reads and writes for batch submissions (tables ``judge_batches`` and ``judge_batch_items``, migration 007).

A submission's life: ``preparing`` (recorded with its items, committed, before anything is sent) -> ``submitted``
(the provider's batch id recorded) -> ``collected`` (its results stored, its items' outcomes set, any re-submission
recorded, in one transaction). Items of a submission not yet collected are "in a batch": the plan leaves them out
(:data:`auditor.judge._records.PENDING_SQL`), so no item is asked twice while its batch is pending.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
import uuid
import hashlib
import time
from typing import Any

import pyarrow as pa

from ..store import Store

__all__ = ["Submission", "BatchItem", "custom_id_for", "record_submission", "discard", "set_file", "set_batch",
           "open_submissions", "submission_items", "mark_collected", "run_batch_totals"]

MAX_CUSTOM_ID = 64


@dataclasses.dataclass
class Submission:
    submission_id: str
    run_id: str
    config_hash: str
    state: str
    batch_id: str | None
    input_file_id: str | None
    provider_status: str | None
    n_items: int
    attempt: int
    created_s: float                 # unix seconds


@dataclasses.dataclass
class BatchItem:
    custom_id: str
    conversation_id: str
    sample: int
    reasks: int = 0
    retries: int = 0
    body: str | None = None          # a re-ask's request (JSON); None: rebuilt from the prompt template


def custom_id_for(conversation_id: str, sample: int) -> str:
    """The item's key as the synchronous path sends it (``X-Auditor-Item``), or a hash of it when that is long."""
    key = urllib.parse.quote(f"{conversation_id}#{sample}", safe="#@:/-_.~")
    if len(key) <= MAX_CUSTOM_ID:
        return key
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:40]


_ITEM_SCHEMA = pa.schema([("submission_id", pa.string()), ("custom_id", pa.string()),
                          ("conversation_id", pa.string()), ("sample", pa.int32()), ("reasks", pa.int32()),
                          ("retries", pa.int32()), ("body", pa.string())])


def record_submission(store: Store, run_id: str, config_hash: str, items: list[BatchItem], *, attempt: int,
                      metadata: dict | None = None) -> str:
    """Record a new ``preparing`` submission and its items (joins an open transaction, else commits its own)."""
    sid = "sub-" + uuid.uuid4().hex[:16]
    _auditor_batch_items = pa.Table.from_pydict({  # noqa: F841 - read by DuckDB's replacement scan
        "submission_id": [sid] * len(items), "custom_id": [i.custom_id for i in items],
        "conversation_id": [i.conversation_id for i in items], "sample": [i.sample for i in items],
        "reasks": [i.reasks for i in items], "retries": [i.retries for i in items],
        "body": [i.body for i in items]}, schema=_ITEM_SCHEMA)
    with store.transaction() as con:
        # the unix time travels in metadata: the TIMESTAMP column is in the session's time zone, the provider's
        # created_at in UTC seconds (``find`` compares them)
        con.execute("INSERT INTO judge_batches (submission_id, run_id, config_hash, state, n_items, attempt, metadata) "
                    "VALUES (?, ?, ?, 'preparing', ?, ?, ?)",
                    [sid, run_id, config_hash, len(items), attempt,
                     json.dumps({**(metadata or {}), "created_unix": time.time()})])
        con.execute("INSERT INTO judge_batch_items (submission_id, custom_id, conversation_id, sample, reasks, "
                    "retries, body) SELECT * FROM _auditor_batch_items")
    return sid


def discard(store: Store, submission_id: str) -> None:
    """Forget a submission no batch can exist for (its upload failed, or the provider refused to create it)."""
    with store.transaction() as con:
        con.execute("DELETE FROM judge_batch_items WHERE submission_id = ?", [submission_id])
        con.execute("DELETE FROM judge_batches WHERE submission_id = ? AND state = 'preparing'", [submission_id])


def set_file(store: Store, submission_id: str, file_id: str) -> None:
    with store.transaction() as con:
        con.execute("UPDATE judge_batches SET input_file_id = ? WHERE submission_id = ?", [file_id, submission_id])


def set_batch(store: Store, submission_id: str, batch_id: str, provider_status: str | None) -> None:
    with store.transaction() as con:
        con.execute("UPDATE judge_batches SET batch_id = ?, provider_status = ?, state = 'submitted', "
                    "checked_at = current_timestamp WHERE submission_id = ?",
                    [batch_id, provider_status, submission_id])


def set_status(store: Store, submission_id: str, provider_status: str) -> None:
    with store.transaction() as con:
        con.execute("UPDATE judge_batches SET provider_status = ?, checked_at = current_timestamp "
                    "WHERE submission_id = ?", [provider_status, submission_id])


def open_submissions(store: Store, *, run_id: str | None = None, config_hash: str | None = None,
                     preparing_only: bool = False) -> list[Submission]:
    """Submissions not yet collected, oldest first (optionally of one run or one config, or only those never
    confirmed by the provider)."""
    q = ("SELECT submission_id, run_id, config_hash, state, batch_id, input_file_id, provider_status, n_items, "
         "attempt, coalesce(TRY_CAST(metadata->>'created_unix' AS DOUBLE), epoch(created_at)) FROM judge_batches "
         "WHERE state <> 'collected'")
    params: list[Any] = []
    if run_id is not None:
        q += " AND run_id = ?"
        params.append(run_id)
    if config_hash is not None:
        q += " AND config_hash = ?"
        params.append(config_hash)
    if preparing_only:
        q += " AND state = 'preparing'"
    rows = store.con.execute(q + " ORDER BY created_at, submission_id", params).fetchall()
    return [Submission(*r[:9], created_s=float(r[9])) for r in rows]


def submission_items(store: Store, submission_id: str) -> list[BatchItem]:
    rows = store.con.execute("SELECT custom_id, conversation_id, sample, reasks, retries, body FROM "
                             "judge_batch_items WHERE submission_id = ? ORDER BY conversation_id, sample",
                             [submission_id]).fetchall()
    return [BatchItem(*r) for r in rows]


def mark_collected(store: Store, sub: Submission, outcomes: dict[str, str], *, output_file_id: str | None,
                   error_file_id: str | None, provider_status: str, tokens_in: int, tokens_out: int,
                   note: dict | None = None) -> None:
    """Set the items' outcomes (custom id -> ok | failed | resubmitted) and close the submission (joins the
    caller's transaction: the results, these outcomes and any re-submission commit together)."""
    _auditor_outcomes = pa.Table.from_pydict({  # noqa: F841 - read by DuckDB's replacement scan
        "custom_id": list(outcomes), "outcome": list(outcomes.values())})
    with store.transaction() as con:
        con.execute("UPDATE judge_batch_items SET outcome = o.outcome FROM _auditor_outcomes o WHERE "
                    "judge_batch_items.submission_id = ? AND judge_batch_items.custom_id = o.custom_id",
                    [sub.submission_id])
        con.execute("UPDATE judge_batches SET state = 'collected', collected_at = current_timestamp, "
                    "checked_at = current_timestamp, provider_status = ?, output_file_id = ?, error_file_id = ?, "
                    "tokens_in = ?, tokens_out = ?, metadata = json_merge_patch(coalesce(metadata, '{}'), ?) "
                    "WHERE submission_id = ?",
                    [provider_status, output_file_id, error_file_id, tokens_in, tokens_out, json.dumps(note or {}),
                     sub.submission_id])


def run_batch_totals(store: Store, run_id: str) -> dict:
    """A batch run's tokens and its submissions by state."""
    rows = store.con.execute("SELECT state, count(*), sum(tokens_in), sum(tokens_out) FROM judge_batches "
                             "WHERE run_id = ? GROUP BY state", [run_id]).fetchall()
    by_state = {s: int(n) for s, n, _, _ in rows}
    return {"tokens_in": int(sum(r[2] or 0 for r in rows)), "tokens_out": int(sum(r[3] or 0 for r in rows)),
            "by_state": by_state, "open": sum(n for s, n in by_state.items() if s != "collected")}


def run_batches(store: Store, run_id: str) -> list[dict]:
    """A run's submissions (for ``judge show``), oldest first."""
    df = store.con.execute("SELECT submission_id, batch_id, state, provider_status, attempt, n_items, tokens_in, "
                           "tokens_out, created_at, collected_at FROM judge_batches WHERE run_id = ? "
                           "ORDER BY created_at, submission_id", [run_id]).fetchdf()
    return df.to_dict("records")
