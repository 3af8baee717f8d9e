"""Reading campaigns: tokens to annotators, an annotator's next item, progress, the questionnaire of a rubric."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..errors import NotAllowed, NotFound
from ..rubric import Rubric, rubric_from_spec
from ..store import Store
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
    return rubric_from_spec(spec[0][0])


def questions(rubric: Rubric) -> list[dict]:
    """The questionnaire: one entry per dimension, every option, and whether 'not applicable' is offered."""
    return [{"dimension": d.name, "question": d.question or d.name, "level": d.level,
             "options": [{"label": o.label, "value": o.value} for o in d.options],
             "not_applicable": d.missing_code is not None} for d in rubric.dimensions]


def conversation_messages(store: Store, conversation_id: str) -> list[dict]:
    """A conversation's messages as ``[{"role", "content"}]`` with text content (structured content as JSON)."""
    row = store.con.execute("SELECT messages FROM conversations WHERE conversation_id = ?",
                            [conversation_id]).fetchall()
    return _messages(row[0][0] if row else None)


def _campaign_row(store: Store, campaign: str) -> dict:
    cur = store.con.execute("SELECT * EXCLUDE (admin_token_hash) FROM campaigns WHERE campaign = ?", [campaign])
    row = cur.fetchall()
    if not row:
        raise NotFound(f"no campaign named {campaign!r}. Fix: `auditor annotate list` shows the stored ones.")
    return dict(zip([d[0] for d in cur.description], row[0]))


_ITEM_SQL = """
WITH mine AS (SELECT item_id, status, position FROM campaign_assignments WHERE campaign = $campaign AND
              annotator = $annotator),
     counts AS (SELECT count(*) AS total, count(*) FILTER (status = 'done') AS done,
                       count(*) FILTER (status = 'skipped') AS skipped FROM mine),
     pick AS ({pick})
SELECT pick.item_id, pick.status, i.conversation_id, cv.messages, counts.total, counts.done, counts.skipped,
       c.status AS campaign_status, r.spec
FROM counts CROSS JOIN campaigns c JOIN rubrics r ON r.rubric = c.rubric
LEFT JOIN pick ON true
LEFT JOIN campaign_items i ON i.campaign = c.campaign AND i.item_id = pick.item_id
LEFT JOIN conversations cv ON cv.conversation_id = i.conversation_id
WHERE c.campaign = $campaign
"""
_NEXT = _ITEM_SQL.format(pick="SELECT item_id, status FROM mine WHERE status <> 'done' ORDER BY status = 'skipped', "
                              "position LIMIT 1")
_ONE = _ITEM_SQL.format(pick="SELECT item_id, status FROM mine WHERE item_id = $item")


def _messages(raw) -> list[dict]:
    raw = json.loads(raw) if raw else []
    out = []
    for m in raw if isinstance(raw, list) else []:
        m = m if isinstance(m, dict) else {"role": "?", "content": m}
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        out.append({"role": str(m.get("role", "?")), "content": text or ""})
    return out


def _item(store: Store, who: Annotator, sql: str, params: dict) -> tuple[dict | None, str | None]:
    """(the item as the API returns it, or None; the item's assignment status). One query."""
    rows = store.con.execute(sql, {"campaign": who.campaign, "annotator": who.name, **params}).fetchall()
    if not rows:
        raise NotFound(f"no campaign named {who.campaign!r}")
    item_id, item_status, conv, messages, total, done, skipped, camp_status, spec = rows[0]
    if item_id is None:
        return None, None
    rubric = rubric_from_spec(spec)
    return {"item_id": int(item_id), "campaign": who.campaign, "status": camp_status,
            "conversation": {"conversation_id": conv, "messages": _messages(messages)},
            "questions": questions(rubric), "progress": {"total": total, "done": done, "skipped": skipped}
            }, item_status


def next_item(store: Store, who: Annotator) -> dict | None:
    """The annotator's next item (pending ones in queue order, then skipped ones), or None when all are done."""
    return _item(store, who, _NEXT, {})[0]


def item_view(store: Store, who: Annotator, item_id: int) -> dict:
    """One assigned item with the annotator's own current answers (for editing); never anyone else's."""
    item, item_status = _item(store, who, _ONE, {"item": int(item_id)})
    if item is None:
        raise NotAllowed(f"item {item_id} is not assigned to you in this campaign")
    answers = store.con.execute(
        "SELECT dimension, status, label FROM campaign_answers WHERE campaign = ? AND item_id = ? AND annotator = ?",
        [who.campaign, item_id, who.name]).fetchall()
    item["answers"] = {d: (lab if st == "ok" else None) for d, st, lab in answers}
    item["item_status"] = item_status
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
