"""What a calibration learns from: the judge's outputs per conversation (features) and the humans' answers.

Features of a conversation (one row), for every dimension of the rubric in rubric order:

- the judge's option probabilities (renormalised over the dimension's options) when it stored probabilities for
  that dimension — one column per option; else its score (one column);
- where the judge left a dimension unanswered on some conversation: a 0/1 ``missing`` column, and the missing
  columns filled with the mean over the conversations that have them (judge outputs only: no human answer is used,
  so the fill cannot leak a label);
- several samples of one conversation are averaged.

The layout (``spec``) is fixed when a model is fitted and saved with it, so ``calibrate apply`` builds the same
columns, with the same fill values, on new conversations.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..errors import AuditorError

__all__ = ["feature_spec", "judge_features", "human_answers", "source_rater"]


def source_rater(store, rater: str) -> dict:
    row = store.con.execute("SELECT kind, model FROM raters WHERE rater_id = ?", [rater]).fetchall()
    if not row:
        llm = [r[0] for r in store.con.execute(
            "SELECT rater_id FROM raters WHERE kind <> 'human' ORDER BY 1").fetchall()]
        raise AuditorError(f"unknown rater {rater!r}. Fix: calibrate one of the store's LLM raters: "
                           f"{', '.join(llm) or '(none: ingest judge signals or run a judge first)'}.")
    if row[0][0] == "human":
        raise AuditorError(f"{rater!r} is a human rater: calibrate maps an LLM judge's outputs to the humans' "
                           "answers. Fix: name a judge (auditor sql \"SELECT * FROM raters\").")
    return {"kind": row[0][0], "model": row[0][1]}


def _judge_rows(store, rater: str, rubric: str) -> pd.DataFrame:
    return store.con.execute(
        "SELECT conversation_id, dimension, value, probs::VARCHAR AS probs FROM signals WHERE rater_id = ? AND "
        "rubric = ? AND status = 'ok' ORDER BY conversation_id, dimension, sample", [rater, rubric]).df()


def feature_spec(store, rubric, rater: str) -> dict:
    """The feature layout of ``rater`` on ``rubric`` (a :class:`auditor.rubric.Rubric`), from its stored signals."""
    rows = _judge_rows(store, rater, rubric.name)
    if rows.empty:
        raise AuditorError(f"{rater!r} has no answered signal on rubric {rubric.name!r}. Fix: pick the rubric it "
                           "rated with --rubric.")
    spec = {"rubric": rubric.name, "rater": rater, "dimensions": []}
    n_conv = rows["conversation_id"].nunique()
    for dim in rubric.dimensions:
        d = rows[rows["dimension"] == dim.name]
        if d.empty:
            continue
        labels = [o.label for o in dim.options] if dim.options else []
        use_probs = bool(labels) and d["probs"].notna().any()
        entry = {"dimension": dim.name, "kind": "probs" if use_probs else "score", "labels": labels if use_probs
                 else [], "missing": bool(d["conversation_id"].nunique() < n_conv)}
        spec["dimensions"].append(entry)
    # fill values: the column means over the conversations that have the column (judge outputs only)
    _, X, present = _matrix(rows, spec, fill=None)
    spec["fill"] = [float(np.nanmean(X[present[:, j], j])) if present[:, j].any() else 0.0
                    for j in range(X.shape[1])]
    spec["columns"] = columns(spec)
    return spec


def columns(spec: dict) -> list[str]:
    out = []
    for e in spec["dimensions"]:
        out += [f"{e['dimension']}:p[{lab}]" for lab in e["labels"]] if e["kind"] == "probs" else \
            [f"{e['dimension']}:score"]
        if e["missing"]:
            out.append(f"{e['dimension']}:missing")
    return out


def _probs_vector(text, labels: list[str]) -> np.ndarray | None:
    if text is None:
        return None
    try:
        p = json.loads(text)
    except ValueError:
        return None
    v = np.array([float(p.get(lab, 0.0) or 0.0) for lab in labels])
    s = v.sum()
    return v / s if s > 0 else None


def _matrix(rows: pd.DataFrame, spec: dict, fill) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(conversation ids, feature matrix, which cells were observed) for ``rows`` under ``spec``."""
    convs = np.array(sorted(rows["conversation_id"].unique()), dtype=object)
    pos = {c: i for i, c in enumerate(convs)}
    cols = columns(spec)
    X = np.full((len(convs), len(cols)), np.nan)
    by_dim = {dim: g for dim, g in rows.groupby("dimension", sort=False)}
    j = 0
    for e in spec["dimensions"]:
        width = len(e["labels"]) if e["kind"] == "probs" else 1
        g = by_dim.get(e["dimension"])
        seen = np.zeros(len(convs), dtype=bool)
        if g is not None:
            acc = np.zeros((len(convs), width))
            cnt = np.zeros(len(convs))
            for cid, val, probs in zip(g["conversation_id"], g["value"], g["probs"]):
                i = pos[cid]
                if e["kind"] == "probs":
                    v = _probs_vector(probs, e["labels"])
                else:
                    v = None if val is None or val != val else np.array([float(val)])
                if v is not None:
                    acc[i] += v
                    cnt[i] += 1
            seen = cnt > 0
            X[seen, j:j + width] = acc[seen] / cnt[seen, None]
        if e["missing"]:
            X[:, j + width] = (~seen).astype(float)
        j += width + (1 if e["missing"] else 0)
    present = ~np.isnan(X)
    if fill is not None:
        X = np.where(present, X, np.asarray(fill)[None, :])
    return convs, X, present


def judge_features(store, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(conversation ids, feature matrix) of every conversation the spec's rater answered on its rubric."""
    rows = _judge_rows(store, spec["rater"], spec["rubric"])
    if rows.empty:
        return np.array([], dtype=object), np.zeros((0, len(spec["columns"])))
    convs, X, _ = _matrix(rows, spec, spec["fill"])
    return convs, X


def human_answers(store, rubric: str, dimension: str) -> pd.DataFrame:
    """One row per (conversation, human) with an answer on ``dimension`` (several samples averaged)."""
    return store.con.execute(
        "SELECT s.conversation_id, s.rater_id AS annotator, avg(s.value) AS value FROM signals s JOIN raters r "
        "USING (rater_id) WHERE r.kind = 'human' AND s.rubric = ? AND s.dimension = ? AND s.status = 'ok' AND "
        "s.value IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2", [rubric, dimension]).df()
