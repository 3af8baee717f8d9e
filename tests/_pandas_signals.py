"""The pandas implementation of signal normalisation that auditor used before ingest moved into DuckDB.

Kept as the reference the new path is checked against (tests/test_ingest_equivalence.py): for the same file
both must store identical signals and reject the same rows. Not part of the library.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from auditor.errors import IngestError
from auditor.rubric import Rubric
from auditor.ingest._read import RawTable, as_raw_table, short_list, short_text
from auditor.ingest.signals import RATER_KINDS, SignalOptions

__all__ = ["normalise_signals", "load_with_reference"]

PROB_TOLERANCE = 0.01


def _short(v, n: int = 60) -> str:
    return repr(short_text(v, n))


def _not_scalar(s: pd.Series) -> pd.Series:
    """True where a cell holds a JSON object / list (or array) instead of one value."""
    if s.dtype != object:
        return pd.Series(False, index=s.index)
    return s.map(lambda v: isinstance(v, (dict, list, tuple, set)) or hasattr(v, "__array__") and
                 not np.isscalar(v))


def _is_blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype(str).str.strip() == "")


def _to_float(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(object).where(~_is_blank(s), None).map(
        lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")


def normalise_signals(raw: RawTable, rubric: Rubric, opts: SignalOptions) -> pd.DataFrame:
    """Validate ``raw`` against ``rubric`` and return a DataFrame with the store's signal columns.

    Raises :class:`IngestError` for the first bad record, naming the file, row, field, fault and fix.
    """
    path, where = raw.path, raw.where
    df = raw.df.copy()

    def fail(row, fld, problem, fix):
        raise IngestError(path, problem, row=None if row is None else int(row), field=fld, fix=fix, where=where)

    # column mapping
    for src, dst in opts.mapping.items():
        if src not in df.columns:
            fail(None, short_text(src), f"--map {short_text(src)}={short_text(dst)}: the file has no column "
                 f"{_short(src)}",
                 f"use one of the file's columns: {short_list(c for c in df.columns if c != '_row')}.")
    df = df.rename(columns=opts.mapping)
    notes: list[str] = []

    if opts.wide:
        dims = [c for c in df.columns if c in rubric.dimension_names]
        if not dims:
            fail(None, None, f"--wide: no column is named after a dimension of rubric '{rubric.name}'",
                 f"name the rating columns after the dimensions ({', '.join(rubric.dimension_names)}) or "
                 "rename them with --map SOURCE=DIMENSION.")
        ids = [c for c in df.columns if c not in dims]
        canonical = {"_row", "conversation_id", "rater_id", "rater_kind", "task_id", "sample", "confidence"}
        ignored = [c for c in ids if c not in canonical]
        if ignored:
            notes.append(f"--wide: column(s) {', '.join(map(str, ignored))} are not dimensions of "
                         f"'{rubric.name}' and were ignored")
        long = df.melt(id_vars=ids, value_vars=dims, var_name="dimension", value_name="label")
        blank = _is_blank(long["label"])
        if blank.any():
            notes.append(f"{int(blank.sum())} empty cell(s) skipped (no rating)")
        df = long[~blank].reset_index(drop=True)
        if df.empty:
            fail(None, None, "every rating cell is empty", "fill in the ratings; nothing was loaded.")

    for col, flag in (("rater_id", opts.rater_id), ("rater_kind", opts.rater_kind)):
        if flag is not None:
            if col in df.columns and not _is_blank(df[col]).all():
                notes.append(f"--{col.replace('_', '-')} {flag} overrides the file's '{col}' column")
            df[col] = flag
    required = ["conversation_id", "rater_id", "rater_kind"] + ([] if opts.wide else ["dimension"])
    prob_cols = [c for c in df.columns if isinstance(c, str) and c.startswith("prob_")]
    for col in required:
        if col not in df.columns:
            hint = {"rater_id": "add a rater_id column or pass --rater-id NAME",
                    "rater_kind": "add a rater_kind column or pass --rater-kind human|judge|simulator"}.get(
                col, f"add the column, or rename yours with --map SOURCE={col}")
            fail(None, col, f"missing required column '{col}' (columns are: "
                 f"{short_list(c for c in df.columns if c != '_row')})", hint + ".")
    if not opts.wide and "label" not in df.columns and "value" not in df.columns and not prob_cols:
        fail(None, "label", "no rating column: need 'label', 'value' or prob_<option> columns",
             "add one, or rename yours with --map SOURCE=label.")

    for col in ("conversation_id", "rater_id", "dimension", "rater_kind", "task_id", "sample", "label", "value",
                "confidence") + tuple(prob_cols):
        if col in df.columns:
            bad = _not_scalar(df[col])
            if bad.any():
                i = bad.idxmax()
                fail(df.at[i, "_row"], col, f"'{col}' is a JSON {type(df.at[i, col]).__name__}, not a single "
                     "value", f"write one {col} per row as a string or number.")
    for col in ("conversation_id", "rater_id", "dimension", "rater_kind"):
        bad = _is_blank(df[col])
        if bad.any():
            fail(df.loc[bad, "_row"].min(), col, f"'{col}' is empty", f"give every row a {col} (a truncated "
                 "last row also leaves fields empty)." if col != "rater_kind" else
                 "give every row a rater_kind (human, judge or simulator), or pass --rater-kind.")
        if col != "rater_kind":
            df[col] = df[col].astype(str).str.strip()
    kinds = df["rater_kind"].astype(str).str.strip().str.lower()
    bad = ~kinds.isin(RATER_KINDS)
    if bad.any():
        i = bad.idxmax()
        fail(df.at[i, "_row"], "rater_kind", f"rater_kind {_short(df.at[i, 'rater_kind'])} is not one of "
             f"{', '.join(RATER_KINDS)}", "use human, judge or simulator.")
    df["rater_kind"] = kinds
    bad = ~df["dimension"].isin(rubric.dimension_names)
    if bad.any():
        i = bad.idxmax()
        fail(df.at[i, "_row"], "dimension", f"unknown dimension {_short(df.at[i, 'dimension'])} for rubric "
             f"'{rubric.name}'", f"use one of: {', '.join(rubric.dimension_names)} (or --map to rename).")

    if "sample" in df.columns:
        smp = _to_float(df["sample"])
        bad = (~_is_blank(df["sample"]) & smp.isna()) | (smp < 0) | (smp.notna() & (smp != np.floor(smp))) | \
            np.isinf(smp) | \
            (smp >= 2 ** 31)
        smp = smp.fillna(0)
        if bad.any():
            i = bad.idxmax()
            fail(df.at[i, "_row"], "sample", f"sample {_short(df.at[i, 'sample'])} is not a whole number >= 0",
                 "number repeated draws 0, 1, 2, ...")
        df["sample"] = smp.astype(int)
    else:
        df["sample"] = 0
    # astype(object) first: on a pandas string column, where(..., None) gives NaN, which str() turns into "nan"
    df["task_id"] = df["task_id"].astype(object).where(~_is_blank(df["task_id"]), None).map(
        lambda v: None if v is None else str(v).strip()) if "task_id" in df.columns else None

    # one kind per rater and one task per conversation within the file (the store holds one of each)
    for key, col, what in (("rater_id", "rater_kind", "kind"), ("conversation_id", "task_id", "task")):
        given = df[df[col].notna()].sort_values("_row", kind="stable")
        if given.empty:
            continue
        n_distinct = given.groupby(key, sort=False)[col].transform("nunique")
        if (n_distinct > 1).any():
            rows = given[given[key] == given.loc[n_distinct > 1, key].iloc[0]]
            first = rows.iloc[0]
            other = rows[rows[col] != first[col]].iloc[0]
            noun = key.split("_")[0]
            fail(other["_row"], col, f"{noun} {_short(first[key])} has {what} {_short(other[col])} here but "
                 f"{_short(first[col])} at {where} {first['_row']}", f"give each {noun} one {what}.")

    if "confidence" in df.columns:
        conf = _to_float(df["confidence"])
        bad = (~_is_blank(df["confidence"]) & conf.isna()) | (conf < 0) | (conf > 1) | np.isinf(conf)
        if bad.any():
            i = bad.idxmax()
            fail(df.at[i, "_row"], "confidence", f"confidence {_short(df.at[i, 'confidence'])} is not a number "
                 "in [0, 1]", "write confidences as probabilities between 0 and 1 (leave empty if unknown).")
        df["confidence"] = conf
    else:
        df["confidence"] = np.nan

    out = []
    for dim_name, part in df.groupby("dimension", sort=False):
        out.append(_resolve_dimension(part, rubric.dimension(dim_name), prob_cols, opts, fail))
        notes.extend(out[-1].attrs.pop("notes", []))
    res = pd.concat(out).sort_values("_row", kind="stable")
    res["rubric"] = rubric.name
    res["model"] = opts.model
    res["config_hash"] = None

    key = ["conversation_id", "dimension", "rater_id", "sample"]
    dup = res.duplicated(key, keep=False)
    if dup.any():
        d = res[dup].sort_values("_row")
        first = d.iloc[0]
        same = d[(d[key] == first[key]).all(axis=1)]["_row"].tolist()
        fail(same[1], "conversation_id", f"duplicate rating: conversation {_short(first.conversation_id)}, "
             f"dimension {_short(first.dimension)}, rater {_short(first.rater_id)}, sample {first['sample']} "
             f"also appears at {where} {same[0]}",
             "keep one rating per key, or number repeated draws with a 'sample' column.")
    res.attrs["notes"] = notes
    res.attrs["where"] = where          # "row" or "line": how the store's errors name _row
    return res


def _resolve_dimension(part: pd.DataFrame, dim, prob_cols: list[str], opts: SignalOptions, fail) -> pd.DataFrame:
    labels = dim.label_to_value()
    allowed = ", ".join(f"{o.label!r}={o.value:g}" for o in dim.options)
    codes = {c for c in (dim.missing_code, opts.missing_code) if c is not None}
    n = len(part)
    status = np.array(["ok"] * n, dtype=object)
    label = pd.Series([None] * n, index=part.index, dtype=object)
    value = pd.Series(np.nan, index=part.index)
    source = pd.Series([None] * n, index=part.index, dtype=object)
    has_label = "label" in part.columns
    has_value = "value" in part.columns
    raw_label = part["label"] if has_label else pd.Series([None] * n, index=part.index, dtype=object)
    raw_value = part["value"] if has_value else pd.Series([None] * n, index=part.index, dtype=object)
    lab_given = ~_is_blank(raw_label)
    val_given = ~_is_blank(raw_value)

    # not-answered codes
    lab_str = raw_label.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else
                            (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()))
    val_str = raw_value.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else
                            (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()))
    missing = pd.Series(False, index=part.index)
    for c in codes:
        missing |= (lab_str == c) | (val_str == c)
        try:
            cf = float(c)
            missing |= (_to_float(raw_label) == cf) | (_to_float(raw_value) == cf)
        except ValueError:
            pass
    status[missing.to_numpy()] = "not_answered"

    # labels: exact option text, else a number equal to a unique option value
    if has_label:
        direct = lab_str.map(lambda s: s in labels if s is not None else False)
        num = _to_float(raw_label)
        v2l = dim.value_to_label()
        by_value = num.map(lambda x: v2l.get(float(x)) if pd.notna(x) and float(x) in v2l else None)
        ok_lab = lab_given & ~missing
        resolved = lab_str.where(direct, by_value)
        bad = ok_lab & resolved.isna()
        if bad.any():
            i = bad.idxmax()
            fail(part.at[i, "_row"], "label", f"{_short(raw_label[i])} is not an option of dimension "
                 f"'{dim.name}'", f"use one of {allowed}" + (f", or the not-answered code {sorted(codes)}" if codes
                                                             else "") + ".")
        label = label.where(~ok_lab, resolved)
        value = value.where(~ok_lab, label.map(lambda s: labels.get(s, np.nan)))
        source = source.where(~ok_lab, "label")
    if has_value:
        v = _to_float(raw_value)
        ok_val = val_given & ~missing
        bad = ok_val & (v.isna() | np.isinf(v))
        if bad.any():
            i = bad.idxmax()
            fail(part.at[i, "_row"], "value", f"value {_short(raw_value[i])} is not a finite number",
                 f"use one of the option values of '{dim.name}': {allowed}.")
        on_scale = v.map(lambda x: any(abs(x - o) < 1e-9 for o in dim.values) if pd.notna(x) else False)
        bad = ok_val & ~on_scale
        if bad.any():
            i = bad.idxmax()
            fail(part.at[i, "_row"], "value", f"value {_short(raw_value[i])} is not on the scale of '{dim.name}'",
                 f"use one of {allowed}.")
        both = ok_val & lab_given & ~missing
        if has_label:
            clash = both & ((value - v).abs() > 1e-9)
            if clash.any():
                i = clash.idxmax()
                fail(part.at[i, "_row"], "value", f"label {_short(label[i])} has value {value[i]:g} in the "
                     f"rubric, but the row says {v[i]:g}", "drop one of the two columns, or make them agree.")
        only_val = ok_val & ~lab_given
        v2l = dim.value_to_label()
        value = value.where(~only_val, v)
        label = label.where(~only_val, v.map(lambda x: v2l.get(float(x)) if pd.notna(x) else None))
        source = source.where(~only_val, "value")

    # option probabilities
    probs_json = pd.Series([None] * n, index=part.index, dtype=object)
    notes: list[str] = []
    if prob_cols:
        by_key = {}
        for c in prob_cols:
            k = c[len("prob_"):]
            opt = next((o for o in dim.options if o.label == k), None)
            if opt is None:
                try:
                    kv = float(k)
                    cands = [o for o in dim.options if abs(o.value - kv) < 1e-9]
                    opt = cands[0] if len(cands) == 1 else None
                except ValueError:
                    opt = None
            if opt is None:
                if _is_blank(part[c]).all():
                    continue
                fail(part.loc[~_is_blank(part[c]), "_row"].min(), short_text(c), f"column {_short(c)} names no "
                     f"option of dimension "
                     f"'{dim.name}'", f"name probability columns prob_<label> or prob_<value>: {allowed}.")
            by_key[opt.label] = c
        if by_key:
            P = pd.DataFrame({lab: _to_float(part[c]) for lab, c in by_key.items()})
            blank = pd.DataFrame({lab: _is_blank(part[c]) for lab, c in by_key.items()})
            any_p = ~blank.all(axis=1)
            bad_num = (~blank & P.isna()).any(axis=1) | (np.isinf(P)).any(axis=1) | (P < 0).any(axis=1) | \
                      (P > 1).any(axis=1)
            if (any_p & bad_num).any():
                i = (any_p & bad_num).idxmax()
                fail(part.at[i, "_row"], by_key[P.columns[((~blank.loc[i]) & (P.loc[i].isna() | (P.loc[i] < 0) | (
                    P.loc[i] > 1) | np.isinf(P.loc[i]))).to_numpy().argmax()]],
                     "probability is not a number in [0, 1]", "write probabilities between 0 and 1.")
            partial = any_p & blank.any(axis=1)
            if partial.any():
                i = partial.idxmax()
                fail(part.at[i, "_row"], by_key[blank.columns[blank.loc[i].to_numpy().argmax()]],
                     "some option probabilities are empty", "give every option a probability (0 if none).")
            if len(by_key) < len(dim.options) and any_p.any():
                miss = [o.label for o in dim.options if o.label not in by_key]
                notes.append(f"dimension '{dim.name}': options {miss} have no prob_ column and count as "
                             "probability 0")
            tot = P.sum(axis=1)
            off = any_p & ((tot - 1).abs() > PROB_TOLERANCE)
            if off.any() and not opts.renormalize:
                i = off.idxmax()
                fail(part.at[i, "_row"], next(iter(by_key.values())), f"option probabilities sum to {tot[i]:.4f}, "
                     f"not 1 (tolerance {PROB_TOLERANCE})", "pass --renormalize to divide each row by its sum.")
            bad = any_p & (tot <= 0)
            if bad.any():
                i = bad.idxmax()
                fail(part.at[i, "_row"], next(iter(by_key.values())), "all option probabilities are 0",
                     "give at least one option a positive probability.")
            # within the tolerance (or with --renormalize) the row is divided by its sum, so the expected value
            # stays within the options' range
            P = P.div(tot.where(tot > 0, 1.0), axis=0).fillna(0.0)
            vals = np.array([labels[lab] for lab in P.columns])
            probs_json = pd.Series([json.dumps(dict(zip(P.columns, map(float, r)))) if a else None
                                    for r, a in zip(P.to_numpy(), any_p)], index=part.index, dtype=object)
            only_p = any_p & ~lab_given & ~val_given & ~missing
            if only_p.any():
                if opts.score == "argmax":
                    am = P.columns[np.argmax(P.to_numpy(), axis=1)]
                    label = label.where(~only_p, pd.Series(am, index=part.index))
                    value = value.where(~only_p, label.map(lambda s: labels.get(s, np.nan)))
                    source = source.where(~only_p, "argmax")
                else:
                    ev = pd.Series(P.to_numpy() @ vals, index=part.index)
                    value = value.where(~only_p, ev)
                    source = source.where(~only_p, "expected")
    no_rating = (status == "ok") & value.isna() & label.isna()
    if no_rating.any():
        i = no_rating.to_numpy().argmax()
        fail(part["_row"].iloc[i], "label", "the row has no rating (label, value and probabilities are empty)",
             "fill in a rating, or mark it not answered with the dimension's missing code"
             + (f" {sorted(codes)}" if codes else " (--missing-code)") + ".")
    nan_mask = status == "not_answered"
    label[nan_mask] = None
    value[nan_mask] = np.nan
    out = pd.DataFrame({
        "conversation_id": part["conversation_id"], "dimension": dim.name, "rater_id": part["rater_id"],
        "rater_kind": part["rater_kind"], "sample": part["sample"], "task_id": part["task_id"],
        "status": status, "label": label, "value": value, "value_source": source.where(~nan_mask, None),
        "confidence": part["confidence"], "probs": probs_json, "raw": None, "rationale": None, "error": None,
        "run_id": None, "_row": part["_row"],
    })
    out.attrs["notes"] = notes
    return out


def load_with_reference(store, source, *, rubric, source_name=None, replace=False, **kw):
    """What ``store.ingest_signals`` did before ingest moved into DuckDB: pandas normalisation, then the
    DataFrame write path (:func:`auditor.store.write_signals`, still used by the tau-usi reader)."""
    from auditor.store import register_rubric, write_signals

    rub = store.rubric(rubric)
    raw = as_raw_table(source, source_name)
    opts = SignalOptions(**kw)
    norm = normalise_signals(raw, rub, opts)
    with store.transaction():
        register_rubric(store, rub, source=str(rubric))
        return write_signals(store, norm, source=raw.path, replace=replace, sha256=raw.sha256, rubric=rub.name,
                             options=opts.to_dict())
