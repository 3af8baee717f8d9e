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

from ..errors import CampaignClosed, CampaignError, NotAllowed, NotFound
from ._store import Store

__all__ = ["Answer", "insert_campaign", "mark_skipped", "write_answers", "set_campaign_status", "replace_token_hash",
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
            raise CampaignError(f"a campaign named {campaign['campaign']!r} already exists. Fix: choose another name "
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


def _assignment(con, campaign: str, annotator: str, item_id: int) -> tuple[str, str, str, str]:
    """(campaign status, rubric, batch id, conversation id) of an item assigned to ``annotator``, or raise."""
    row = con.execute(
        "SELECT c.status, c.rubric, c.batch_id, i.conversation_id FROM campaign_assignments a JOIN campaigns c "
        "USING (campaign) JOIN campaign_items i USING (campaign, item_id) WHERE a.campaign = ? AND a.item_id = ? "
        "AND a.annotator = ?", [campaign, item_id, annotator]).fetchall()
    if row:
        return row[0]
    if not con.execute("SELECT 1 FROM campaigns WHERE campaign = ?", [campaign]).fetchall():
        raise NotFound(f"no campaign named {campaign!r}")
    raise NotAllowed(f"item {item_id} is not assigned to you in campaign {campaign!r}")


def _closed(campaign: str) -> CampaignClosed:
    return CampaignClosed(f"campaign {campaign!r} is closed: it accepts no submission")


def _rows(n_rows: int, n_cols: int) -> str:
    """``(?, ?), (?, ?)``: placeholders for one multi-row VALUES list (values stay bound parameters)."""
    one = "(" + ", ".join(["?"] * n_cols) + ")"
    return ", ".join([one] * n_rows)


def mark_skipped(store: Store, campaign: str, annotator: str, item_id: int) -> None:
    """Move a pending item to the end of the annotator's queue (it comes back after the pending ones)."""
    with store.transaction() as con:
        status, *_ = _assignment(con, campaign, annotator, item_id)
        if status != "open":
            raise _closed(campaign)
        con.execute("UPDATE campaign_assignments SET status = 'skipped' WHERE campaign = ? AND item_id = ? AND "
                    "annotator = ? AND status = 'pending'", [campaign, item_id, annotator])


def write_answers(store: Store, campaign: str, annotator: str, item_id: int, answers: list[Answer], *,
                  seconds: float | None = None) -> dict[str, int]:
    """Store one item's answers in one transaction. Returns ``{"stored": changed or new, "unchanged": n}``.

    ``seconds`` (time from showing the item to this submission) is added to the assignment's ``seconds_spent``.
    """
    con = store.con
    now = _now()
    with store.transaction():
        key = [campaign, item_id, annotator]
        rows = con.execute(
            "SELECT c.status, c.rubric, c.batch_id, i.conversation_id, x.dimension, x.status, x.label, x.value "
            "FROM campaign_assignments a JOIN campaigns c USING (campaign) JOIN campaign_items i USING (campaign, "
            "item_id) LEFT JOIN campaign_answers x ON x.campaign = a.campaign AND x.item_id = a.item_id AND "
            "x.annotator = a.annotator WHERE a.campaign = ? AND a.item_id = ? AND a.annotator = ?", key).fetchall()
        if not rows:
            _assignment(con, campaign, annotator, item_id)      # raises the right error
        status, rubric, batch_id, conversation_id = rows[0][:4]
        if status != "open":
            raise _closed(campaign)
        stored = {r[4]: r[5:] for r in rows if r[4] is not None}
        new, changed = [], []
        for a in answers:
            old = stored.get(a.dimension)
            if old is None:
                new.append(a)
            elif tuple(old) != (a.status, a.label, a.value):
                changed.append((a, old))
        if new:
            con.execute(f"INSERT INTO campaign_answers VALUES {_rows(len(new), 7)}",
                        [v for a in new for v in (*key, a.dimension, a.status, a.label, a.value)])
        if changed:
            dims = [a.dimension for a, _ in changed]
            con.execute(
                "INSERT INTO signal_history (conversation_id, rubric, dimension, rater_id, sample, status, label, "
                "value, batch_id, replaced_at) SELECT conversation_id, rubric, dimension, rater_id, sample, status, "
                "label, value, batch_id, ? FROM signals WHERE conversation_id = ? AND rubric = ? AND rater_id = ? "
                "AND sample = 0 AND dimension = ANY(?)", [now, conversation_id, rubric, annotator, dims])
            store.delete_signals("s.conversation_id = ? AND s.rubric = ? AND s.rater_id = ? AND s.sample = 0 AND "
                                 "s.dimension = ANY(?)", [conversation_id, rubric, annotator, dims])
            for a, _ in changed:
                con.execute("UPDATE campaign_answers SET status = ?, label = ?, value = ? WHERE campaign = ? AND "
                            "item_id = ? AND annotator = ? AND dimension = ?",
                            [a.status, a.label, a.value, *key, a.dimension])
        writes = new + [a for a, _ in changed]
        if writes:
            con.execute(
                f"INSERT INTO signal_rows (conversation_id, rubric, dimension, rater_id, sample, status, label, value, "
                f"value_source, batch_id) VALUES {_rows(len(writes), 10)}",
                [v for a in writes for v in (conversation_id, rubric, a.dimension, annotator, 0, a.status, a.label,
                                             a.value, "label" if a.status == "ok" else None, batch_id)])
        con.execute(
            "UPDATE campaign_assignments SET status = 'done', submitted_at = coalesce(submitted_at, ?), "
            "updated_at = CASE WHEN ? THEN ? ELSE updated_at END, "
            "seconds_spent = CASE WHEN ? IS NULL THEN seconds_spent ELSE coalesce(seconds_spent, 0) + ? END, "
            "n_edits = n_edits + ? WHERE campaign = ? AND item_id = ? AND annotator = ?",
            [now, bool(writes), now, seconds, seconds, 1 if changed else 0, *key])
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


def replace_token_hash(store: Store, campaign: str, annotator: str | None, token_hash: str) -> None:
    """Store a new token hash for an annotator (or, with ``annotator=None``, the admin): the old link stops working."""
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM campaigns WHERE campaign = ?", [campaign]).fetchall():
            raise NotFound(f"no campaign named {campaign!r}. Fix: `auditor annotate list` shows the stored ones.")
        if annotator is None:
            con.execute("UPDATE campaigns SET admin_token_hash = ? WHERE campaign = ?", [token_hash, campaign])
            return
        names = [r[0] for r in con.execute("SELECT annotator FROM campaign_annotators WHERE campaign = ? ORDER BY 1",
                                           [campaign]).fetchall()]
        if annotator not in names:
            raise NotFound(f"campaign {campaign!r} has no annotator {annotator!r}. Fix: use one of "
                           f"{', '.join(names)}.")
        con.execute("UPDATE campaign_annotators SET token_hash = ? WHERE campaign = ? AND annotator = ?",
                    [token_hash, campaign, annotator])


def web_key(store: Store) -> bytes:
    """The server's key for form tokens (created once per store; not a credential of anyone)."""
    with store.transaction() as con:
        row = con.execute("SELECT value FROM web_keys WHERE name = 'form'").fetchall()
        if row:
            return bytes.fromhex(row[0][0])
        key = secrets.token_bytes(32)
        con.execute("INSERT INTO web_keys VALUES ('form', ?)", [key.hex()])
        return key
