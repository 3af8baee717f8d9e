"""``calibrate()``: fit, cross-fitted, a map from a judge's outputs to the humans' answers; store the result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import AuditorError
from . import _data, _fit, _models, _write

__all__ = ["CalibrateOptions", "CalibrationResult", "calibrate", "target_scores", "resolve_rubric", "method_for"]

MODEL_FORMAT = "auditor-calibration"


@dataclass
class CalibrateOptions:
    rater: str
    rubric: str | None = None            # default: the only rubric the rater answered
    targets: list[str] | None = None     # dimensions to calibrate; None = every dimension with human answers
    method: str = "auto"                 # auto | ordinal | multinomial | ridge | isotonic
    folds: int = 5
    seed: int = 0
    annotator_terms: bool = True
    name: str | None = None              # default RATER:calibrated
    fit_all: bool = False                # also fit on every labelled row (the model for `calibrate apply`)
    write: bool = True                   # store the cross-fitted rater


@dataclass
class CalibrationResult:
    name: str
    rater: str
    rubric: str
    targets: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: object = None
    model: dict | None = None


def method_for(method: str, level: str, dim: str) -> str:
    if method == "auto":
        return {"nominal": "multinomial", "interval": "ridge", "ratio": "ridge"}.get(level, "ordinal")
    if method not in _models.METHODS:
        raise AuditorError(f"unknown method {method!r}. Fix: use auto, {', '.join(_models.METHODS)}.")
    if method == "ordinal" and level == "nominal":
        raise AuditorError(f"dimension {dim!r} is nominal: its options have no order for an ordinal model. Fix: "
                           "--method multinomial (or auto).")
    return method


def resolve_rubric(store, rater: str, rubric: str | None) -> str:
    have = [r[0] for r in store.con.execute(
        "SELECT DISTINCT rubric FROM signals WHERE rater_id = ? AND status = 'ok' ORDER BY 1", [rater]).fetchall()]
    if rubric is None:
        if len(have) == 1:
            return have[0]
        raise AuditorError(f"{rater!r} rated {len(have)} rubrics ({', '.join(have) or 'none'}). Fix: pick one "
                           "with --rubric." if have else f"{rater!r} has no answered signal. Fix: calibrate a rater "
                           "with signals (auditor sql \"SELECT rater_id, count(*) FROM signals GROUP BY 1\").")
    if rubric not in have:
        raise AuditorError(f"{rater!r} has no answered signal on rubric {rubric!r}. Fix: use "
                           f"{' or '.join(have) or '(none)'}.")
    return rubric


def target_scores(spec: dict, X: np.ndarray, dim) -> np.ndarray:
    """The judge's own score of ``dim`` per conversation (expected value of its probabilities, or its score);
    NaN where it left the dimension unanswered."""
    cols = spec["columns"]
    entry = next((e for e in spec["dimensions"] if e["dimension"] == dim.name), None)
    if entry is None:
        return np.full(len(X), np.nan)
    if entry["kind"] == "probs":
        j = cols.index(f"{dim.name}:p[{entry['labels'][0]}]")
        values = np.array([dim.label_to_value()[lab] for lab in entry["labels"]])
        score = X[:, j:j + len(values)] @ values
    else:
        score = X[:, cols.index(f"{dim.name}:score")].copy()
    if entry["missing"]:
        score[X[:, cols.index(f"{dim.name}:missing")] == 1] = np.nan
    return score


def _target(store, opts, spec, convs, X, dim, method):
    h = _data.human_answers(store, spec["rubric"], dim.name)
    pos = {c: i for i, c in enumerate(convs)}
    h = h[h["conversation_id"].isin(pos)]
    score = target_scores(spec, X, dim)
    if method == "isotonic":
        keep = ~np.isnan(score[h["conversation_id"].map(pos).to_numpy()]) if len(h) else np.zeros(0, dtype=bool)
        h = h[keep]
        feats, scaled = score[:, None], np.array([True])
    else:
        feats = X
        scaled = np.array([c.endswith(":score") for c in spec["columns"]])
    annotators = sorted(h["annotator"].unique()) if len(h) else []
    a_idx = {a: i for i, a in enumerate(annotators)}
    t = _fit.Target(dim.name, dim.value_range, h["conversation_id"].map(pos).to_numpy(dtype=int),
                    h["annotator"].map(a_idx).to_numpy(dtype=int), h["value"].to_numpy(dtype=float), annotators,
                    feats, scaled, annotator_terms=opts.annotator_terms and method != "isotonic")
    return t, score


def _check_enough(t, opts, dim_name: str, rater: str) -> str | None:
    n_conv = len(np.unique(t.conv))
    if n_conv == 0:
        return (f"{dim_name}: no conversation has both a human answer and {rater!r}'s output (calibration needs "
                "people and the judge on the same conversations)")
    if n_conv < 2 * opts.folds:
        return f"{dim_name}: only {n_conv} conversations have both a human answer and the judge's output; " \
               f"{opts.folds} folds need at least {2 * opts.folds}"
    return None


def calibrate(store, opts: CalibrateOptions) -> CalibrationResult:
    """Cross-fit the calibration of ``opts.rater`` on every target dimension; store ``<rater>:calibrated``
    (unless ``opts.write`` is false) and, with ``opts.fit_all``, return the model fitted on all labelled rows."""
    from ..audit._fetch import load_stored_rubric

    if opts.folds < 2:
        raise AuditorError(f"--folds {opts.folds}: cross-fitting needs at least 2 folds (5 is usual).")
    src = _data.source_rater(store, opts.rater)
    rub_name = resolve_rubric(store, opts.rater, opts.rubric)
    rubric = load_stored_rubric(store, rub_name)
    name = opts.name or f"{opts.rater}:calibrated"
    _write.check_name(store, name, opts.rater)
    dims = {d.name: d for d in rubric.dimensions}
    if opts.targets:
        unknown = [t for t in opts.targets if t not in dims]
        if unknown:
            raise AuditorError(f"rubric {rub_name!r} has no dimension {unknown[0]!r}. Fix: use one of "
                               f"{', '.join(dims)} (or all).")
    spec = _data.feature_spec(store, rubric, opts.rater)
    convs, X = _data.judge_features(store, spec)
    res = CalibrationResult(name=name, rater=opts.rater, rubric=rub_name)
    frames, provenance, models = [], {}, {}
    for dim_name in opts.targets or list(dims):
        dim = dims[dim_name]
        method = method_for(opts.method, dim.level, dim_name)
        t, score = _target(store, opts, spec, convs, X, dim, method)
        why = _check_enough(t, opts, dim_name, opts.rater)
        if why:
            if opts.targets:
                raise AuditorError(why + ". Fix: collect more human ratings on the judge's conversations, or "
                                         "lower --folds.")
            res.notes.append(f"skipped {why}")
            continue
        cf = _fit.crossfit(t, method, opts.folds, opts.seed)
        raw = score[t.conv]
        res.targets.append({
            "dimension": dim_name, "level": dim.level, "method": method, "n_rows": len(t.y),
            "n_conversations": int(len(np.unique(t.conv))), "n_annotators": len(t.annotators),
            "annotator_terms": t.annotator_terms, "C": cf["C"],
            "calibrated": _fit.metrics(cf["value"], t.y), "raw": _fit.metrics(raw, t.y),
            "training_mean": _fit.metrics(cf["training_mean"], t.y)})
        frames.append(_frame(name, src["model"], rub_name, dim, t, cf, opts, method, convs))
        provenance[dim_name] = {
            "source_rater": opts.rater, "method": method, "folds": opts.folds, "seed": opts.seed,
            "features": spec["columns"] if method != "isotonic" else [f"{dim_name}:score"],
            "annotator_terms": t.annotator_terms, "C": cf["C"], "cross_fitted": True,
            "in_sample_conversations": 0, "n_conversations": res.targets[-1]["n_conversations"]}
        if opts.fit_all:
            models[dim_name] = {"method": method, "model": _fit.fit_all(t, method, opts.folds, opts.seed),
                                "annotators": t.annotators,
                                "training_conversations": sorted(convs[np.unique(t.conv)].tolist()),
                                "out_of_fold": res.targets[-1]["calibrated"]}
    if not res.targets:
        if all("no conversation has both" in n for n in res.notes):
            raise AuditorError(f"{opts.rater!r} and the humans share no conversation on rubric {rub_name!r}: "
                               "calibration needs people and the judge on the same conversations (a simulator "
                               "in the matched design answers about its own). Fix: collect human ratings on the "
                               "judge's conversations (auditor annotate create ...), or ingest them.")
        raise AuditorError(f"nothing to calibrate: {'; '.join(res.notes)}. Fix: collect human ratings on the "
                           "judge's conversations (auditor annotate ...), or ingest them.")
    if opts.fit_all:
        res.model = {"format": MODEL_FORMAT, "version": 1, "rater": opts.rater, "name": name, "rubric": rub_name,
                     "annotator_terms": opts.annotator_terms, "folds": opts.folds, "seed": opts.seed, "spec": spec,
                     "targets": models}
    if opts.write:
        res.load = _write.store_calibrated(
            store, name=name, rubric=rub_name, frames=frames, provenance=provenance,
            source=f"calibrate {opts.rater} ({opts.folds}-fold cross-fit, seed {opts.seed})",
            replace_dimensions=[t["dimension"] for t in res.targets])
    return res


def _frame(name, model_name, rubric, dim, t, cf, opts, method, convs):
    """One signal per labelled conversation: the mean of its rows' out-of-fold predictions."""
    order = np.argsort(t.conv, kind="stable")
    uniq, start = np.unique(t.conv[order], return_index=True)
    values, rationale = [], []
    probs = [] if cf["probs"] is not None else None
    fold_n = {f: int(len(np.unique(t.conv[cf["fold"] != f]))) for f in range(opts.folds)}
    for s, e in zip(start, list(start[1:]) + [len(order)]):
        rows = order[s:e]
        values.append(float(cf["value"][rows].mean()))
        if probs is not None:
            ps = [cf["probs"][r] for r in rows]
            probs.append({c: float(np.mean([p[c] for p in ps])) for c in ps[0]})
        f = int(cf["fold"][rows[0]])
        who = ("imitates " + ", ".join(sorted({str(t.annotators[a]) for a in t.annot[rows]}))
               + " (annotator terms; a human unseen in training: the consensus)" if t.annotator_terms
               else "predicts the annotators' consensus")
        rationale.append(f"cross-fitted ({method}): fold {f + 1} of {opts.folds}; predicted by a model fitted on "
                         f"{fold_n[f]} other conversations, never on this one's human answers (C={cf['C'][f]:g}); "
                         + who)
    return _write.signal_frame(name, model_name, rubric, dim, convs[uniq], values, probs, rationale)
