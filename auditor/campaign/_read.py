"""Reading campaigns: tokens to annotators, an annotator's next item, progress, the questionnaire of a rubric."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..errors import NotAllowed, NotFound
from ..rubric import Rubric
from ..store import Store
from ..store._campaigns import mark_served
from ._tokens import hash_token, same_hash

__all__ = ["Annotator", "resolve_annotator", "admin_campaigns", "questions", "next_item", "item_view", "progress",
           "list_campaigns", "campaign_info", "stored_rubric", "conversation_messages"]

BAD_LINK = "this annotation link is not valid (wrong or revoked token). Fix: use the private link you were given"


@dataclass(frozen=True)
class Annotator:
    campaign: str
    name: str
    token_hash: str


def resolve_annotator(store: Store, token: str) -> Annotator:
    """The annotator a private token belongs to, or :class:`NotAllowed`."""
    h = hash_token(token or "")
    rows = store.con.execute("SELECT campaign, annotator, token_hash FROM campaign_annotators WHERE token_hash = ?",
                             [h]).fetchall()
    if not rows or not same_hash(rows[0][2], h):
        raise NotAllowed(BAD_LINK)
    return Annotator(*rows[0])


def admin_campaigns(store: Store, token: str | None) -> list[str]:
    """The campaigns an admin token administers (an admin of any campaign may browse the store), or raise."""
    h = hash_token(token or "")
    rows = store.con.execute("SELECT campaign, admin_token_hash FROM campaigns WHERE admin_token_hash = ?",
                             [h]).fetchall()
    rows = [r[0] for r in rows if same_hash(r[1], h)]
    if not token or not rows:
        raise NotAllowed("this page needs a campaign's admin link (printed by `auditor annotate create`). Fix: open "
                         "the admin link, or send 'Authorization: Bearer <admin token>'")
    return rows


def stored_rubric(store: Store, name: str) -> Rubric:
    spec = store.con.execute("SELECT spec FROM rubrics WHERE rubric = ?", [name]).fetchall()
    if not spec:
        raise NotFound(f"rubric {name!r} is not in the store")
    return Rubric.model_validate(json.loads(spec[0][0]))


def questions(rubric: Rubric) -> list[dict]:
    """The questionnaire: one entry per dimension, every option, and whether 'not applicable' is offered."""
    return [{"dimension": d.name, "question": d.question or d.name, "level": d.level,
             "options": [{"label": o.label, "value": o.value} for o in d.options],
             "not_applicable": d.missing_code is not None} for d in rubric.dimensions]


def conversation_messages(store: Store, conversation_id: str) -> list[dict]:
    """A conversation's messages as ``[{"role", "content"}]`` with text content (structured content as JSON)."""
    row = store.con.execute("SELECT messages FROM conversations WHERE conversation_id = ?",
                            [conversation_id]).fetchall()
    raw = json.loads(row[0][0]) if row and row[0][0] else []
    out = []
    for m in raw if isinstance(raw, list) else []:
        m = m if isinstance(m, dict) else {"role": "?", "content": m}
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        out.append({"role": str(m.get("role", "?")), "content": text or ""})
    return out


def _progress_of(store: Store, who: Annotator) -> dict:
    row = store.con.execute(
        "SELECT count(*), count(*) FILTER (status = 'done'), count(*) FILTER (status = 'skipped') FROM "
        "campaign_assignments WHERE campaign = ? AND annotator = ?", [who.campaign, who.name]).fetchall()[0]
    return {"total": row[0], "done": row[1], "skipped": row[2]}


def _campaign_row(store: Store, campaign: str) -> dict:
    df = store.con.execute("SELECT * EXCLUDE (admin_token_hash) FROM campaigns WHERE campaign = ?",
                           [campaign]).fetchdf()
    if df.empty:
        raise NotFound(f"no campaign named {campaign!r}. Fix: `auditor annotate list` shows the stored ones.")
    return df.iloc[0].to_dict()


def _item(store: Store, who: Annotator, item_id: int, rubric: Rubric) -> dict:
    conv = store.con.execute("SELECT conversation_id FROM campaign_items WHERE campaign = ? AND item_id = ?",
                             [who.campaign, item_id]).fetchall()[0][0]
    return {"item_id": int(item_id), "campaign": who.campaign,
            "conversation": {"conversation_id": conv, "messages": conversation_messages(store, conv)},
            "questions": questions(rubric), "progress": _progress_of(store, who)}


def next_item(store: Store, who: Annotator) -> dict | None:
    """The annotator's next item (pending ones in queue order, then skipped ones), or None when all are done."""
    camp = _campaign_row(store, who.campaign)
    row = store.con.execute(
        "SELECT item_id FROM campaign_assignments WHERE campaign = ? AND annotator = ? AND status <> 'done' "
        "ORDER BY status = 'skipped', position LIMIT 1", [who.campaign, who.name]).fetchall()
    if not row:
        return None
    item = _item(store, who, row[0][0], stored_rubric(store, camp["rubric"]))
    item["status"] = camp["status"]
    if camp["status"] == "open":
        mark_served(store, who.campaign, who.name, row[0][0])
    return item


def item_view(store: Store, who: Annotator, item_id: int) -> dict:
    """One assigned item with the annotator's own current answers (for editing); never anyone else's."""
    camp = _campaign_row(store, who.campaign)
    a = store.con.execute("SELECT status FROM campaign_assignments WHERE campaign = ? AND annotator = ? AND "
                          "item_id = ?", [who.campaign, who.name, item_id]).fetchall()
    if not a:
        raise NotAllowed(f"item {item_id} is not assigned to you in this campaign")
    item = _item(store, who, item_id, stored_rubric(store, camp["rubric"]))
    answers = store.con.execute(
        "SELECT dimension, status, label FROM signals WHERE conversation_id = ? AND rubric = ? AND rater_id = ? AND "
        "sample = 0", [item["conversation"]["conversation_id"], camp["rubric"], who.name]).fetchall()
    item["answers"] = {d: (lab if st == "ok" else None) for d, st, lab in answers}
    item["item_status"] = a[0][0]
    item["status"] = camp["status"]
    if camp["status"] == "open":
        mark_served(store, who.campaign, who.name, item_id)
    return item


def done_items(store: Store, who: Annotator) -> list[int]:
    """The items this annotator has answered, most recent first (for 'edit an earlier answer')."""
    return [r[0] for r in store.con.execute(
        "SELECT item_id FROM campaign_assignments WHERE campaign = ? AND annotator = ? AND status = 'done' "
        "ORDER BY coalesce(updated_at, submitted_at) DESC, position DESC", [who.campaign, who.name]).fetchall()]


def progress(store: Store, campaign: str) -> pd.DataFrame:
    """Per annotator: assigned, done, skipped, pending, median seconds per item, last activity."""
    _campaign_row(store, campaign)
    return store.con.execute(
        "SELECT annotator, count(*) AS assigned, count(*) FILTER (status = 'done') AS done, "
        "count(*) FILTER (status = 'skipped') AS skipped, count(*) FILTER (status = 'pending') AS pending, "
        "median(seconds_spent) AS median_seconds, max(coalesce(updated_at, submitted_at)) AS last_activity "
        "FROM campaign_assignments WHERE campaign = ? GROUP BY annotator ORDER BY annotator", [campaign]).fetchdf()


def list_campaigns(store: Store) -> pd.DataFrame:
    return store.con.execute(
        "SELECT c.campaign, c.rubric, c.status, c.strategy, c.n_items AS items, c.overlap, "
        "(SELECT count(*) FROM campaign_annotators a WHERE a.campaign = c.campaign) AS annotators, "
        "(SELECT count(*) FROM campaign_assignments a WHERE a.campaign = c.campaign AND a.status = 'done') AS done, "
        "(SELECT count(*) FROM campaign_assignments a WHERE a.campaign = c.campaign) AS assigned, c.created_at "
        "FROM campaigns c ORDER BY c.created_at, c.campaign").fetchdf()


def campaign_info(store: Store, campaign: str) -> dict:
    """The campaign's record (design, strata, counts), without any token hash."""
    row = _campaign_row(store, campaign)
    row["design"] = json.loads(row["design"]) if row.get("design") else {}
    items = store.con.execute(
        "SELECT coalesce(stratum, '(all)') AS stratum, count(*) AS items, min(inclusion_prob) AS inclusion_prob "
        "FROM campaign_items WHERE campaign = ? GROUP BY 1 ORDER BY 1", [campaign]).fetchdf()
    row["strata"] = items.to_dict("records")
    return row
