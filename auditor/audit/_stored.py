"""Stored audits: every audit's rows kept with its options and a fingerprint of the data it read.

An audit is reused only when its options, the auditor version and the fingerprint all match: the fingerprint is a
sha256 over the row count and an order-free sum of row hashes of every table an audit reads (signals with their
probabilities, conversations' tasks and batches, raters, rubrics, tasks, campaigns), so any load, judge run,
campaign answer or ``--replace`` changes it. ``threads`` is not part of the options (results do not depend on it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from pathlib import Path

import pandas as pd

from .. import __version__
from ..store import Store
from ._run import ROW_COLUMNS, AuditOptions, audit

__all__ = ["code_version", "fingerprint", "options_key", "find_audit", "save_audit", "StoredAudit", "audit_history",
           "timed_audit"]

_CONTENT = {
    "signals": "conversation_id, rubric, dimension, rater_id, sample, status, label, value, value_source, "
               "confidence, probs::VARCHAR",
    "conversations": "conversation_id, conv_key, task_id, system_id, user_kind, user_id, human_batch, n_turns, "
                     "n_chars, reward, keep",
    "raters": "rater_id, kind, model, config_hash",
    "rubrics": "rubric, content_hash",
    "tasks": "task_id, domain, difficulty",
    "campaigns": "campaign, rubric, strategy, stratify_by, overlap",
    "campaign_items": "campaign, item_id, conversation_id, inclusion_prob, stratum",
    "label_designs": "rubric, conversation_id, inclusion_prob, stratum",
}


@dataclasses.dataclass
class StoredAudit:
    audit_id: str
    created_at: object
    rows: pd.DataFrame


def code_version() -> str:
    """The version, plus a digest of the audit and statistics sources (so an edited checkout never reuses an
    audit computed by other code)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for f in sorted(list((root / "audit").glob("*.py")) + list((root / "stats").glob("*.py"))):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{__version__}+{h.hexdigest()[:12]}"


def fingerprint(store: Store) -> str:
    """A digest of everything an audit reads (order-free: the same content gives the same digest)."""
    parts = []
    for table, cols in _CONTENT.items():
        n, s = store.con.execute(f"SELECT count(*), coalesce(sum(hash({cols})), 0)::VARCHAR FROM {table}"
                                 ).fetchall()[0]
        parts.append(f"{table}:{n}:{s}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def options_key(opts: AuditOptions) -> str:
    """The options that decide an audit's rows, as canonical JSON (a difficulty file counts by its content)."""
    d = dataclasses.asdict(opts)
    d.pop("threads", None)
    extra = dict(d.get("extra") or {})
    from ..stats import alt_test as _alt

    if extra.get("alt_test_epsilon") == _alt.DEFAULT_EPSILON:      # the default, given or not, is one option
        extra.pop("alt_test_epsilon")
    f = extra.get("difficulty_file")
    if f and Path(f).is_file():
        extra["difficulty_file"] = hashlib.sha256(Path(f).read_bytes()).hexdigest()
    d["extra"] = extra
    return json.dumps(d, sort_keys=True, default=str)


def find_audit(store: Store, opts: AuditOptions, fp: str | None = None) -> StoredAudit | None:
    """The latest stored audit with these options, on this data, by this version; None if there is none."""
    fp = fp or fingerprint(store)
    hit = store.con.execute(
        "SELECT audit_id, created_at FROM audit_runs WHERE options_key = ? AND fingerprint = ? AND "
        "auditor_version = ? ORDER BY created_at DESC LIMIT 1", [options_key(opts), fp, code_version()]).fetchall()
    if not hit:
        return None
    rows = store.con.execute(f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_rows WHERE audit_id = ? ORDER BY row_index",
                             [hit[0][0]]).fetchdf()
    rows["n"] = rows["n"].astype("Int64")
    return StoredAudit(hit[0][0], hit[0][1], rows)


def save_audit(store: Store, rows: pd.DataFrame, opts: AuditOptions, fp: str, *, seconds: float | None = None,
               command: str = "python") -> str:
    """Record ``rows`` (an :func:`audit` result computed on data with fingerprint ``fp``). Returns its id."""
    audit_id = "a" + time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]
    table = rows[ROW_COLUMNS].copy()
    table.insert(0, "row_index", range(len(table)))
    table.insert(0, "audit_id", audit_id)
    table["n"] = pd.to_numeric(table["n"], errors="coerce").astype("Int64")
    con = store.con
    with store.transaction():
        con.execute("INSERT INTO audit_runs (audit_id, auditor_version, options_key, options, n_boot, seed, "
                    "ci_method, fingerprint, n_rows, seconds, command) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [audit_id, code_version(), options_key(opts), json.dumps(dataclasses.asdict(opts), default=str),
                     opts.n_boot, opts.seed, opts.ci_method, fp, len(rows), seconds, command])
        con.register("_audit_rows_in", table)
        try:
            con.execute("INSERT INTO audit_rows SELECT * FROM _audit_rows_in")
        finally:
            con.unregister("_audit_rows_in")
    return audit_id


def timed_audit(store: Store, opts: AuditOptions) -> tuple[pd.DataFrame, str, float]:
    """(rows, fingerprint of the data they were computed on, seconds)."""
    fp = fingerprint(store)
    t0 = time.perf_counter()
    rows = audit(store, opts)
    return rows, fp, time.perf_counter() - t0


def audit_history(store: Store, *, rater: list[str] | None = None, statistic: list[str] | None = None,
                  dimension: list[str] | None = None) -> pd.DataFrame:
    """Stored audit rows over time (newest first), optionally for some raters / statistics / dimensions."""
    where, params = [], []
    for col, vals in (("rater", rater), ("statistic", statistic), ("dimension", dimension)):
        if vals:
            where.append(f"{col} IN ({', '.join('?' * len(vals))})")
            params += list(vals)
    q = ("SELECT created_at, audit_id, rater, config_hash, rubric, dimension, statistic, value, ci_low, ci_high, n, "
         "n_boot, seed FROM audit_history" + (" WHERE " + " AND ".join(where) if where else "") +
         " ORDER BY created_at DESC, rater, rubric, dimension, statistic")
    return store.con.execute(q, params).fetchdf()
