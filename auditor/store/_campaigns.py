"""Every write of a human-rating campaign: creating it, showing and skipping items, answers, closing.

Each function is one transaction with bound parameters. An answer is an ordinary signal (rater = the annotator,
kind ``human``, batch = the campaign's batch); a changed answer replaces the stored one and the old value goes to
``signal_history``; the same answer sent twice changes nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from ..errors import CampaignClosed, NotAllowed, NotFound
from ._store import Store

__all__ = ["Answer", "insert_campaign", "mark_served", "mark_skipped", "write_answers", "set_campaign_status",
           "web_key"]


@dataclass(frozen=True)
class Answer:
    """One validated answer: ``status`` 'ok' (with label and value) or 'not_answered' (label and value None)."""

    dimension: str
    status: str
    label: str | None
    value: float | None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def insert_campaign(store: Store, *, campaign: dict, items: pd.DataFrame, queues: dict[str, list[int]],
                    token_hashes: dict[str, str]) -> None:
    """Record a new campaign: its row, annotators (also as human raters), items, assignments, and its batch."""
    con = store.con
    with store.transaction():
        if con.execute("SELECT 1 FROM campaigns WHERE campaign = ?", [campaign["campaign"]]).fetchall():
            raise NotAllowed(f"a campaign named {campaign['campaign']!r} already exists. Fix: choose another name "
                             "(`auditor annotate list` shows the stored ones).")
        con.execute(
            "INSERT INTO ingest_batches (batch_id, kind, source, rubric, options, n_rows, n_inserted, n_replaced, "
            "n_unchanged) VALUES (?, 'campaign', ?, ?, ?, 0, 0, 0, 0)",
            [campaign["batch_id"], f"campaign {campaign['campaign']}", campaign["rubric"],
             json.dumps({k: campaign[k] for k in ("strategy", "stratify_by", "where_sql", "overlap", "seed")})])
        con.execute(
            "INSERT INTO campaigns (campaign, rubric, strategy, stratify_by, where_sql, overlap, seed, population_n,"
            " n_items, admin_token_hash, batch_id, design) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [campaign[k] for k in ("campaign", "rubric", "strategy", "stratify_by", "where_sql", "overlap", "seed",
                                   "population_n", "n_items", "admin_token_hash", "batch_id")]
            + [json.dumps(campaign["design"])])
        con.executemany("INSERT INTO campaign_annotators VALUES (?, ?, ?)",
                        [[campaign["campaign"], a, h] for a, h in token_hashes.items()])
        con.executemany(
            "INSERT INTO raters (rater_id, kind, metadata) SELECT ?, 'human', ? WHERE NOT EXISTS "
            "(SELECT 1 FROM raters WHERE rater_id = ?)",
            [[a, json.dumps({"campaign": campaign["campaign"]}), a] for a in token_hashes])
        items = items.assign(campaign=campaign["campaign"])[["campaign", "item_id", "conversation_id",
                                                              "inclusion_prob", "stratum"]]
        con.register("_items", items)
        try:
            con.execute("INSERT INTO campaign_items SELECT * FROM _items")
        finally:
            con.unregister("_items")
        rows = [(campaign["campaign"], item, a, pos) for a, q in queues.items() for pos, item in enumerate(q)]
        assignments = pd.DataFrame(rows, columns=["campaign", "item_id", "annotator", "position"])
        con.register("_assign", assignments)
        try:
            con.execute("INSERT INTO campaign_assignments (campaign, item_id, annotator, position) "
                        "SELECT campaign, item_id, annotator, position FROM _assign")
        finally:
            con.unregister("_assign")


def _assignment(con, campaign: str, annotator: str, item_id: int):
    """(campaign status, rubric, batch id, conversation id, served_at) of an assigned item, or raise."""
    c = con.execute("SELECT status, rubric, batch_id FROM campaigns WHERE campaign = ?", [campaign]).fetchall()
    if not c:
        raise NotFound(f"no campaign named {campaign!r}")
    a = con.execute(
        "SELECT i.conversation_id, a.served_at FROM campaign_assignments a JOIN campaign_items i "
        "USING (campaign, item_id) WHERE a.campaign = ? AND a.item_id = ? AND a.annotator = ?",
        [campaign, item_id, annotator]).fetchall()
    if not a:
        raise NotAllowed(f"item {item_id} is not assigned to you in campaign {campaign!r}")
    return c[0][0], c[0][1], c[0][2], a[0][0], a[0][1]


def mark_served(store: Store, campaign: str, annotator: str, item_id: int) -> None:
    """Remember when an item was shown (the time spent on it is measured from here)."""
    with store.transaction() as con:
        con.execute("UPDATE campaign_assignments SET served_at = ? WHERE campaign = ? AND item_id = ? AND "
                    "annotator = ?", [_now(), campaign, item_id, annotator])


def mark_skipped(store: Store, campaign: str, annotator: str, item_id: int) -> None:
    """Move a pending item to the end of the annotator's queue (it comes back after the pending ones)."""
    with store.transaction() as con:
        status, *_ = _assignment(con, campaign, annotator, item_id)
        if status != "open":
            raise CampaignClosed(f"campaign {campaign!r} is closed: it accepts no submission")
        con.execute("UPDATE campaign_assignments SET status = 'skipped' WHERE campaign = ? AND item_id = ? AND "
                    "annotator = ? AND status = 'pending'", [campaign, item_id, annotator])


def write_answers(store: Store, campaign: str, annotator: str, item_id: int,
                  answers: list[Answer]) -> dict[str, int]:
    """Store one item's answers in one transaction. Returns ``{"stored": changed or new, "unchanged": n}``."""
    con = store.con
    now = _now()
    with store.transaction():
        status, rubric, batch_id, conversation_id, served_at = _assignment(con, campaign, annotator, item_id)
        if status != "open":
            raise CampaignClosed(f"campaign {campaign!r} is closed: it accepts no submission")
        stored = {r[0]: r[1:] for r in con.execute(
            "SELECT dimension, status, label, value, batch_id FROM signals WHERE conversation_id = ? AND rubric = ?"
            " AND rater_id = ? AND sample = 0", [conversation_id, rubric, annotator]).fetchall()}
        new, changed = [], []
        for a in answers:
            old = stored.get(a.dimension)
            if old is None:
                new.append(a)
            elif (old[0], old[1], old[2]) != (a.status, a.label, a.value):
                changed.append((a, old))
        if changed:
            con.executemany(
                "INSERT INTO signal_history (conversation_id, rubric, dimension, rater_id, sample, status, label, "
                "value, batch_id, replaced_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                [[conversation_id, rubric, a.dimension, annotator, *old, now] for a, old in changed])
            con.executemany("DELETE FROM signals WHERE conversation_id = ? AND rubric = ? AND dimension = ? AND "
                            "rater_id = ? AND sample = 0",
                            [[conversation_id, rubric, a.dimension, annotator] for a, _ in changed])
        writes = new + [a for a, _ in changed]
        if writes:
            con.executemany(
                "INSERT INTO signals (conversation_id, rubric, dimension, rater_id, sample, status, label, value, "
                "value_source, batch_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
                [[conversation_id, rubric, a.dimension, annotator, a.status, a.label, a.value,
                  "label" if a.status == "ok" else None, batch_id] for a in writes])
        seconds = (now - served_at).total_seconds() if served_at is not None else None
        con.execute(
            "UPDATE campaign_assignments SET status = 'done', submitted_at = coalesce(submitted_at, ?), "
            "updated_at = CASE WHEN ? THEN ? ELSE updated_at END, "
            "seconds_spent = CASE WHEN ? IS NULL THEN seconds_spent ELSE coalesce(seconds_spent, 0) + ? END, "
            "served_at = NULL, n_edits = n_edits + ? WHERE campaign = ? AND item_id = ? AND annotator = ?",
            [now, bool(writes), now, seconds, seconds, 1 if changed else 0, campaign, item_id, annotator])
        con.execute("UPDATE ingest_batches SET n_rows = n_rows + ?, n_inserted = n_inserted + ?, n_replaced = "
                    "n_replaced + ?, n_unchanged = n_unchanged + ? WHERE batch_id = ?",
                    [len(answers), len(new), len(changed), len(answers) - len(writes), batch_id])
    return {"stored": len(writes), "unchanged": len(answers) - len(writes)}


def set_campaign_status(store: Store, campaign: str, status: str) -> None:
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM campaigns WHERE campaign = ?", [campaign]).fetchall():
            raise NotFound(f"no campaign named {campaign!r}. Fix: `auditor annotate list` shows the stored ones.")
        con.execute("UPDATE campaigns SET status = ?, closed_at = CASE WHEN ? = 'closed' THEN ? END "
                    "WHERE campaign = ?", [status, status, _now(), campaign])


def web_key(store: Store) -> bytes:
    """The server's key for form tokens (created once per store; not a credential of anyone)."""
    with store.transaction() as con:
        row = con.execute("SELECT value FROM web_keys WHERE name = 'form'").fetchall()
        if row:
            return bytes.fromhex(row[0][0])
        key = secrets.token_bytes(32)
        con.execute("INSERT INTO web_keys VALUES ('form', ?)", [key.hex()])
        return key
