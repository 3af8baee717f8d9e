"""Every conversation with every rating side by side (the web app's browse view, over the store).

``browse`` lists conversations of a rubric with each rater's value on one dimension (or, for ``"all"``, each
rater's mean over the dimensions rescaled to [0, 1]) and a *disagreement* score: per dimension, the spread
(max − min) of the raters' values divided by the dimension's option range, averaged over the dimensions shown.
``conversation_detail`` gives one conversation's messages and every rating with its rationale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from .errors import NotFound
from .store import Store

__all__ = ["BrowseQuery", "browse", "conversation_detail", "browse_choices"]

SORTS = ("disagreement", "conversation")
KIND_ORDER = "CASE r.kind WHEN 'human' THEN 0 WHEN 'judge' THEN 1 ELSE 2 END"


@dataclass
class BrowseQuery:
    rubric: str | None = None
    dimension: str | None = None       # None = the rubric's first dimension; "all" = every dimension
    rater: str | None = None           # only conversations this rater rated
    task: str | None = None
    system: str | None = None          # conversations.system_id
    campaign: str | None = None        # only the campaign's items
    sort: str = "disagreement"
    limit: int = 50
    offset: int = 0


def browse_choices(store: Store) -> dict:
    """What the filters can take: rubrics with their dimensions, raters with kinds, campaigns."""
    dims: dict[str, list[str]] = {}
    for rub, dim in store.con.execute("SELECT rubric, dimension FROM dimensions WHERE rubric IN (SELECT DISTINCT "
                                      "rubric FROM signals) ORDER BY rubric, position").fetchall():
        dims.setdefault(rub, []).append(dim)
    raters = store.con.execute(f"SELECT rater_id, kind FROM raters r ORDER BY {KIND_ORDER}, rater_id").fetchall()
    campaigns = [r[0] for r in store.con.execute("SELECT campaign FROM campaigns ORDER BY campaign").fetchall()]
    return {"rubrics": dims, "raters": [{"rater_id": r, "kind": k} for r, k in raters], "campaigns": campaigns,
            "sorts": list(SORTS)}


def _resolve(store: Store, q: BrowseQuery) -> tuple[str, list[str]]:
    choices = browse_choices(store)["rubrics"]
    if not choices:
        raise NotFound("the store holds no ratings yet. Fix: run `auditor demo`, or ingest signals")
    rubric = q.rubric or next(iter(choices))
    if rubric not in choices:
        raise NotFound(f"no ratings for rubric {rubric!r}; rubrics with ratings: {', '.join(choices)}")
    if q.dimension in (None, ""):
        return rubric, choices[rubric][:1]
    if q.dimension == "all":
        return rubric, choices[rubric]
    if q.dimension not in choices[rubric]:
        raise NotFound(f"rubric {rubric!r} has no dimension {q.dimension!r}; its dimensions: "
                       f"{', '.join(choices[rubric])}")
    return rubric, [q.dimension]


def browse(store: Store, q: BrowseQuery) -> dict:
    """One page of conversations: ``{"rubric", "dimensions", "raters", "rows", "total"}``; each row has the
    conversation, task, turns, disagreement and ``values`` {rater: value} (raters in human, judge, simulator order)."""
    if q.sort not in SORTS:
        raise NotFound(f"unknown sort {q.sort!r}; use one of {', '.join(SORTS)}")
    rubric, dims = _resolve(store, q)
    where, params = ["s.rubric = ?", "s.dimension = ANY(?)", "s.status = 'ok'", "s.value IS NOT NULL"], [rubric, dims]
    if q.task:
        where.append("c.task_id = ?")
        params.append(q.task)
    if q.system:
        where.append("c.system_id = ?")
        params.append(q.system)
    if q.campaign:
        where.append("s.conversation_id IN (SELECT conversation_id FROM campaign_items WHERE campaign = ?)")
        params.append(q.campaign)
    if q.rater:
        where.append("s.conversation_id IN (SELECT conversation_id FROM signals WHERE rater_id = ? AND rubric = ?)")
        params += [q.rater, rubric]
    base = f"""
        WITH v AS (
            SELECT s.conversation_id, s.dimension, s.rater_id, avg(s.value) AS value,
                   (avg(s.value) - d.value_min) / nullif(d.value_max - d.value_min, 0) AS scaled
            FROM signals s JOIN dimensions d USING (rubric, dimension) LEFT JOIN conversations c USING (conversation_id)
            WHERE {' AND '.join(where)} GROUP BY s.conversation_id, s.dimension, s.rater_id, d.value_min, d.value_max),
        spread AS (SELECT conversation_id, dimension, max(scaled) - min(scaled) AS spread, count(*) AS n_raters
                   FROM v GROUP BY ALL),
        conv AS (SELECT conversation_id, avg(spread) FILTER (n_raters > 1) AS disagreement, max(n_raters) AS n_raters
                 FROM spread GROUP BY 1)"""
    total = store.con.execute(base + " SELECT count(*) FROM conv", params).fetchall()[0][0]
    order = ("disagreement DESC NULLS LAST, conversation_id" if q.sort == "disagreement" else "conversation_id")
    page = store.con.execute(
        base + f" SELECT conv.conversation_id, c.task_id, c.n_turns, conv.disagreement, conv.n_raters FROM conv "
               f"LEFT JOIN conversations c USING (conversation_id) ORDER BY {order} LIMIT ? OFFSET ?",
        params + [max(1, min(q.limit, 500)), max(0, q.offset)]).fetchdf()
    cells = store.con.execute(
        base + f" SELECT v.conversation_id, v.rater_id, avg(v.{'scaled' if len(dims) > 1 else 'value'}) FROM v "
               "WHERE v.conversation_id = ANY(?) GROUP BY 1, 2",
        params + [page["conversation_id"].tolist()]).fetchall()
    raters = [r for r, _ in store.con.execute(
        f"SELECT DISTINCT r.rater_id, {KIND_ORDER} AS o FROM signals s JOIN raters r USING (rater_id) WHERE "
        f"s.rubric = ? AND s.conversation_id = ANY(?) ORDER BY o, r.rater_id",
        [rubric, page["conversation_id"].tolist()]).fetchall()]
    by_conv: dict[str, dict] = {}
    for cid, rater, value in cells:
        by_conv.setdefault(cid, {})[rater] = value
    rows = [{"conversation_id": r.conversation_id, "task_id": None if pd.isna(r.task_id) else r.task_id,
             "n_turns": None if pd.isna(r.n_turns) else int(r.n_turns),
             "disagreement": None if pd.isna(r.disagreement) else float(r.disagreement),
             "values": by_conv.get(r.conversation_id, {})} for r in page.itertuples(index=False)]
    kinds = dict(store.con.execute("SELECT rater_id, kind FROM raters").fetchall())
    return {"rubric": rubric, "dimensions": dims, "raters": [{"rater_id": r, "kind": kinds.get(r)} for r in raters],
            "rows": rows, "total": int(total), "offset": q.offset, "limit": q.limit,
            "scaled": len(dims) > 1}


def conversation_detail(store: Store, conversation_id: str) -> dict:
    """One conversation: its messages and fields, and every rating (every rater, dimension and sample)."""
    from .campaign import conversation_messages

    row = store.con.execute("SELECT conversation_id, task_id, user_kind, n_turns, reward, metadata FROM "
                            "conversations WHERE conversation_id = ?", [conversation_id]).fetchdf()
    if row.empty:
        raise NotFound(f"no conversation {conversation_id[:80]!r} in the store")
    r = row.iloc[0]
    ratings = store.con.execute(
        f"SELECT s.rubric, s.dimension, s.rater_id, r.kind, s.sample, s.status, s.label, s.value, s.confidence, "
        f"s.rationale, s.error FROM signals s JOIN raters r USING (rater_id) JOIN dimensions d USING (rubric, "
        f"dimension) WHERE s.conversation_id = ? ORDER BY s.rubric, d.position, {KIND_ORDER}, s.rater_id, s.sample",
        [conversation_id]).fetchdf()
    ratings = ratings.astype(object).where(ratings.notna(), None)
    return {"conversation_id": r.conversation_id, "task_id": r.task_id if pd.notna(r.task_id) else None,
            "user_kind": r.user_kind if pd.notna(r.user_kind) else None,
            "reward": None if pd.isna(r.reward) else float(r.reward),
            "metadata": json.loads(r.metadata) if isinstance(r.metadata, str) else None,
            "messages": conversation_messages(store, conversation_id),
            "ratings": ratings.to_dict("records")}
