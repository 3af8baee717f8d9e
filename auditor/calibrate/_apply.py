"""``calibrate apply``: score conversations with a model saved by ``calibrate --fit-all --save``.

By default the conversations the model was trained on are skipped: their cross-fitted values (from
``calibrate``) are the honest ones. ``include_training`` scores them too — in-sample: the rater's provenance then
counts them, and every audit row of that rater and dimension says the agreement is optimistic.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import AuditorError
from . import _data, _fit, _models, _write
from ._run import MODEL_FORMAT, target_scores

__all__ = ["ApplyResult", "apply_model", "read_model"]


@dataclass
class ApplyResult:
    name: str
    rater: str
    rubric: str
    targets: list[dict] = field(default_factory=list)
    load: object = None


def read_model(text: str, source: str) -> dict:
    try:
        model = json.loads(text)
    except ValueError as e:
        raise AuditorError(f"{source}: not JSON ({e}). Fix: pass the file written by `auditor calibrate ... "
                           "--fit-all --save FILE`.") from None
    if not isinstance(model, dict) or model.get("format") != MODEL_FORMAT:
        raise AuditorError(f"{source}: not an auditor calibration model (no \"format\": \"{MODEL_FORMAT}\"). Fix: "
                           "pass the file written by `auditor calibrate ... --fit-all --save FILE`.")
    if model.get("version") != 1:
        raise AuditorError(f"{source}: calibration model version {model.get('version')!r}; this auditor reads "
                           "version 1. Fix: refit it with this version (auditor calibrate ... --fit-all --save).")
    return model


def apply_model(store, model: dict, *, source: str, name: str | None = None, include_training: bool = False,
                write: bool = True) -> ApplyResult:
    """Score every conversation the model's rater answered on its rubric (except, by default, the model's
    training conversations) and store them as the calibrated rater."""
    from ..audit._fetch import load_stored_rubric

    rater, rub_name, spec = model["rater"], model["rubric"], model["spec"]
    src = _data.source_rater(store, rater)
    rubric = load_stored_rubric(store, rub_name)
    name = name or model.get("name") or f"{rater}:calibrated"
    _write.check_name(store, name, rater)
    dims = {d.name: d for d in rubric.dimensions}
    convs, X = _data.judge_features(store, spec)
    digest = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()[:12]
    res = ApplyResult(name=name, rater=rater, rubric=rub_name)
    frames, provenance = [], {}
    for dim_name, entry in model["targets"].items():
        if dim_name not in dims:
            raise AuditorError(f"{source}: the model calibrates dimension {dim_name!r}, which rubric {rub_name!r} "
                               "in this store does not have. Fix: apply it to the store it was fitted for.")
        dim = dims[dim_name]
        trained = set(entry["training_conversations"])
        in_train = np.array([c in trained for c in convs], dtype=bool)
        take = np.ones(len(convs), dtype=bool) if include_training else ~in_train
        idx = np.flatnonzero(take)
        value, probs = _predict(store, model, entry, spec, convs, X, dim, idx)
        known = _known_humans(store, spec["rubric"], dim_name, entry["annotators"])
        ok = ~np.isnan(value)
        idx, value = idx[ok], value[ok]
        probs = [p for p, k in zip(probs, ok) if k] if probs is not None else None
        n_in = int(in_train[idx].sum())
        rationale = [f"IN-SAMPLE: model {digest} was fitted on this conversation's own human answers" if in_train[i]
                     else f"model {digest} ({entry['method']}) fitted on {len(trained)} other conversations; "
                     + _who(model, entry, convs[i], known) for i in idx]
        res.targets.append({"dimension": dim_name, "method": entry["method"], "n_scored": len(idx),
                            "n_skipped_training": int((in_train & ~take).sum()), "n_in_sample": n_in,
                            "n_unscorable": int((~ok).sum())})
        if len(idx):
            frames.append(_write.signal_frame(name, src["model"], rub_name, dim, convs[idx], value, probs,
                                              rationale))
        provenance[dim_name] = {"applied_model": digest, "in_sample_conversations": n_in,
                                "n_applied": len(idx), "source_rater": rater}
    if write and frames:
        res.load = _write.store_calibrated(store, name=name, rubric=rub_name, frames=frames, provenance=provenance,
                                           source=f"calibrate apply {source}", replace_dimensions=None)
    return res


def _predict(store, model, entry, spec, convs, X, dim, idx):
    """Predicted values (NaN where the judge gave no score an isotonic model needs) and probabilities of the
    conversations ``idx``: each imitates the humans who rated it when the model knows them, else the consensus."""
    fitted = entry["model"]
    annotators = entry["annotators"]
    a_pos = {a: i for i, a in enumerate(annotators)}
    if entry["method"] == "isotonic":
        feats = target_scores(spec, X, dim)[:, None]
    else:
        feats = X
    h = _data.human_answers(store, spec["rubric"], dim.name)
    by_conv: dict = {}
    for cid, a in zip(h["conversation_id"], h["annotator"]):
        if a in a_pos:
            by_conv.setdefault(cid, []).append(a_pos[a])
    conv_rows, annot = [], []
    for k, i in enumerate(idx):
        for a in by_conv.get(convs[i], [-1]):
            conv_rows.append(k)
            annot.append(a)
    conv_rows, annot = np.asarray(conv_rows, dtype=int), np.asarray(annot, dtype=int)
    rows_X = feats[idx][conv_rows]
    if model.get("annotator_terms") and entry["method"] != "isotonic":
        rows_X = _fit.design(rows_X, annot, len(annotators), np.asarray(fitted["annotators_seen"], dtype=bool),
                             np.asarray(fitted["consensus"]))
    ok_rows = ~np.isnan(rows_X).any(axis=1)
    p_rows, v_rows = _models.predict(fitted, np.where(ok_rows[:, None], rows_X, 0.0))
    counts = np.bincount(conv_rows[ok_rows], minlength=len(idx)).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.bincount(conv_rows[ok_rows], weights=v_rows[ok_rows], minlength=len(idx)) / counts
        if p_rows is None:
            return value, None
        P = np.zeros((len(idx), p_rows.shape[1]))
        np.add.at(P, conv_rows[ok_rows], p_rows[ok_rows])
        P /= counts[:, None]
    classes = fitted["classes"]
    return value, [dict(zip(classes, P[k].tolist())) if counts[k] else None for k in range(len(idx))]


def _known_humans(store, rubric: str, dim: str, annotators: list) -> dict:
    """conversation -> the humans who rated it that the model knows (whom its value imitates)."""
    h = _data.human_answers(store, rubric, dim)
    known = set(annotators)
    out: dict = {}
    for cid, a in zip(h["conversation_id"], h["annotator"]):
        if a in known:
            out.setdefault(cid, []).append(str(a))
    return out


def _who(model: dict, entry: dict, cid, known: dict) -> str:
    if not model.get("annotator_terms") or entry["method"] == "isotonic":
        return "predicts the annotators' consensus"
    names = known.get(cid)
    return f"imitates {', '.join(sorted(names))} (annotator terms)" if names else \
        "no known human rated it: predicts the annotators' consensus"
