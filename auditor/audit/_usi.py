"""The matched design's τ-USI rows: a simulator's user turns, successes and Eval scores, task by task, against
each human batch's (the statistic is :func:`auditor.stats.usi.usi_rows`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..stats import gap
from ..stats._arrays import unique as _unique
from ..stats.usi import FEATURE_PREFIX, USI_STATISTICS, usi_rows
from ..stats.usi_behaviour import FEATURES, conversation_features
from . import _fetch
from ._matched import _with_runs
from ._matched_data import _boot_kw, _nan_rows, _sel
from ._matched_eval import _eval_matrix, _impute_spec, ceiling_matrix

__all__ = ["usi_rows_for", "usi_ceiling_rows", "wants_usi"]


def wants_usi(opts) -> bool:
    return not opts.statistics or any(s in USI_STATISTICS or s.startswith("usi_feature") for s in opts.statistics)


def _keep(rows, opts):
    if not opts.statistics:
        return rows
    want = set(opts.statistics)
    every_feature = "usi_feature" in want
    return [r for r in rows if r.statistic in want or (every_feature and r.statistic.startswith(FEATURE_PREFIX))]


def _features(store, conv_ids: list[str]) -> dict[str, np.ndarray]:
    if not conv_ids:
        return {}
    con = store.con
    con.register("_usi_convs", pd.DataFrame({"conversation_id": conv_ids}))
    try:
        rows = con.execute("SELECT c.conversation_id, c.messages::VARCHAR FROM conversations c JOIN _usi_convs u "
                           "USING (conversation_id)").fetchall()
    finally:
        con.unregister("_usi_convs")
    out = {}
    for cid, text in rows:
        try:
            msgs = json.loads(text) if text else []
        except ValueError:
            msgs = []
        f = conversation_features(msgs if isinstance(msgs, list) else [])
        out[cid] = np.array([f[k] for k in FEATURES]) if f is not None else np.full(len(FEATURES), np.nan)
    return out


def _grid(df: pd.DataFrame, col: str, tasks: list, keys: list, feats: dict) -> tuple[np.ndarray, np.ndarray]:
    """(T, K, F) mean features and (T, K) success of the conversations of ``df`` by task and ``col``."""
    t_pos = {t: i for i, t in enumerate(tasks)}
    k_pos = {k: i for i, k in enumerate(keys)}
    F = np.zeros((len(tasks), len(keys), len(FEATURES)))
    n = np.zeros((len(tasks), len(keys)))
    S = np.zeros((len(tasks), len(keys)))
    ns = np.zeros((len(tasks), len(keys)))
    for conv, task, key, reward in zip(df["conv"], df["task"], df[col], df["reward"]):
        i, j = t_pos[task], k_pos[key]
        f = feats.get(conv)
        if f is not None and not np.isnan(f).any():
            F[i, j] += f
            n[i, j] += 1
        if reward is not None and reward == reward:
            S[i, j] += float(reward > 0)
            ns[i, j] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return F / n[..., None], np.where(ns > 0, S / np.maximum(ns, 1), np.nan)


def _eval_grid(store, ans, name, ref_names, dims, opts, raters, tasks, batches) -> np.ndarray | None:
    if ans is None:
        return None
    idx = raters[name].index
    ref_idx = [raters[n].index for n in ref_names]
    tasked = ans["task"] >= 0
    llm = _sel(ans, (ans["rater"] == idx) & tasked)
    ref = _sel(ans, np.isin(ans["rater"], ref_idx) & (ans["rater"] != idx) & tasked)
    if llm["value"].size == 0 or (~np.isnan(ref["value"])).sum() == 0:
        return None
    groups = sorted(_unique(ref["batch"]).tolist())
    impute, rng = _impute_spec(dims, opts)
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    M = _eval_matrix(ref, llm, "task", groups, nominal=nominal, impute=impute, rng=rng)
    codes = [r[0] for r in store.con.execute("SELECT DISTINCT task_id FROM conversations WHERE task_id IS NOT NULL "
                                             "ORDER BY task_id").fetchall()]
    E = np.full((len(tasks), len(batches)), np.nan)
    t_pos = {t: i for i, t in enumerate(tasks)}
    b_pos = {b: j for j, b in enumerate(batches)}
    for code, row in M.iterrows():
        i = t_pos.get(codes[int(code)])
        if i is None:
            continue
        for g, v in row.items():
            if int(g) in b_pos and v == v:
                E[i, b_pos[int(g)]] = v
    return E if not np.isnan(E).all() else None


def usi_rows_for(store, rubric, name, ref_names, raters, opts, convs, rated, difficulty, diff_note, ans, dims):
    """The ``usi``, ``usi_d*`` and ``usi_feature=<f>`` rows of matched simulator ``name``."""
    rater_convs = set(rated.loc[rated["rater"] == name, "conv"]) | set(convs.loc[convs["user_kind"] == name, "conv"])
    own = convs["conv"].isin(rater_convs) & (convs["user_kind"].fillna("") != "human")
    sim = convs[own & convs["keep"]]
    ref_convs = set(rated.loc[rated["rater"].isin(ref_names), "conv"])
    if not opts.reference:
        ref_convs |= set(convs.loc[convs["user_kind"] == "human", "conv"])
    hum = convs[convs["conv"].isin(ref_convs - set(convs.loc[own, "conv"])) & convs["keep"]]
    if sim.empty or hum.empty:
        why = ("none of this rater's own conversations (as the user) is tied to a task" if sim.empty else
               "no human conversation is tied to a task")
        return _keep(_nan_rows(USI_STATISTICS, why), opts)
    sim = _with_runs(sim)
    tasks = sorted(set(sim["task"]) | set(hum["task"]))
    runs = sorted(sim["run"].unique())
    batches = sorted(int(b) for b in hum["batch"].unique())
    feats = _features(store, list(sim["conv"]) + list(hum["conv"]))
    MF, S = _grid(sim, "run", tasks, runs, feats)
    HF, H = _grid(hum.assign(batch=hum["batch"].astype(int)), "batch", tasks, batches, feats)
    bins = gap.difficulty_bins(np.array([difficulty.get(t, np.nan) for t in tasks])) if difficulty else \
        np.full(len(tasks), -1, dtype=np.int64)
    E = _eval_grid(store, ans, name, ref_names, dims, opts, raters, tasks, batches)
    rows = usi_rows(MF, HF, S, H, bins, E, **_boot_kw(opts))
    n_nofeat = int(sum(np.isnan(feats.get(c, np.full(1, np.nan))).any() for c in sim["conv"]))
    extra = f"{diff_note}; features of the user turns of {len(sim)} simulator and {len(hum)} human conversations"
    if n_nofeat:
        extra += f" ({n_nofeat} simulator conversation(s) without a user turn left out)"
    for r in rows:
        r.note = f"{r.note}; {extra}"
    return _keep(rows, opts)


def _task_codes(store) -> list:
    return [r[0] for r in store.con.execute("SELECT DISTINCT task_id FROM conversations WHERE task_id IS NOT NULL "
                                            "ORDER BY task_id").fetchall()]


def usi_ceiling_rows(store, human_names, opts, convs, rated, difficulty, diff_note, ans, dims):
    """The human ceiling (rater ``human_loo``): each pair of human batches, one batch in the simulator's place, on
    the tasks both did; mean over pairs (the scorer's "Human (inter-ann.)" row). Eval here is the between-batch
    Eval (the ``human_loo`` ``eval_score``), not the study's same-conversation human Eval."""
    hconvs = set(rated.loc[rated["rater"].isin(human_names), "conv"]) | set(convs.loc[convs["user_kind"] == "human",
                                                                                     "conv"])
    hum = convs[convs["conv"].isin(hconvs) & convs["keep"]]
    batches = sorted(int(b) for b in hum["batch"].unique())
    if len(batches) < 2:
        return []
    hum = hum.assign(batch=hum["batch"].astype(int))
    tasks = sorted(set(hum["task"]))
    feats = _features(store, list(hum["conv"]))
    HF, H = _grid(hum, "batch", tasks, batches, feats)            # (T, nb, F), (T, nb)
    pairs = [(i, j) for i in range(len(batches)) for j in range(i + 1, len(batches))]
    MF = np.stack([HF[:, i] for i, _ in pairs], axis=1)[:, None]   # (T, 1, P, F): the first batch of each pair
    S = np.stack([H[:, i] for i, _ in pairs], axis=1)[:, None]
    HF2 = np.stack([HF[:, j] for _, j in pairs], axis=1)
    H2 = np.stack([H[:, j] for _, j in pairs], axis=1)
    bins = gap.difficulty_bins(np.array([difficulty.get(t, np.nan) for t in tasks])) if difficulty else \
        np.full(len(tasks), -1, dtype=np.int64)
    E = None
    got = ceiling_matrix(ans, human_names, dims, _fetch.raters(store)) if ans is not None else None
    if got is not None:
        M, _ = got
        codes, t_pos = _task_codes(store), {t: i for i, t in enumerate(tasks)}
        E = np.full((len(tasks), len(pairs)), np.nan)
        col = {(batches[i], batches[j]): k for k, (i, j) in enumerate(pairs)}
        for (bi, bj), series in M.items():
            k = col.get((int(bi), int(bj)))
            for code, v in series.items():
                i = t_pos.get(codes[int(code)])
                if k is not None and i is not None and v == v:
                    E[i, k] = v
        if np.isnan(E).all():
            E = None
    rows = usi_rows(MF, HF2, S, H2, bins, E, per_group=True, **_boot_kw(opts))
    for r in rows:
        r.note = (f"human ceiling: each pair of human batches ({len(pairs)} pairs) on the tasks both did, one in the "
                  f"simulator's place; Eval = between-batch Eval, not the study's same-conversation human Eval; "
                  f"{r.note.replace('batch(es)', 'pair(s)')}; {diff_note}")
    return _keep(rows, opts)
