"""Cross-fitting: every calibrated value of a conversation comes from a model that never saw its human answers.

Rows are (conversation, human) pairs. The labelled conversations are dealt into K folds at random
(``numpy.random.default_rng(seed)``); a conversation's rows are all in one fold. For each fold, the penalty C is
chosen by an inner K-fold cross-validation *on the other folds only* (smallest mean squared error of the predicted
value; ties go to the stronger penalty), a model is fitted on the other folds, and it predicts the fold's rows.

Annotator terms (LLM-Rubric's judge-specific terms): one 0/1 column per human. A row is predicted with its own
human's column, so the calibrated rater imitates the person who rated that conversation; a human the model never
saw in training, and a conversation with no human (``calibrate apply``), get the training rows' mean of those
columns — the consensus of the annotators as they were represented in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _models

__all__ = ["Target", "crossfit", "fit_all", "C_GRID", "predict_rows", "metrics", "design"]

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class Target:
    """One target dimension's training rows."""

    dimension: str
    value_range: tuple
    conv: np.ndarray          # int: row -> index into the conversation feature matrix
    annot: np.ndarray         # int: row -> index into ``annotators``
    y: np.ndarray             # float: the human's answer
    annotators: list
    X: np.ndarray             # the conversations' judge features (all conversations, not just these rows)
    scaled: np.ndarray        # which judge feature columns are standardised
    annotator_terms: bool = True


def design(X: np.ndarray, annot: np.ndarray, n_annot: int, seen: np.ndarray | None,
           consensus: np.ndarray | None) -> np.ndarray:
    """Judge features ``X`` (one row per row) with the annotator columns appended: a row's own human's indicator,
    or ``consensus`` where its human is unseen in training (``seen`` false) or none (``annot`` -1)."""
    A = np.zeros((len(X), n_annot))
    known = annot >= 0
    A[np.flatnonzero(known), annot[known]] = 1.0
    if seen is not None:
        ok = known.copy()
        ok[known] = seen[annot[known]]
        A[~ok] = consensus
    return np.hstack([X, A])


def _design(t: Target, rows: np.ndarray, seen: np.ndarray | None, consensus: np.ndarray | None) -> np.ndarray:
    X = t.X[t.conv[rows]]
    if not t.annotator_terms:
        return X
    return design(X, t.annot[rows], len(t.annotators), seen, consensus)


def _scaled(t: Target) -> np.ndarray:
    extra = np.zeros(len(t.annotators) if t.annotator_terms else 0, dtype=bool)
    return np.concatenate([t.scaled, extra])


def _fit_rows(t: Target, method: str, rows: np.ndarray, C: float) -> dict:
    seen = np.bincount(t.annot[rows], minlength=len(t.annotators)) > 0
    consensus = np.bincount(t.annot[rows], minlength=len(t.annotators)) / len(rows)
    model = _models.fit(method, _design(t, rows, None, None), t.y[rows], C=C, scaled=_scaled(t),
                        value_range=t.value_range)
    model["annotators_seen"] = seen.tolist()
    model["consensus"] = consensus.tolist()
    return model


def predict_rows(t: Target, model: dict, rows: np.ndarray):
    seen = np.asarray(model["annotators_seen"], dtype=bool)
    return _models.predict(model, _design(t, rows, seen, np.asarray(model["consensus"])))


def _folds(groups: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row, with every group (conversation) in one fold."""
    uniq, inv = np.unique(groups, return_inverse=True)
    fold_of = np.empty(len(uniq), dtype=int)
    fold_of[rng.permutation(len(uniq))] = np.arange(len(uniq)) % k
    return fold_of[inv]


def _choose_C(t: Target, method: str, rows: np.ndarray, seed: int, k: int) -> float:
    if method == "isotonic":
        return 1.0
    n_groups = len(np.unique(t.conv[rows]))
    k_in = min(k, n_groups)
    if k_in < 2:
        return 1.0
    fold = _folds(t.conv[rows], k_in, np.random.default_rng(seed))
    best, best_err = C_GRID[0], np.inf
    for C in C_GRID:
        err = 0.0
        for f in range(k_in):
            tr, te = rows[fold != f], rows[fold == f]
            _, pred = predict_rows(t, _fit_rows(t, method, tr, C), te)
            err += float(((pred - t.y[te]) ** 2).sum())
        if best_err == np.inf or err < best_err - 1e-12 * max(1.0, best_err):
            best, best_err = C, err
    return best


def crossfit(t: Target, method: str, k: int, seed: int) -> dict:
    """Out-of-fold predictions for every row of ``t``: {"value": per row, "probs": per row or None, "fold": per
    row, "C": per fold, "training_mean": per row (the training folds' mean answer, a baseline)}."""
    fold = _folds(t.conv, k, np.random.default_rng(seed))
    value = np.full(len(t.y), np.nan)
    probs: list = [None] * len(t.y)
    Cs, baseline = [], np.full(len(t.y), np.nan)
    for f in range(k):
        tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        C = _choose_C(t, method, tr, seed + 1 + f, k)
        model = _fit_rows(t, method, tr, C)
        p, v = predict_rows(t, model, te)
        value[te] = v
        baseline[te] = t.y[tr].mean()
        if p is not None:
            for i, row in enumerate(te):
                probs[row] = dict(zip(model["classes"], p[i].tolist()))
        Cs.append(C)
    return {"value": value, "probs": probs if any(p is not None for p in probs) else None, "fold": fold, "C": Cs,
            "training_mean": baseline}


def fit_all(t: Target, method: str, k: int, seed: int) -> dict:
    """One model on every labelled row (C chosen by K-fold cross-validation on them), for new conversations."""
    rows = np.arange(len(t.y))
    C = _choose_C(t, method, rows, seed, k)
    return _fit_rows(t, method, rows, C)


def metrics(pred: np.ndarray, y: np.ndarray) -> dict:
    """RMSE, MAE, Pearson, Spearman and Kendall's tau-b of predictions against answers (rows with both)."""
    from scipy import stats

    ok = ~(np.isnan(pred) | np.isnan(y))
    p, a = pred[ok], y[ok]
    out = {"n": int(ok.sum()), "rmse": float(np.sqrt(np.mean((p - a) ** 2))) if ok.any() else np.nan,
           "mae": float(np.mean(np.abs(p - a))) if ok.any() else np.nan}
    const = ok.sum() < 3 or np.ptp(p) == 0 or np.ptp(a) == 0
    out["pearson"] = np.nan if const else float(np.corrcoef(p, a)[0, 1])
    out["spearman"] = np.nan if const else float(stats.spearmanr(p, a)[0])
    out["kendall"] = np.nan if const else float(stats.kendalltau(p, a)[0])
    return out
