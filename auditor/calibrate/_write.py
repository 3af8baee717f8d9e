"""Storing a calibrated rater: its signals, and its provenance in ``raters.metadata`` (one transaction)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..store import write_signals
from ..store._writes import SIGNAL_COLUMNS

__all__ = ["check_name", "store_calibrated", "stored_provenance"]


def stored_provenance(store, name: str) -> dict:
    row = store.con.execute("SELECT metadata::VARCHAR FROM raters WHERE rater_id = ?", [name]).fetchall()
    if not row or row[0][0] is None:
        return {}
    try:
        return json.loads(row[0][0]) or {}
    except ValueError:
        return {}


def check_name(store, name: str, source: str) -> None:
    """Refuse to write calibrated values over a rater that is not a calibration (an ingested judge, a human)."""
    if name == source:
        raise AuditorError(f"--name {name!r} is the rater being calibrated. Fix: give the calibrated rater its own "
                           "name (default: RATER:calibrated).")
    row = store.con.execute("SELECT kind FROM raters WHERE rater_id = ?", [name]).fetchall()
    if row and (row[0][0] != "judge" or "calibration" not in stored_provenance(store, name)):
        raise AuditorError(f"rater {name!r} already exists and is not a calibrated rater (kind {row[0][0]}). Fix: "
                           "choose another --name.")


def _labels(dim, classes) -> dict:
    v2l = dim.value_to_label()
    return {c: v2l.get(float(c)) for c in classes}


def signal_frame(name: str, model: str | None, rubric: str, dim, convs, values, probs, rationale) -> pd.DataFrame:
    """The calibrated signals of one dimension as a frame of :data:`SIGNAL_COLUMNS`."""
    n = len(convs)
    probs_json: list = [None] * n
    if probs is not None:
        for i, p in enumerate(probs):
            if p is None:
                continue
            lab = _labels(dim, p)
            if all(lab[c] is not None for c in p):
                probs_json[i] = json.dumps({lab[c]: round(float(q), 12) for c, q in p.items()})
    df = pd.DataFrame({
        "conversation_id": list(convs), "rubric": rubric, "dimension": dim.name, "rater_id": name, "sample": 0,
        "task_id": None, "rater_kind": "judge", "model": model, "config_hash": None, "status": "ok", "label": None,
        "value": np.round(np.asarray(values, dtype=float), 12),
        "value_source": "expected" if probs is not None else "value", "confidence": None, "probs": probs_json,
        "raw": None, "rationale": list(rationale), "error": None, "run_id": None, "_row": np.arange(1, n + 1)})
    return df[SIGNAL_COLUMNS]


def store_calibrated(store, *, name: str, rubric: str, frames: list[pd.DataFrame], provenance: dict,
                     source: str, replace_dimensions: list[str] | None):
    """Write ``frames`` (one per dimension) and merge ``provenance`` ({dimension: {...}}) into the rater's metadata,
    all or nothing. ``replace_dimensions``: dimensions whose earlier calibrated signals are all replaced (a new
    cross-fit); None keeps the rest (``apply`` adds conversations)."""
    df = pd.concat(frames, ignore_index=True)
    df["_row"] = np.arange(1, len(df) + 1)
    with store.transaction() as con:
        result = write_signals(store, df, source=source, kind="calibration", replace=True, rubric=rubric)
        if replace_dimensions:
            con.register("_calibrated_keys", df[["conversation_id", "dimension"]])
            try:
                store.delete_signals("s.rater_id = ? AND s.rubric = ? AND list_contains(?, s.dimension) AND NOT "
                                     "EXISTS (SELECT 1 FROM _calibrated_keys k WHERE k.conversation_id = "
                                     "s.conversation_id AND k.dimension = s.dimension)",
                                     [name, rubric, replace_dimensions])
            finally:
                con.unregister("_calibrated_keys")
        meta = stored_provenance(store, name)
        cal = meta.setdefault("calibration", {})
        for dim, prov in provenance.items():
            cal[f"{rubric}/{dim}"] = prov if replace_dimensions else {**cal.get(f"{rubric}/{dim}", {}), **prov}
        con.execute("UPDATE raters SET metadata = ?::JSON WHERE rater_id = ?", [json.dumps(meta), name])
    return result
