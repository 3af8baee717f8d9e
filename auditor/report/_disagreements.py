"""The largest disagreements: for each LLM rater, the conversations where it departs most from the humans.

Score of a conversation = the mean over dimensions of |LLM - human| / (the dimension's option range), so 0 = same
answers and 1 = opposite ends of every scale (1 - Eval / 100 for that conversation). The LLM's samples and the
humans' ratings are aggregated with the audit's consensus rules (paired design). In the matched design (a simulator
rating its own conversation) the reference is the humans' consensus on the same task, from their own conversations.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..audit import _fetch
from ..audit._consensus import consensus
from ._format import clip_text, fmt, is_num, plural
from ._pairs import SignalCache, pair_up

__all__ = ["largest_disagreements", "excerpt"]

EXCERPT_HEAD = 3          # messages shown from the start of a long conversation
EXCERPT_TAIL = 2          # ... and from its end
MESSAGE_CHARS = 400       # characters shown per message
RATIONALE_CHARS = 1200


def excerpt(messages, *, head: int = EXCERPT_HEAD, tail: int = EXCERPT_TAIL, chars: int = MESSAGE_CHARS) -> dict:
    """``{"messages": [{"role", "content", "clipped"}], "omitted": k, "omitted_at": i, "total": n}``."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError:
            messages = [{"role": "text", "content": messages}]
    if not isinstance(messages, list):       # NULL (a conversation created by a signals load) comes as NaN
        messages = []
    msgs = [m for m in messages if isinstance(m, dict)]
    total = len(msgs)
    omitted, at = 0, None
    if total > head + tail + 1:
        omitted, at = total - head - tail, head
        msgs = msgs[:head] + msgs[total - tail:]
    out = []
    for m in msgs:
        text, cut = clip_text(m.get("content", ""), chars)
        out.append({"role": str(m.get("role", "")), "content": text, "clipped": cut})
    return {"messages": out, "omitted": omitted, "omitted_at": at, "total": total}


def _answer_text(label, value, dim) -> str:
    if isinstance(label, str) and label != "":      # a missing label comes as None or NaN
        return label
    if not is_num(value):
        return "n/a"
    labels = [o.label for o in dim.options if o.value == float(value)]
    return " / ".join(labels) if labels else fmt(value)


def _scores(store, rater: str, rubric, design: str, ref_idx: list[int], raters, sigs) -> pd.DataFrame:
    """One row per (conversation key, dimension) with the rescaled signed difference and both sides' scores."""
    idx = raters[rater].index
    frames = []
    drop = np.array([r[0] for r in store.con.execute(
        "SELECT conv_key FROM conversations WHERE keep = false").fetchall()], dtype=np.int64)
    for dim in rubric.dimensions:
        sig = sigs(rubric.name, dim.name)
        if not np.any(sig.rater == idx):
            continue
        lo, hi = dim.value_range
        scale = (hi - lo) or 1.0
        if design == "paired":
            units, x, y = pair_up(sig, idx, ref_idx, dim.level)
        else:
            m_l = (sig.rater == idx) & ~np.isin(sig.conv, drop) & (sig.task >= 0)
            m_h = np.isin(sig.rater, ref_idx) & ~np.isin(sig.conv, drop) & (sig.task >= 0)
            if not m_l.any() or not m_h.any():
                continue
            units, x, _ = consensus(sig.conv[m_l], sig.value[m_l], dim.level)
            task_of = dict(zip(sig.conv[m_l].tolist(), sig.task[m_l].tolist()))
            t_ids, t_val, _ = consensus(sig.task[m_h], sig.value[m_h], dim.level)
            ref = dict(zip(t_ids.tolist(), t_val.tolist()))
            y = np.array([ref.get(task_of[u], np.nan) for u in units.tolist()])
            keep = ~np.isnan(y)
            units, x, y = units[keep], x[keep], y[keep]
        if units.size == 0:
            continue
        frames.append(pd.DataFrame({"conv_key": units, "dimension": dim.name, "llm": x, "human": y,
                                    "d": (x - y) / scale}))
    if not frames:
        return pd.DataFrame(columns=["conv_key", "dimension", "llm", "human", "d"])
    return pd.concat(frames, ignore_index=True)


def _ties(scores: np.ndarray, shown: int) -> dict | None:
    """How the cut after the ``shown`` largest (descending) ``scores`` falls: None when it separates different
    scores; else the tied score, how many conversations have it, how many of them are shown, and whether the tie
    is at the very top (every shown conversation has the largest score)."""
    if shown == 0 or shown >= len(scores):
        return None
    cut = scores[shown - 1]
    same = np.isclose(scores, cut, rtol=0, atol=1e-9)
    if not same[shown]:
        return None
    return {"score": float(cut), "n_tied": int(same.sum()), "n_tied_shown": int(same[:shown].sum()),
            "at_top": bool(np.isclose(scores[0], cut, rtol=0, atol=1e-9))}


def largest_disagreements(store, rater: str, rubric, design: str, *, reference: str = "humans", top: int = 10,
                          raters=None, sigs=None) -> dict:
    """The ``top`` conversations where ``rater`` departs most from the reference, with excerpts and answers.

    Returns ``{"rater", "rubric", "design", "n_scored", "ties", "items": [...]}``; conversations of equal score are
    listed by id, and ``ties`` (None when the cut falls between different scores) says how many share the score at
    the cut and how many of them are shown. Each item holds the conversation id,
    its score (mean |LLM - human| as a share of the scale), a message excerpt and, per dimension, the human and
    LLM answers as stored and the LLM's rationale (or raw output) when stored.
    """
    raters = raters or _fetch.raters(store)
    sigs = sigs or SignalCache(store)
    human_idx = [i.index for i in raters.values() if i.kind == "human"]
    ref_idx = [raters[reference].index] if reference in raters else human_idx
    sc = _scores(store, rater, rubric, design, ref_idx, raters, sigs)
    out = {"rater": rater, "rubric": rubric.name, "design": design, "n_scored": 0, "items": [], "ties": None}
    if sc.empty or top <= 0:
        return out
    sc["abs"] = sc["d"].abs()
    per = sc.groupby("conv_key").agg(score=("abs", "mean"), n_dims=("abs", "size"), signed=("d", "mean"))
    keys = store.con.execute("SELECT conv_key, conversation_id FROM conversations").fetchdf()
    per = per.join(keys.set_index("conv_key")).reset_index()
    per = per.sort_values(["score", "conversation_id"], ascending=[False, True])
    out["n_scored"] = int(len(per))
    chosen = per.head(top)
    out["ties"] = _ties(per["score"].to_numpy(), len(chosen))
    ids = chosen["conversation_id"].tolist()
    conv = store.con.execute(
        "SELECT conversation_id, task_id, user_kind, messages, n_turns, n_chars FROM conversations "
        "WHERE list_contains(?, conversation_id)", [ids]).fetchdf().set_index("conversation_id")
    llm = store.con.execute(
        # a judge's raw reply is stored once per item (on its first dimension's row): share it with the others
        "SELECT conversation_id, dimension, sample, status, label, value, rationale, "
        "coalesce(raw, max(raw) OVER (PARTITION BY conversation_id, sample)) AS raw FROM signals "
        "WHERE rubric = ? AND rater_id = ? AND list_contains(?, conversation_id) ORDER BY sample",
        [rubric.name, rater, ids]).fetchdf()
    llm_by = {k: g for k, g in llm.groupby(["conversation_id", "dimension"], sort=False)}
    ref_names = [n for n, i in raters.items() if i.index in ref_idx]
    if design == "paired":
        hum = store.con.execute(
            "SELECT conversation_id AS key, dimension, rater_id, label, value FROM signals WHERE rubric = ? "
            "AND status = 'ok' AND list_contains(?, rater_id) AND list_contains(?, conversation_id) "
            "ORDER BY rater_id, sample", [rubric.name, ref_names, ids]).fetchdf()
    else:
        tasks = [t for t in conv["task_id"].dropna().unique().tolist()]
        hum = store.con.execute(
            "SELECT c.task_id AS key, s.dimension, s.rater_id, s.label, s.value FROM signals s JOIN conversations c "
            "USING (conversation_id) WHERE s.rubric = ? AND s.status = 'ok' AND list_contains(?, s.rater_id) "
            "AND list_contains(?, c.task_id) AND coalesce(c.keep, true) ORDER BY s.rater_id",
            [rubric.name, ref_names, tasks]).fetchdf()
    hum_by = {k: g for k, g in hum.groupby(["key", "dimension"], sort=False)}
    dims = {d.name: d for d in rubric.dimensions}
    empty = pd.DataFrame(columns=["label", "value", "rater_id", "status", "rationale", "raw"])
    for row in chosen.itertuples():
        cid = row.conversation_id
        c = conv.loc[cid] if cid in conv.index else None
        task = None if c is None or not isinstance(c["task_id"], str) else c["task_id"]
        mine = sc[sc["conv_key"] == row.conv_key].sort_values(["abs", "dimension"], ascending=[False, True])
        answers = []
        for m in mine.itertuples():
            dim = dims[m.dimension]
            ls = llm_by.get((cid, m.dimension), empty)
            ok = ls[ls["status"] == "ok"]
            llm_txt = ", ".join(_answer_text(lab, v, dim) for lab, v in zip(ok["label"], ok["value"])) or "n/a"
            hs = hum_by.get(((cid if design == "paired" else task), m.dimension), empty)
            texts = [_answer_text(lab, v, dim) for lab, v in zip(hs["label"], hs["value"])]
            if design == "paired":
                human_txt = ", ".join(f"{t} ({r})" for t, r in zip(texts, hs["rater_id"]))
            else:
                counts = pd.Series(texts, dtype=object).value_counts().sort_index()
                human_txt = (f"same task, {plural(len(texts), 'human answer')}: "
                             + "; ".join(f"{a} ×{k}" for a, k in counts.items())) if texts else ""
            rat = next((r for r in ok["rationale"] if isinstance(r, str) and r.strip()), None)
            raw = next((r for r in ls["raw"] if isinstance(r, str) and r.strip()), None)
            rat_text, rat_cut = clip_text(rat, RATIONALE_CHARS) if rat else (None, False)
            raw_text = clip_text(raw, RATIONALE_CHARS)[0] if raw and not rat else None
            answers.append({"dimension": m.dimension, "human": human_txt or "n/a", "llm": llm_txt,
                            "human_score": float(m.human), "llm_score": float(m.llm), "diff": float(m.d),
                            "rationale": rat_text, "rationale_clipped": rat_cut, "raw": raw_text})
        out["items"].append({"conversation_id": cid, "task_id": task, "score": float(row.score),
                             "signed": float(row.signed), "n_dims": int(row.n_dims),
                             "n_turns": None if c is None or not is_num(c["n_turns"]) else int(c["n_turns"]),
                             "excerpt": excerpt(c["messages"] if c is not None else None),
                             "has_rationale": any(a["rationale"] or a["raw"] for a in answers),
                             "answers": answers})
    return out
