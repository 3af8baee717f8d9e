"""The numbers behind the report's plots (also written to the JSON report): option distributions, confusion
matrices, reliability-diagram bins and the outcome-calibration table by task difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import gap
from ._pairs import SignalCache, pair_up

__all__ = ["value_axis", "option_distributions", "confusion_matrices", "reliability", "outcome_calibration",
           "RELIABILITY_BINS"]

RELIABILITY_BINS = 10


def value_axis(dim) -> tuple[np.ndarray, list[str]]:
    """The dimension's distinct option values (ascending) and one label per value (labels sharing a value joined)."""
    vals = np.array(dim.distinct_values, dtype=float)
    labels = [" / ".join(o.label for o in dim.options if o.value == v) for v in vals]
    return vals, labels


def _nearest(values: np.ndarray, axis: np.ndarray) -> tuple[np.ndarray, int]:
    """Index of the nearest option value for each value, and how many values were not on an option."""
    values = np.asarray(values, dtype=float)
    idx = np.abs(values[:, None] - axis[None, :]).argmin(axis=1) if values.size else np.array([], dtype=int)
    off = int(np.sum(~np.isclose(values, axis[idx]))) if values.size else 0
    return idx, off


def option_distributions(store, rubric, llm: list[str], raters, reference: str = "humans") -> list[dict]:
    """Per dimension: the share of answers on each option, for the humans (or the reference) and each LLM rater.

    Every stored answer counts (all samples); values off the options (an expected-value judge) are counted on
    the nearest option, and ``off_options`` says how many.
    """
    df = store.con.execute(
        "SELECT s.dimension, s.rater_id, r.kind, s.value, count(*) AS n FROM signals s JOIN raters r USING (rater_id) "
        "WHERE s.rubric = ? AND s.status = 'ok' AND s.value IS NOT NULL GROUP BY ALL", [rubric.name]).fetchdf()
    out = []
    for dim in rubric.dimensions:
        d = df[df["dimension"] == dim.name]
        if d.empty:
            continue
        axis, labels = value_axis(dim)
        series = []
        groups = [("humans" if reference == "humans" else reference, "human",
                   d[d["kind"] == "human"] if reference == "humans" else d[d["rater_id"] == reference])]
        groups += [(name, raters[name].kind if name in raters else "judge", d[d["rater_id"] == name]) for name in llm]
        for who, kind, g in groups:
            if g.empty:
                continue
            idx, _ = _nearest(g["value"].to_numpy(), axis)
            w = g["n"].to_numpy(dtype=float)
            counts = np.bincount(idx, weights=w, minlength=axis.size)
            on = np.isclose(g["value"].to_numpy(dtype=float), axis[idx])
            series.append({"who": who, "kind": kind, "n": int(w.sum()), "counts": counts.astype(int).tolist(),
                           "share": (counts / max(w.sum(), 1)).tolist(), "off_options": int(w[~on].sum())})
        if len(series) >= 2:
            out.append({"rubric": rubric.name, "dimension": dim.name, "level": dim.level, "values": axis.tolist(),
                        "labels": labels, "series": series})
    return out


def confusion_matrices(store, rubric, rater: str, raters, ref_idx: list[int], sigs=None) -> list[dict]:
    """Per dimension (paired design): counts of (human consensus option, LLM option) over conversations."""
    out = []
    idx = raters[rater].index
    for dim in rubric.dimensions:
        sig = (sigs or SignalCache(store))(rubric.name, dim.name)
        if not np.any(sig.rater == idx):
            continue
        units, x, y = pair_up(sig, idx, ref_idx, dim.level)
        if units.size == 0:
            continue
        axis, labels = value_axis(dim)
        ix, off_x = _nearest(x, axis)
        iy, off_y = _nearest(y, axis)
        m = np.zeros((axis.size, axis.size), dtype=int)
        np.add.at(m, (iy, ix), 1)
        out.append({"rater": rater, "rubric": rubric.name, "dimension": dim.name, "labels": labels,
                    "values": axis.tolist(), "counts": m.tolist(), "n": int(units.size),
                    "llm_off_options": off_x, "human_off_options": off_y})
    return out


def reliability(store, rubric, rater: str, raters, ref_idx: list[int], *, n_bins: int = RELIABILITY_BINS,
                sigs=None) -> dict | None:
    """Reliability-diagram bins of the LLM's top-label confidence against the human consensus (paired design).

    The forecasts are the audit's (``auditor.audit._extras.calibration_inputs``: option probabilities collapsed
    onto option values, else a stated confidence) and the bins are
    :func:`auditor.stats.calibration.reliability_diagram`'s equal-width bins, so ``ece`` here is the audit's ``ece``
    point estimate. Returns None when the rater stored no confidences or probabilities.
    """
    from ..audit._extras import calibration_inputs
    from ..stats.calibration import reliability_diagram

    panels = []
    pooled_c, pooled_k, source = [], [], ""
    for dim in rubric.dimensions:
        sig = (sigs or SignalCache(store))(rubric.name, dim.name)
        if not np.any(sig.rater == raters[rater].index):
            continue
        units, _, y = pair_up(sig, raters[rater].index, ref_idx, dim.level)
        ci = calibration_inputs(store, rubric.name, dim, rater, units, y)
        if ci is None or len(ci.confidence) == 0:
            continue
        source = ci.source
        panels.append(_panel(dim.name, np.asarray(ci.confidence), np.asarray(ci.correct), n_bins,
                             reliability_diagram))
        pooled_c.append(np.asarray(ci.confidence))
        pooled_k.append(np.asarray(ci.correct))
    if not panels:
        return None
    pooled = _panel("all dimensions", np.concatenate(pooled_c), np.concatenate(pooled_k), n_bins,
                    reliability_diagram)
    return {"rater": rater, "rubric": rubric.name, "n_bins": n_bins, "pooled": pooled, "dimensions": panels,
            "definition": source + f"; {n_bins} equal-width bins"}


def _panel(name: str, conf: np.ndarray, correct: np.ndarray, n_bins: int, diagram) -> dict:
    d = diagram(conf, correct, n_bins=n_bins, strategy="uniform")
    ece = float(np.sum(d["weight"] * np.abs(d["gap"]))) if len(d) else float("nan")
    return {"dimension": name, "n": int(conf.size), "ece": ece, "accuracy": float(np.mean(correct)),
            "mean_confidence": float(np.mean(conf)),
            "bins": [{"lo": float(r.lower), "hi": float(r.upper), "n": int(r.n), "confidence": float(r.mean_confidence),
                      "accuracy": float(r.accuracy)} for r in d.itertuples()]}


def _difficulty(store, convs: pd.DataFrame, sims: set, difficulty_file: str | None) -> tuple[dict, str]:
    if difficulty_file:
        from ..audit._matched import load_difficulty_file

        d = load_difficulty_file(difficulty_file)
        return d, f"frozen difficulty map {Path(difficulty_file).name}"
    stored = dict(store.con.execute("SELECT task_id, difficulty FROM tasks WHERE difficulty IS NOT NULL").fetchall())
    if stored:
        return {str(k): float(v) for k, v in stored.items()}, "task difficulty stored in the tasks table"
    pool = convs[convs["conv"].isin(sims)]
    d = gap.pooled_difficulty(pool["task"], (pool["reward"] > 0).astype(float), min_runs=gap.MIN_POOLED_RUNS)
    return d, (f"success pooled over the {len(pool)} simulator runs in the store (tasks with >= "
               f"{gap.MIN_POOLED_RUNS} runs)")


def outcome_calibration(store, rater: str, *, difficulty_file: str | None = None) -> dict | None:
    """Success of an LLM user and of real users per task-difficulty bin (cut points 0.2/0.4/0.6/0.8).

    Per task: the LLM user's success rate over its runs and the humans' over their batches (success = reward > 0,
    ``keep`` false left out); per bin: the mean over the tasks both have. ``pooled_ece`` = sum over bins of
    (n_bin / n) |LLM success - human success| on these pooled rates (the audit's ``outcome_ece`` averages per run
    and human batch first, so it can differ).
    """
    convs = store.con.execute(
        "SELECT conversation_id AS conv, task_id AS task, user_kind, reward FROM conversations "
        "WHERE task_id IS NOT NULL AND reward IS NOT NULL AND coalesce(keep, true)").fetchdf()
    if convs.empty:
        return None
    rated = {r[0] for r in store.con.execute("SELECT DISTINCT conversation_id FROM signals WHERE rater_id = ?",
                                             [rater]).fetchall()}
    own = convs["conv"].isin(rated) & (convs["user_kind"].fillna("") != "human") | (convs["user_kind"] == rater)
    human = convs["user_kind"] == "human"
    if not own.any() or not human.any():
        return None
    sims = set(convs.loc[convs["user_kind"].fillna("human") != "human", "conv"])
    difficulty, source = _difficulty(store, convs, sims, difficulty_file)
    s = convs[own].assign(ok=lambda t: (t["reward"] > 0).astype(float)).groupby("task")["ok"].mean()
    h = convs[human].assign(ok=lambda t: (t["reward"] > 0).astype(float)).groupby("task")["ok"].mean()
    tasks = sorted(set(s.index) & set(h.index) & set(difficulty))
    if not tasks:
        return {"rater": rater, "source": source, "bins": [], "n_tasks": 0, "pooled_ece": None,
                "note": "no task has the LLM user's runs, human runs and a difficulty"}
    d = np.array([difficulty[t] for t in tasks])
    b = gap.difficulty_bins(d)
    cuts = list(gap.CUT_POINTS)
    edges = [0.0] + cuts + [1.0]
    rows, ece = [], 0.0
    for k in range(len(edges) - 1):
        m = b == k
        n = int(m.sum())
        sr = float(s.reindex(np.array(tasks)[m]).mean()) if n else None
        hr = float(h.reindex(np.array(tasks)[m]).mean()) if n else None
        gap_k = None if n == 0 else sr - hr
        if n:
            ece += n / len(tasks) * abs(gap_k)
        rows.append({"bin": k, "label": f"{edges[k]:.1f}–{edges[k + 1]:.1f}", "lo": edges[k], "hi": edges[k + 1],
                     "n_tasks": n, "llm_success": sr, "human_success": hr, "gap": gap_k,
                     "weight": n / len(tasks)})
    return {"rater": rater, "source": source, "bins": rows, "n_tasks": len(tasks), "pooled_ece": ece}
