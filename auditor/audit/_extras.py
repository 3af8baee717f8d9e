"""Measures beyond agreement and bias, for one LLM rater on one dimension of the paired design.

``extra_paired_rows`` is the hook ``audit()`` calls after the paired statistics of each (LLM rater, dimension). It
adds five families (formulas in the ``auditor.stats`` modules named):

* calibration (``auditor.stats.calibration``): ``ece``, ``ece_equal_mass``, ``brier``, ``brier_reliability``,
  ``brier_resolution``, ``brier_uncertainty`` - when the rater's signals carry option probabilities (preferred) or
  a self-reported confidence; ``human_mean_at_llm=<v>`` for non-nominal dimensions;
* the alternative annotator test (``auditor.stats.alt_test``): ``alt_test_winning_rate``, ``alt_test_advantage``,
  ``alt_test_passed`` - always reported; refused (NaN with the reason) without >= 3 humans with enough items;
* corrected estimates (``auditor.stats.corrected``): ``naive_llm_mean``, ``ppi_mean`` (non-nominal dimensions) and
  ``rogan_gladen_rate`` (binary);
* stability (``auditor.stats.stability``): ``test_retest_alpha`` and ``flip_rate`` when some conversation has >= 2
  samples of the rater; ``position_consistency`` when a rater ``<id>:swapped`` holds the swapped-order verdicts;
* confounds (``auditor.stats.confounds``): ``confound_slope_length``, ``confound_slope_turns`` (non-nominal).

A measure whose input is absent (no probabilities, one sample, no swapped rater, a nominal dimension) is left out,
unless it is named in ``AuditOptions.statistics``: then it gives a NaN row with the reason.

Options (``AuditOptions.extra``): ``alt_test_epsilon`` (0.15), ``alt_test_q`` (0.05), ``alt_test_min_items`` (30),
``alt_test_min_humans`` (3), ``calibration_bins`` (10).

Store reads are read-only, with bound parameters, and fetched fully.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats import alt_test as _alt
from ..stats import calibration as _cal
from ..stats import confounds as _conf
from ..stats import corrected as _corr
from ..stats import stability as _stab
from ..stats._arrays import unique as _unique
from ..stats._result import StatRow
from ._paired import paired_inputs, rater_scores, reference_scores

__all__ = ["EXTRA_STATISTICS", "CalibrationInputs", "calibration_inputs", "fetch_rater_signals", "reliability_data",
           "extra_paired_rows"]

CORRECTED = ["naive_llm_mean", "ppi_mean", "rogan_gladen_rate"]
STABILITY = ["test_retest_alpha", "flip_rate", "position_consistency"]
EXTRA_STATISTICS = (_cal.CALIBRATION_STATISTICS + ["human_mean_at_llm"] + _alt.ALT_TEST_STATISTICS + CORRECTED
                    + STABILITY + list(_conf.CONFOUNDS))
_MAX_LEVELS = 20          # human_mean_at_llm only for dimensions with at most this many option values
_TOL = 1e-9


class _Want:
    """Which statistics to compute: None = every applicable one; a list = those (NaN with reason if inapplicable)."""

    def __init__(self, statistics):
        self.names = None if statistics is None else set(statistics)

    def __call__(self, name: str) -> bool:
        if self.names is None:
            return True
        if name == "human_mean_at_llm":
            return any(s == name or s.startswith(name + "=") for s in self.names)
        return name in self.names

    def explicit(self, name: str) -> bool:
        return self.names is not None and self(name)

    def any(self, names) -> bool:
        return any(self(n) for n in names)


def _nan_rows(names, reason: str, want: _Want, n: int = 0) -> list[StatRow]:
    return [StatRow(s, float("nan"), n=n, note=f"undefined: {reason}") for s in names if want.explicit(s)]


# ---------------------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------------------

@dataclass
class CalibrationInputs:
    """One forecast per LLM signal with a human reference (see ``auditor.stats.calibration``)."""

    units: np.ndarray          # (n,) conversation key of each forecast (the resampling unit)
    confidence: np.ndarray     # (n,) top-label confidence
    correct: np.ndarray        # (n,) 1 = the LLM's answer equals the human consensus
    forecast: np.ndarray       # (n, K) probabilities (K = 1: a binary event)
    outcome: np.ndarray        # (n, K) 0/1
    source: str                # what was forecast, for notes
    dropped: str = ""          # what was left out and why


def _floats(col) -> np.ndarray:
    """A fetched numeric column as float64 with NaN for SQL NULL (``fetchnumpy`` gives masked arrays)."""
    return np.ma.filled(np.ma.asarray(col).astype(float), np.nan)


def _json_pointer(label: str) -> str:
    return "/" + label.replace("~", "~0").replace("/", "~1")


def fetch_rater_signals(store, rubric: str, dim, rater_id: str) -> dict:
    """One read of a rater's 'ok' signals on one dimension: conversation key, sample, value, confidence, option
    probabilities (columns in ``dim.options`` order; NaN where absent) and the conversation's length.

    Returns numpy arrays: ``conv``, ``sample``, ``value``, ``confidence``, ``has_probs``, ``P_labels`` (n, options),
    ``n_chars``, ``n_turns``.
    """
    labels = [o.label for o in dim.options]
    cols = ", ".join(f"TRY_CAST(json_extract(s.probs, ?) AS DOUBLE) AS p{i}" for i in range(len(labels)))
    q = (f"SELECT c.conv_key AS conv, s.sample AS sample, s.value AS value, s.confidence AS confidence, "
         f"s.probs IS NOT NULL AS has_probs, c.n_chars::DOUBLE AS n_chars, c.n_turns::DOUBLE AS n_turns, {cols} "
         "FROM signals s JOIN conversations c USING (conversation_id) "
         "WHERE s.rubric = ? AND s.dimension = ? AND s.rater_id = ? AND s.status = 'ok' AND s.value IS NOT NULL")
    params = [_json_pointer(lab) for lab in labels] + [rubric, dim.name, rater_id]
    d = store.con.execute(q, params).fetchnumpy()
    out = {"conv": np.asarray(d["conv"], dtype=np.int64), "sample": np.asarray(d["sample"], dtype=np.int64)}
    for k in ("value", "confidence", "n_chars", "n_turns"):
        out[k] = _floats(d[k])
    out["has_probs"] = np.asarray(np.ma.filled(np.ma.asarray(d["has_probs"]), False), dtype=bool)
    out["P_labels"] = np.column_stack([_floats(d[f"p{i}"]) for i in range(len(labels))])
    return out


def _on_grid(v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of each value in ``grid`` (-1 when off the grid)."""
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    j = np.abs(v[:, None] - grid[None, :]).argmin(axis=1)
    return np.where(np.abs(grid[j] - v) <= _TOL, j, -1)


def calibration_inputs(store, rubric: str, dim, rater_id: str, ref_units: np.ndarray,
                       ref_values: np.ndarray, *, fetched: dict | None = None) -> CalibrationInputs | None:
    """The forecasts of ``rater_id`` on ``dim`` against the reference consensus (``ref_units`` sorted).

    None when the rater's signals carry neither option probabilities nor a confidence. ``fetched`` = the result
    of :func:`fetch_rater_signals`, when already read.
    """
    d = fetched if fetched is not None else fetch_rater_signals(store, rubric, dim, rater_id)
    conv = d["conv"]
    has_p = d["has_probs"]
    conf = d["confidence"]
    has_c = ~np.isnan(conf)
    if not has_p.any() and not has_c.any():
        return None
    grid = np.asarray(dim.distinct_values, dtype=float)
    has_ref = np.zeros(conv.size, dtype=bool)
    y = np.full(conv.size, np.nan)
    if ref_units.size:
        pos = np.minimum(np.searchsorted(ref_units, conv), ref_units.size - 1)
        has_ref = ref_units[pos] == conv
        y = np.where(has_ref, ref_values[pos], np.nan)
    y_idx = _on_grid(np.nan_to_num(y, nan=np.inf), grid)
    dropped = []
    if has_p.any():
        use = has_p & has_ref
        if (has_p & ~has_ref).any():
            dropped.append(f"{int((has_p & ~has_ref).sum())} forecast(s) without a human reference")
        off = use & (y_idx < 0)
        if off.any():
            dropped.append(f"{int(off.sum())} forecast(s) whose human consensus is not an option value")
        use &= y_idx >= 0
        if (~has_p).any():
            dropped.append(f"{int((~has_p).sum())} signal(s) without probabilities")
        PL = np.nan_to_num(d["P_labels"][use], nan=0.0)
        value_of = np.array([grid.tolist().index(float(o.value)) for o in dim.options], dtype=np.int64)
        P = np.zeros((PL.shape[0], grid.size))
        for i, j in enumerate(value_of):
            P[:, j] += PL[:, i]
        tot = P.sum(axis=1, keepdims=True)
        P = np.divide(P, tot, out=np.full_like(P, 1.0 / grid.size), where=tot > 0)
        yi = y_idx[use]
        top = P.argmax(axis=1)
        confidence = P.max(axis=1)
        correct = (top == yi).astype(float)
        O = np.zeros_like(P)
        O[np.arange(yi.size), yi] = 1.0
        if grid.size == 2:
            F, O, kind = P[:, [1]], O[:, [1]], f"one-vs-rest Brier on the positive value {grid[1]:g}"
        else:
            F, kind = P, f"multi-class Brier over {grid.size} option values"
        source = (f"option probabilities (collapsed onto option values) for the human consensus; top-label "
                  f"confidence for ECE; {kind}")
        units = conv[use]
    else:
        use = has_c & has_ref
        if (has_c & ~has_ref).any():
            dropped.append(f"{int((has_c & ~has_ref).sum())} forecast(s) without a human reference")
        if (~has_c).any():
            dropped.append(f"{int((~has_c).sum())} signal(s) without a confidence")
        v = d["value"][use]
        confidence = np.clip(conf[use], 0.0, 1.0)
        correct = (np.abs(v - y[use]) <= _TOL).astype(float)
        F, O = confidence[:, None], correct[:, None]
        source = "self-reported confidence that the LLM's answer equals the human consensus; binary Brier"
        units = conv[use]
    return CalibrationInputs(units, confidence, correct, F, O, source, "; ".join(dropped))


def reliability_data(store, rater_id: str, rubric: str, dimension: str, *, reference: str | None = None,
                     strategy: str = "uniform", n_bins: int = _cal.N_BINS) -> pd.DataFrame:
    """Reliability-diagram data of one LLM rater on one dimension (paired design; Python API).

    ``reference`` = a rater id, or None for the human consensus. Returns
    :func:`auditor.stats.calibration.reliability_diagram` of the rater's top-label confidence (columns ``bin``,
    ``lower``, ``upper``, ``n``, ``mean_confidence``, ``accuracy``, ``gap``, ``weight``). Raises ``LookupError``
    when the rater has no probabilities or confidences there.
    """
    from . import _fetch

    raters = _fetch.raters(store)
    if rater_id not in raters:
        raise LookupError(f"unknown rater '{rater_id}'; stored raters: {', '.join(raters)}")
    rub = _fetch.load_stored_rubric(store, rubric)
    dim = rub.dimension(dimension)
    sig = _fetch.dimension_signals(store, rubric, dimension)
    ref_idx = [raters[reference].index] if reference else [i.index for i in raters.values() if i.kind == "human"]
    inp = paired_inputs(sig, raters[rater_id].index, reference_scores(sig, ref_idx, dim.level), dim.level)
    ci = calibration_inputs(store, rubric, dim, rater_id, inp.units, inp.y)
    if ci is None:
        raise LookupError(f"rater '{rater_id}' has neither option probabilities nor a confidence on "
                          f"{rubric}/{dimension}")
    return _cal.reliability_diagram(ci.confidence, ci.correct, n_bins=n_bins, strategy=strategy)


def _calibration_rows(store, rubric, dim, name, inp, opts, want: _Want, fetched) -> list[StatRow]:
    out: list[StatRow] = []
    boot = dict(n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)
    names = [s for s in _cal.CALIBRATION_STATISTICS if want(s)]
    if names:
        ci = calibration_inputs(store, rubric.name, dim, name, inp.units, inp.y, fetched=fetched())
        if ci is None:
            out += _nan_rows(names, "this rater's signals carry neither option probabilities nor a confidence "
                             "(ingest prob_<option> or confidence columns, or ask the judge for a confidence)", want)
        else:
            rows = _cal.calibration_statistics(ci.confidence, ci.correct, ci.forecast, ci.outcome, units=ci.units,
                                               statistics=names, n_bins=int(opts.extra.get("calibration_bins",
                                                                                            _cal.N_BINS)),
                                               source=ci.source, confidence_level=0.95, **boot)
            if ci.dropped:
                for r in rows:
                    r.note += f"; left out: {ci.dropped}"
            out += rows
    if want("human_mean_at_llm"):
        grid = dim.distinct_values
        if dim.level == "nominal":
            out += _nan_rows(["human_mean_at_llm"], "a nominal dimension has no human mean per score level", want)
        elif len(grid) > _MAX_LEVELS:
            out += _nan_rows(["human_mean_at_llm"], f"{len(grid)} option values (> {_MAX_LEVELS}); bin the scores "
                             "first", want)
        else:
            out += _cal.human_mean_by_llm_level(inp.x, inp.y, option_values=grid, confidence=0.95, **boot)
    return out


# ---------------------------------------------------------------------------------------------------------
# the other families
# ---------------------------------------------------------------------------------------------------------

def _alt_test_rows(sig, dim, idx, raters, human_idx, opts, want: _Want) -> list[StatRow]:
    names = [s for s in _alt.ALT_TEST_STATISTICS if want(s)]
    if not names:
        return []
    ux, vx = rater_scores(sig, idx, dim.level)
    _, _, _, (conv, rat, val) = reference_scores(sig, list(human_idx), dim.level)
    display = {info.index: rid for rid, info in raters.items()}
    ex = opts.extra
    return _alt.alt_test_statistics(conv, rat, val, ux, vx, level=dim.level,
                                    epsilon=float(ex.get("alt_test_epsilon", _alt.DEFAULT_EPSILON)),
                                    q=float(ex.get("alt_test_q", _alt.DEFAULT_Q)),
                                    min_items=int(ex.get("alt_test_min_items", _alt.DEFAULT_MIN_ITEMS)),
                                    min_humans=int(ex.get("alt_test_min_humans", _alt.DEFAULT_MIN_HUMANS)),
                                    rater_names=display, statistics=names, n_boot=opts.n_boot, seed=opts.seed,
                                    ci_method=opts.ci_method)


def _design_of_labels(store, sig, rubric: str, inp) -> dict:
    """How the labelled conversations were chosen: ``{"kind": "srs" | "weighted" | "mixed", "pi", "campaigns",
    "n_outside"}``. Imported labels count as a simple random sample; campaign items carry their inclusion
    probability; unequal probabilities need weights, and a mix of weighted and outside labels has no design."""
    from ._fetch import inclusion_probs

    probs = inclusion_probs(store, sig, rubric)
    if not probs:
        return {"kind": "srs"}
    pi = np.array([probs.get(int(u), (np.nan, "", None))[0] for u in inp.units])
    campaigns = sorted({probs[int(u)][1] for u in inp.units if int(u) in probs})
    known = ~np.isnan(pi)
    if not known.any():
        return {"kind": "srs"}
    equal = np.ptp(pi[known]) <= 1e-12
    if equal:
        return {"kind": "srs", "campaigns": campaigns}
    if not known.all():
        return {"kind": "mixed", "campaigns": campaigns, "n_outside": int((~known).sum())}
    strata = [probs[int(u)][2] for u in inp.units]
    return {"kind": "weighted", "pi": pi, "campaigns": campaigns,
            "strata": None if any(h is None for h in strata) else np.array(strata)}


def _corrected_rows(sig, dim, idx, inp, opts, want: _Want, design: dict | None = None) -> list[StatRow]:
    names = [s for s in CORRECTED if want(s)]
    if not names:
        return []
    if dim.level == "nominal":
        return _nan_rows(names, "a mean of nominal codes has no meaning", want)
    design = design or {"kind": "srs"}
    boot = dict(n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)
    ux, vx = rater_scores(sig, idx, dim.level)
    unl = ~np.isin(ux, inp.units)
    out = []
    if "naive_llm_mean" in names:
        out.append(_corr.naive_llm_mean(vx, **boot))
    where = ", ".join(design.get("campaigns", []))
    if design["kind"] in ("mixed", "selected"):
        if design["kind"] == "selected":
            reason = (f"refused: {design['n_selected']} of the {inp.units.size} human-labelled conversations were "
                      f"chosen by largest disagreement (campaign {where}), not at random; a corrected estimate needs "
                      "a random sample of labelled conversations (label a --sample campaign)")
        else:
            first = design["campaigns"][0]
            fix = ("give every labelled conversation an inclusion_prob (in the signals file, or reload with "
                   "--replace)" if first.startswith("file ") else
                   f"audit the campaign alone (auditor audit --campaign {first})")
            reason = (f"refused: the labelled conversations mix a sample with unequal inclusion probabilities "
                      f"(campaign {where}) with {design['n_outside']} labelled outside it, which together follow no "
                      f"known design. Fix: {fix}")
        out += [StatRow(s, float("nan"), n=int(inp.units.size), note=reason)
                for s in ("ppi_mean", "rogan_gladen_rate") if s in names]
        return out
    if "ppi_mean" in names:
        if design["kind"] == "weighted":
            # design-weighted PPI++: rectifier weighted by 1 / inclusion probability (Hajek), the LLM term over
            # every conversation the LLM rated (the sampling frame), so that both terms estimate population means
            row = _corr.ppi_mean(inp.y, inp.x, vx, w=1.0 / design["pi"], frame=True, strata=design["strata"])
            row.note = (f"design-weighted (inclusion probabilities of campaign {where}; weights 1/pi, normalised; "
                        "the LLM term averages every conversation the LLM rated); " + row.note)
        else:
            row = _corr.ppi_mean(inp.y, inp.x, vx[unl])
            if where:
                row.note = f"labels from a simple random sample (campaign {where}); " + row.note
        out.append(row)
    if "rogan_gladen_rate" in names:
        if dim.level != "binary":
            out += _nan_rows(["rogan_gladen_rate"], "Rogan-Gladen needs a binary dimension", want)
        else:
            lo, hi = dim.distinct_values[0], dim.distinct_values[-1]
            mid = (lo + hi) / 2
            off = int(np.sum((np.abs(vx - lo) > _TOL) & (np.abs(vx - hi) > _TOL)))
            weighted = design["kind"] == "weighted"
            row = _corr.rogan_gladen_rate((vx >= mid).astype(float), (inp.x >= mid).astype(float),
                                          (inp.y >= mid).astype(float), **boot,
                                          w=1.0 / design["pi"] if weighted else None,
                                          strata=design.get("strata") if weighted else None)
            row.note = f"success = value {hi:g}; " + (f"design-weighted (campaign {where}); " if weighted else
                                                      "") + row.note
            if off:
                row.note += f"; {off} LLM score(s) between the two values thresholded at {mid:g}"
            out.append(row)
    return out


def _stability_rows(sig, dim, name, idx, raters, opts, want: _Want) -> list[StatRow]:
    out = []
    boot = dict(n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)
    m = sig.rater == idx
    units, samples, values = sig.conv[m], sig.sample[m], sig.value[m]
    repeated = units.size > _unique(units).size
    if want("test_retest_alpha") and (repeated or want.explicit("test_retest_alpha")):
        out.append(_stab.retest_alpha(units, samples, values, level=dim.level, option_values=dim.distinct_values,
                                      **boot))
    if want("flip_rate") and (repeated or want.explicit("flip_rate")):
        out.append(_stab.flip_rate(units, samples, values, **boot))
    if want("position_consistency") and not name.endswith(_stab.SWAPPED_SUFFIX):
        partner = raters.get(name + _stab.SWAPPED_SUFFIX)
        if partner is not None and np.any(sig.rater == partner.index):
            u1, v1 = rater_scores(sig, idx, dim.level)
            u2, v2 = rater_scores(sig, partner.index, dim.level)
            row = _stab.position_consistency(u1, v1, u2, v2, **boot)
            row.note = f"against '{partner.rater_id}' (the swapped answer order); " + row.note
            out.append(row)
        else:
            out += _nan_rows(["position_consistency"], f"no rater '{name}{_stab.SWAPPED_SUFFIX}' with the verdicts "
                             "for the swapped answer order on this dimension (store them under that rater id, "
                             "labels in the original order's frame)", want)
    return out


def _confound_rows(dim, inp, opts, want: _Want, fetched) -> list[StatRow]:
    names = [s for s in _conf.CONFOUNDS if want(s)]
    if not names:
        return []
    if dim.level == "nominal":
        return _nan_rows(names, "LLM - human has no meaning on a nominal dimension", want)
    d = fetched()
    conv, first = np.unique(d["conv"], return_index=True)       # the rater's conversations, with their lengths
    cov = {s: np.full(inp.units.size, np.nan) for s in names}
    if conv.size:
        pos = np.minimum(np.searchsorted(conv, inp.units), conv.size - 1)
        found = conv[pos] == inp.units
        for s in names:
            cov[s] = np.where(found, d[_conf.CONFOUNDS[s][0]][first][pos], np.nan)
    return _conf.confound_slopes(inp.x - inp.y, cov, n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)


def extra_paired_rows(store, sig, rubric, dim, name, raters, ref_idx, human_idx, inp, opts, ctx) -> list[dict]:
    """Calibration, alt-test, corrected-estimate, stability and confound rows of LLM rater ``name`` on ``dim``.

    Called by ``audit()`` after the paired statistics; returns rows with the audit's columns (``ctx`` supplies
    rater, reference, design, rubric, dimension, level). ``reference`` is ``humans`` for the alt-test (it always
    compares with individual humans), the rater itself for test-retest and flips, and ``<rater>:swapped`` for
    position consistency.
    """
    want = _Want(opts.statistics)
    idx = raters[name].index
    rows: list[tuple[StatRow, dict]] = []
    cache: dict = {}

    def fetched() -> dict:        # one store read per (rater, dimension), only when a measure needs it
        if "d" not in cache:
            cache["d"] = fetch_rater_signals(store, rubric.name, dim, name)
        return cache["d"]

    def add(stat_rows, **override):
        rows.extend((r, override) for r in stat_rows)

    if want.any(_cal.CALIBRATION_STATISTICS + ["human_mean_at_llm"]):
        add(_calibration_rows(store, rubric, dim, name, inp, opts, want, fetched))
    if want.any(_alt.ALT_TEST_STATISTICS):
        add(_alt_test_rows(sig, dim, idx, raters, human_idx, opts, want), reference="humans")
    if want.any(CORRECTED):
        from ._fetch import selected_among

        n_sel, chosen_by = selected_among(store, sig, rubric.name, inp.units)
        design = ({"kind": "selected", "campaigns": chosen_by, "n_selected": n_sel} if n_sel else
                  _design_of_labels(store, sig, rubric.name, inp))
        add(_corrected_rows(sig, dim, idx, inp, opts, want, design))
    if want.any(STABILITY):
        for r in _stability_rows(sig, dim, name, idx, raters, opts, want):
            ref = name + _stab.SWAPPED_SUFFIX if r.statistic == "position_consistency" else name
            rows.append((r, {"reference": ref}))
    if want.any(_conf.CONFOUNDS):
        add(_confound_rows(dim, inp, opts, want, fetched))
    return [{**ctx, **override, **r.to_dict()} for r, override in rows]
