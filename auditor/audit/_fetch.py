"""Read what the audit needs from the store as integer-coded numpy arrays (no per-row Python objects)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..rubric import Rubric, rubric_from_spec
from ..store import Store

__all__ = ["DimensionSignals", "RaterInfo", "raters", "dimension_signals", "stored_rubrics", "load_stored_rubric",
           "nonrandom_units"]


@dataclass
class RaterInfo:
    rater_id: str
    kind: str
    index: int
    model: str | None = None
    config_hash: str | None = None


@dataclass
class DimensionSignals:
    """All 'ok' signals of one dimension: one element per signal."""

    conv: np.ndarray       # int64 conversation key
    task: np.ndarray       # int64 task code (-1 = none)
    rater: np.ndarray      # int32 rater index (RaterInfo.index)
    sample: np.ndarray     # int32
    value: np.ndarray      # float64
    batch: np.ndarray      # int32 human batch code (-1 = none)
    memo: dict = field(default_factory=dict, repr=False, compare=False)   # per-unit scores computed from these
    # what one audit reads once for all dimensions (rubric-level lookups); the audit loop shares one dict
    shared: dict = field(default_factory=dict, repr=False, compare=False)


def raters(store: Store) -> dict[str, RaterInfo]:
    rows = store.con.execute("SELECT rater_id, kind, model, config_hash FROM raters ORDER BY rater_id").fetchall()
    return {r[0]: RaterInfo(r[0], r[1], i, r[2], r[3]) for i, r in enumerate(rows)}


def stored_rubrics(store: Store) -> list[str]:
    return [r[0] for r in store.con.execute(
        "SELECT DISTINCT rubric FROM signals WHERE status = 'ok' ORDER BY rubric").fetchall()]


def load_stored_rubric(store: Store, name: str) -> Rubric:
    spec = store.con.execute("SELECT spec FROM rubrics WHERE rubric = ?", [name]).fetchall()
    if not spec:
        raise AuditorError(f"rubric {name!r} is not in this store. Fix: use one of "
                           f"{', '.join(stored_rubrics(store)) or '(none yet)'}.")
    return rubric_from_spec(spec[0][0])


def dimension_signals(store: Store, rubric: str, dimension: str) -> DimensionSignals:
    q = """
    WITH r AS (SELECT rater_id, (row_number() OVER (ORDER BY rater_id) - 1)::INTEGER AS idx FROM raters),
         t AS (SELECT task_id, (row_number() OVER (ORDER BY task_id) - 1)::BIGINT AS tidx FROM tasks)
    SELECT c.conv_key AS conv, coalesce(t.tidx, -1) AS task, r.idx AS rater, s.sample::INTEGER AS sample,
           s.value AS value, coalesce(try_cast(c.human_batch AS INTEGER), -1) AS batch
    FROM signals s
    JOIN conversations c USING (conversation_id)
    JOIN r USING (rater_id)
    LEFT JOIN t ON t.task_id = c.task_id
    WHERE s.rubric = ? AND s.dimension = ? AND s.status = 'ok' AND s.value IS NOT NULL
    """
    d = store.con.execute(q, [rubric, dimension]).fetchnumpy()
    return DimensionSignals(np.asarray(d["conv"], dtype=np.int64), np.asarray(d["task"], dtype=np.int64),
                            np.asarray(d["rater"], dtype=np.int32), np.asarray(d["sample"], dtype=np.int32),
                            np.asarray(d["value"], dtype=float), np.asarray(d["batch"], dtype=np.int32))


def failed_units(store: Store, rubric: str, dimension: str, shared: dict | None = None) -> dict[int, np.ndarray]:
    """{rater index: conversation keys} where the rater's every signal on this dimension failed (an LLM verdict
    that could not be parsed), so the rater has no score there. One read per rubric, memoised in ``shared``."""
    key = ("failed", rubric)
    if shared is not None and key in shared:
        return shared[key].get(dimension, {})
    q = """
    WITH r AS (SELECT rater_id, (row_number() OVER (ORDER BY rater_id) - 1)::INTEGER AS idx FROM raters)
    SELECT s.dimension, r.idx, c.conv_key FROM signals s JOIN conversations c USING (conversation_id)
    JOIN r USING (rater_id)
    WHERE s.rubric = ? AND s.status = 'failed' AND NOT EXISTS (
        SELECT 1 FROM signals o WHERE o.rubric = s.rubric AND o.dimension = s.dimension
        AND o.conversation_id = s.conversation_id AND o.rater_id = s.rater_id AND o.status = 'ok'
        AND o.value IS NOT NULL)
    GROUP BY ALL
    """
    found: dict[str, dict[int, list]] = {}
    for d, idx, conv in store.con.execute(q, [rubric]).fetchall():
        found.setdefault(d, {}).setdefault(int(idx), []).append(conv)
    out = {d: {k: np.asarray(sorted(v), dtype=np.int64) for k, v in by.items()} for d, by in found.items()}
    if shared is not None:
        shared[key] = out
    return out.get(dimension, {})


def nonrandom_units(store: Store, rubric: str) -> dict[int, str]:
    """Conversation key -> campaign, for conversations whose human labels on ``rubric`` come from a campaign that
    chose its items by a non-random rule (``disagreement``): corrected estimates cannot use them."""
    has = store.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'campaigns'"
                            ).fetchall()[0][0]
    if not has or not store.con.execute("SELECT count(*) FROM campaigns WHERE strategy = 'disagreement' AND "
                                        "rubric = ?", [rubric]).fetchall()[0][0]:
        return {}
    rows = store.con.execute(
        "SELECT DISTINCT c.conv_key, cp.campaign FROM campaigns cp JOIN campaign_answers a USING (campaign) "
        "JOIN campaign_items i ON i.campaign = a.campaign AND i.item_id = a.item_id "
        "JOIN conversations c ON c.conversation_id = i.conversation_id "
        "WHERE cp.strategy = 'disagreement' AND cp.rubric = ? AND a.status = 'ok'", [rubric]).fetchall()
    return {int(k): c for k, c in rows}


def selected_among(store: Store, sig: DimensionSignals, rubric: str, units: np.ndarray) -> tuple[int, list[str]]:
    """How many of ``units`` carry human labels chosen by a non-random rule, and from which campaigns (memoised for
    the whole audit)."""
    key = ("nonrandom", rubric)
    if key not in sig.shared:
        sig.shared[key] = nonrandom_units(store, rubric)
    chosen = sig.shared[key]
    if not chosen:
        return 0, []
    hit = [chosen[int(u)] for u in np.asarray(units) if int(u) in chosen]
    return len(hit), sorted(set(hit))


def inclusion_probs(store: Store, sig: DimensionSignals, rubric: str) -> dict[int, tuple[float, str, str | None]]:
    """Conversation key -> (inclusion probability, campaign(s), stratum) for conversations whose labels on ``rubric``
    come from probability campaigns (all / random / stratified) or from a signals file with an ``inclusion_prob``
    column (named ``file <source>``). Several designs on one conversation combine as independent draws:
    1 - prod(1 - pi) (and have no single stratum). Memoised for the whole audit."""
    key = ("inclusion", rubric)
    if key in sig.shared:
        return sig.shared[key]
    rows = store.con.execute(
        "WITH d AS (SELECT i.conversation_id, i.inclusion_prob AS p, cp.campaign AS src, i.stratum "
        "FROM campaigns cp JOIN campaign_items i USING (campaign) "
        "WHERE cp.rubric = $r AND i.inclusion_prob IS NOT NULL AND EXISTS (SELECT 1 FROM campaign_answers a "
        "WHERE a.campaign = i.campaign AND a.item_id = i.item_id AND a.status = 'ok') "
        "UNION ALL SELECT conversation_id, inclusion_prob, 'file ' || source, stratum FROM label_designs "
        "WHERE rubric = $r) "
        "SELECT c.conv_key, 1 - product(1 - d.p), string_agg(DISTINCT d.src, ', '), "
        "CASE WHEN count(*) = 1 THEN any_value(d.src || ':' || coalesce(d.stratum, '')) END "
        "FROM d JOIN conversations c USING (conversation_id) GROUP BY 1", {"r": rubric}).fetchall()
    out = {int(k): (float(p), c, h) for k, p, c, h in rows}
    sig.shared[key] = out
    return out


def selection_note(n: int, campaigns: list[str]) -> str:
    return (f"warning: {n} of these conversations were chosen for relabelling by largest disagreement (campaign "
            f"{', '.join(campaigns)}), not at random: this describes that mix of conversations, not a random sample")


def conversation_ids(store: Store) -> pd.DataFrame:
    return store.con.execute("SELECT conv_key, conversation_id FROM conversations").fetchdf()
