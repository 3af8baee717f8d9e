"""Calibration of an LLM rater's stated probabilities or confidence against the human reference.

Inputs are plain arrays, one element per *forecast* (one LLM signal: a conversation and sample); ``units`` names the
resampling unit of each forecast (the conversation), so a conversation with several samples is resampled whole.

Two kinds of forecast (``auditor.audit._extras`` builds them from the store):

* **option probabilities** ``{option: p}``: collapsed onto the dimension's distinct option *values* (two labels
  with one value, e.g. "Too many" = "Too few" = 1, add up) and renormalised to sum 1. The event is "the human
  consensus takes this value". Top-label: confidence = the largest probability, correct = the most probable value
  equals the consensus. Brier: multi-class, the sum over values of (p_k - o_k)^2 (range [0, 2]); for a *binary*
  dimension one-vs-rest on the positive (higher) value, (p_pos - o_pos)^2 (range [0, 1]).
* **self-reported confidence** c in [0, 1] in the rater's own label: the event is "the LLM's label equals the human
  consensus"; confidence = c, correct = that event, Brier = (c - correct)^2.

Measures
--------
* ``ece`` - expected calibration error, equal-width bins: sum_b (n_b / n) |accuracy_b - mean confidence_b| over
  10 bins [0, .1), ..., [.9, 1]. 0 = calibrated; the average gap between stated confidence and hit rate.
* ``ece_equal_mass`` - the same over 10 equal-mass bins (edges at the confidence deciles; tied confidences stay in
  one bin, so bins are only approximately equal when there are ties). Less sensitive to empty bins.
* ``brier`` - mean squared error of the probability forecast (0 = perfect; lower is better).
* ``brier_reliability``, ``brier_resolution``, ``brier_uncertainty`` - Murphy's decomposition, in its *scalar*
  form for several options (Murphy 1972: the sum over options of the binary decomposition of p_k vs o_k), with
  forecasts binned in 10 equal-width bins per option. To keep the identity exact when forecasts within a bin
  differ, resolution is Stephenson et al.'s (2008) **generalised resolution**
  ``RES - WBV + WBC`` (binned resolution minus within-bin forecast variance plus within-bin forecast/outcome
  covariance), so that **reliability - resolution + uncertainty = brier** holds exactly (to rounding). When every
  forecast in a bin is the same value (forecasts issued in tenths, or one forecast per bin) WBV = WBC = 0 and this
  is Murphy's (1973) classic decomposition. Reliability >= 0 (lower is better: the squared gap between a bin's mean
  forecast and its observed frequency), resolution higher is better, uncertainty depends only on the outcomes.
* ``human_mean_at_llm=<v>`` (family ``human_mean_at_llm``) - the mean human consensus over the conversations the
  LLM scored v: a calibration curve for ordinal scores (a calibrated rater sits on the diagonal).

Intervals: bootstrap over units of per-unit sums (``bootstrap_sums``); bins are fixed at the full-sample edges.

References
----------
Guo, C., Pleiss, G., Sun, Y., & Weinberger, K. Q. (2017). On calibration of modern neural networks. ICML.
Nixon, J., Dusenberry, M., Zhang, L., Jerfel, G., & Tran, D. (2019). Measuring calibration in deep learning. CVPR-W.
Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather Review 78.
Murphy, A. H. (1972). Scalar and vector partitions of the probability score: Part II. N-state situation. J. Appl.
Meteor. 11. Murphy, A. H. (1973). A new vector partition of the probability score. J. Appl. Meteor. 12.
Stephenson, D. B., Coelho, C. A. S., & Jolliffe, I. T. (2008). Two extra components in the Brier score
decomposition. Weather and Forecasting 23, 752-757.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._arrays import unique as _unique, unique_inverse, unique_rows
from ._bootstrap import bootstrap_sums
from ._registry import register
from ._result import StatRow


__all__ = ["CALIBRATION_STATISTICS", "N_BINS", "bin_equal_width", "bin_equal_mass", "reliability_diagram",
           "expected_calibration_error", "brier_decomposition", "calibration_statistics", "human_mean_by_llm_level",
           "sum_by_unit"]

N_BINS = 10
CALIBRATION_STATISTICS = ["ece", "ece_equal_mass", "brier", "brier_reliability", "brier_resolution",
                          "brier_uncertainty"]
_TOL = 1e-9


# ---------------------------------------------------------------------------------------------------------
# binning and plain (point) estimates
# ---------------------------------------------------------------------------------------------------------

def _as_prob(v, name: str) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if np.any(np.isnan(a)):
        raise ValueError(f"{name} has missing values; drop those forecasts first")
    if np.any((a < -_TOL) | (a > 1 + _TOL)):
        raise ValueError(f"{name} must be probabilities in [0, 1]")
    return np.clip(a, 0.0, 1.0)


def bin_equal_width(p: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin index of each probability in ``n_bins`` equal-width bins [0, 1/n_bins), ..., [1 - 1/n_bins, 1]."""
    p = np.asarray(p, dtype=float)
    return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)


def bin_equal_mass(p: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin index in ``n_bins`` equal-mass bins: edges at the empirical quantiles k / n_bins (linear interpolation).

    A value equal to an edge goes to the upper bin, so tied values always share a bin (bins may then be unequal
    in size, and some may be empty).
    """
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.quantile(p, np.arange(1, n_bins) / n_bins)
    return np.searchsorted(edges, p, side="right").astype(np.int64)


def _bins(confidence, strategy: str, n_bins: int) -> np.ndarray:
    if strategy == "uniform":
        return bin_equal_width(confidence, n_bins)
    if strategy == "quantile":
        return bin_equal_mass(confidence, n_bins)
    raise ValueError(f"strategy must be 'uniform' (equal width) or 'quantile' (equal mass); got {strategy!r}")


def reliability_diagram(confidence, correct, *, n_bins: int = N_BINS, strategy: str = "uniform") -> pd.DataFrame:
    """Reliability-diagram data: one row per non-empty bin of stated confidence.

    Parameters
    ----------
    confidence : (n,) probabilities the rater gave to its answer (or to an event).
    correct : (n,) 1 where the answer was right (the event happened), else 0.
    strategy : ``"uniform"`` (equal width, as ``ece``) or ``"quantile"`` (equal mass, as ``ece_equal_mass``).

    Returns
    -------
    DataFrame with columns ``bin``, ``lower``, ``upper`` (bin edges; for equal-mass bins the smallest and largest
    confidence inside), ``n``, ``mean_confidence``, ``accuracy`` (observed frequency), ``gap`` (accuracy -
    mean_confidence: > 0 the rater is under-confident there, < 0 over-confident) and ``weight`` (n / total).
    Plot ``accuracy`` against ``mean_confidence``; a calibrated rater lies on the diagonal.

    Examples
    --------
    >>> d = reliability_diagram([0.9, 0.9, 0.9, 0.9, 0.2], [1, 1, 1, 0, 0])
    >>> d[["bin", "n", "mean_confidence", "accuracy"]].values.tolist()
    [[2.0, 1.0, 0.2, 0.0], [9.0, 4.0, 0.9, 0.75]]
    """
    c = _as_prob(confidence, "confidence")
    y = _as_prob(correct, "correct")
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"confidence and correct must be 1-D of equal length; got {c.shape} and {y.shape}")
    b = _bins(c, strategy, n_bins)
    n = np.bincount(b, minlength=n_bins).astype(float)
    sc = np.bincount(b, weights=c, minlength=n_bins)
    sy = np.bincount(b, weights=y, minlength=n_bins)
    keep = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        conf, acc = sc / n, sy / n
    if strategy == "uniform":
        lower = np.arange(n_bins) / n_bins
        upper = (np.arange(n_bins) + 1) / n_bins
    else:
        lower = np.array([c[b == k].min() if n[k] else np.nan for k in range(n_bins)])
        upper = np.array([c[b == k].max() if n[k] else np.nan for k in range(n_bins)])
    total = max(n.sum(), 1.0)
    return pd.DataFrame({"bin": np.arange(n_bins)[keep].astype(float), "lower": lower[keep], "upper": upper[keep],
                         "n": n[keep], "mean_confidence": conf[keep], "accuracy": acc[keep],
                         "gap": (acc - conf)[keep], "weight": n[keep] / total}).reset_index(drop=True)


def expected_calibration_error(confidence, correct, *, n_bins: int = N_BINS, strategy: str = "uniform") -> float:
    """ECE = sum_b (n_b / n) |accuracy_b - mean confidence_b| (Guo et al. 2017). NaN for no forecasts.

    >>> round(expected_calibration_error([0.9, 0.9, 0.9, 0.9, 0.2], [1, 1, 1, 0, 0]), 6)  # (4*.15 + .2) / 5
    0.16
    """
    d = reliability_diagram(confidence, correct, n_bins=n_bins, strategy=strategy)
    if d.empty:
        return float("nan")
    return float(np.sum(d["weight"] * np.abs(d["gap"])))


def _as_forecast(forecast, outcome):
    F = np.asarray(forecast, dtype=float)
    O = np.asarray(outcome, dtype=float)
    if F.ndim == 1:
        F = F[:, None]
    if O.ndim == 1:
        O = O[:, None]
    if F.shape != O.shape:
        raise ValueError(f"forecast and outcome must have the same shape; got {F.shape} and {O.shape}")
    F = _as_prob(F, "forecast")
    if not np.all((O == 0) | (O == 1)):
        raise ValueError("outcome must be 0/1 indicators (one-hot rows for several options)")
    return F, O


def brier_decomposition(forecast, outcome, *, n_bins: int = N_BINS) -> dict[str, float]:
    """Brier score and its exact decomposition (see the module docstring).

    Parameters
    ----------
    forecast : (n,) or (n, K) probabilities: one column for a binary event, one per option otherwise.
    outcome : same shape, 0/1 (one-hot rows).

    Returns
    -------
    dict with ``brier``, ``reliability``, ``resolution`` (generalised), ``uncertainty``, and the parts of the
    generalised resolution: ``binned_resolution``, ``within_bin_variance``, ``within_bin_covariance``.
    ``reliability - resolution + uncertainty == brier`` up to rounding.

    Examples
    --------
    Forecasts in tenths (one value per bin), so this is Murphy's 1973 decomposition:

    >>> d = brier_decomposition([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1])
    >>> {k: round(v, 6) for k, v in d.items() if k in ("brier", "reliability", "resolution", "uncertainty")}
    {'brier': 0.19, 'reliability': 0.065, 'resolution': 0.0625, 'uncertainty': 0.1875}
    """
    F, O = _as_forecast(forecast, outcome)
    if F.shape[0] == 0:
        nan = float("nan")
        return dict(brier=nan, reliability=nan, resolution=nan, uncertainty=nan, binned_resolution=nan,
                    within_bin_variance=nan, within_bin_covariance=nan)
    C, layout = _brier_contributions(F, O, n_bins)
    out = _brier_finalize(C.sum(axis=0)[None, :], layout)
    keys = ["brier", "reliability", "resolution", "uncertainty", "binned_resolution", "within_bin_variance",
            "within_bin_covariance"]
    return {k: float(out[0, i]) for i, k in enumerate(keys)}


# ---------------------------------------------------------------------------------------------------------
# per-forecast contributions (sums) and their finalize functions, shared by point estimates and bootstrap
# ---------------------------------------------------------------------------------------------------------

def _ece_contributions(confidence, correct, bins, n_bins):
    C = np.zeros((confidence.size, n_bins, 3))
    r = np.arange(confidence.size)
    C[r, bins, 0] = 1.0
    C[r, bins, 1] = confidence
    C[r, bins, 2] = correct
    return C.reshape(confidence.size, -1)


def _ece_finalize(sums, n_bins):
    s = sums.reshape(sums.shape[0], n_bins, 3)
    n = s[..., 0].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(s[..., 1] - s[..., 2]).sum(axis=-1) / n


_BRIER_PARTS = 5   # per option and bin: count, sum f, sum o, sum f^2, sum f*o


def _brier_contributions(F, O, n_bins):
    n, K = F.shape
    C = np.zeros((n, K, n_bins, _BRIER_PARTS))
    r = np.repeat(np.arange(n), K)
    k = np.tile(np.arange(K), n)
    b = bin_equal_width(F, n_bins).ravel()
    f, o = F.ravel(), O.ravel()
    for j, v in enumerate((np.ones_like(f), f, o, f * f, f * o)):
        C[r, k, b, j] = v
    return C.reshape(n, -1), (K, n_bins)


def _brier_finalize(sums, layout):
    """(m, p) sums -> (m, 7): brier, reliability, generalised resolution, uncertainty, RES, WBV, WBC."""
    K, nb = layout
    s = sums.reshape(sums.shape[0], K, nb, _BRIER_PARTS)
    N, Fs, Os, F2, FO = (s[..., j] for j in range(_BRIER_PARTS))
    n = N.sum(axis=-1)                                    # (m, K): the same n for every option
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(N > 0, 1.0 / np.where(N > 0, N, 1.0), 0.0)
        obar = Os.sum(axis=-1) / n                        # (m, K)
        brier_k = (F2.sum(-1) - 2 * FO.sum(-1) + Os.sum(-1)) / n      # o^2 = o for 0/1 outcomes
        rel_k = ((Fs - Os) ** 2 * inv).sum(-1) / n
        res_k = ((Os ** 2) * inv).sum(-1) / n - obar ** 2
        wbv_k = (F2.sum(-1) - (Fs ** 2 * inv).sum(-1)) / n
        wbc_k = 2 * (FO.sum(-1) - (Fs * Os * inv).sum(-1)) / n
        unc_k = obar * (1 - obar)
    gres_k = res_k - wbv_k + wbc_k
    parts = [brier_k, rel_k, gres_k, unc_k, res_k, wbv_k, wbc_k]
    return np.stack([p.sum(axis=-1) for p in parts], axis=1)


def sum_by_unit(units, C: np.ndarray) -> np.ndarray:
    """Rows of ``C`` (one per forecast) summed per unit: (n_units, p), units in sorted order."""
    if units is None:
        return C
    _, inv = unique_inverse(units)
    k = int(inv.max()) + 1 if inv.size else 0
    out = np.zeros((k, C.shape[1]))
    for j in range(C.shape[1]):                 # bincount adds in input order, as np.add.at did
        out[:, j] = np.bincount(inv, weights=C[:, j], minlength=k)
    return out


# ---------------------------------------------------------------------------------------------------------
# tidy rows with intervals
# ---------------------------------------------------------------------------------------------------------

@register("ece", kind="calibration", higher_is_better=False, maximum=0.0,
          doc="Expected calibration error, 10 equal-width bins of top-label confidence (0 = calibrated).")
def calibration_statistics(confidence, correct, forecast=None, outcome=None, *, units=None, statistics=None,
                           n_bins: int = N_BINS, n_boot: int = 1000, seed: int | None = 0,
                           ci_method: str = "percentile", confidence_level: float = 0.95,
                           source: str = "") -> list[StatRow]:
    """ECE (equal width and equal mass), Brier and its decomposition, with bootstrap intervals over units.

    Parameters
    ----------
    confidence, correct : (n,) top-label confidence and 0/1 correctness of each forecast (for ``ece*``).
    forecast, outcome : (n, K) probability forecasts and 0/1 outcomes for the Brier score (K = 1 for a binary
        event); None = the binary event (confidence, correct).
    units : (n,) resampling unit of each forecast (None = each forecast is a unit).
    statistics : subset of :data:`CALIBRATION_STATISTICS` (None = all).
    source : a phrase for the note saying what was forecast (e.g. "option probabilities, multi-class Brier").

    Returns
    -------
    list of StatRow, one per statistic: value, percentile/BCa bootstrap interval, n = units, note.
    """
    names = list(CALIBRATION_STATISTICS if statistics is None else statistics)
    bad = [s for s in names if s not in CALIBRATION_STATISTICS]
    if bad:
        raise LookupError(f"unknown calibration statistic(s) {bad}; use {', '.join(CALIBRATION_STATISTICS)}")
    c = _as_prob(confidence, "confidence")
    y = _as_prob(correct, "correct")
    if forecast is None:
        F, O = _as_forecast(c, y)
    else:
        F, O = _as_forecast(forecast, outcome)
    if not (c.size == y.size == F.shape[0]):
        raise ValueError("confidence, correct and forecast need one element per forecast")
    n_units = int(_unique(units).size) if units is not None else int(c.size)
    if c.size == 0:
        return [StatRow(s, np.nan, n=0, note="undefined: no forecast with a human reference") for s in names]
    b_w = bin_equal_width(c, n_bins)
    b_m = bin_equal_mass(c, n_bins)
    C_w = _ece_contributions(c, y, b_w, n_bins)
    C_m = _ece_contributions(c, y, b_m, n_bins)
    C_b, layout = _brier_contributions(F, O, n_bins)
    C = sum_by_unit(units, np.hstack([C_w, C_m, C_b]))
    pw, pm, p_all = C_w.shape[1], C_m.shape[1], C.shape[1]
    used = np.flatnonzero(np.any(C != 0, axis=0))        # empty bins contribute nothing: resample fewer columns

    def finalize(s_used):
        s = np.zeros((s_used.shape[0], p_all))
        s[:, used] = s_used
        return np.hstack([_ece_finalize(s[:, :pw], n_bins)[:, None], _ece_finalize(s[:, pw:pw + pm], n_bins)[:, None],
                          _brier_finalize(s[:, pw + pm:], layout)])

    # grouping identical units pays off only for discrete forecasts
    discrete = _unique(c).size * 2 <= c.size
    Cu, cnt = unique_rows(C[:, used]) if discrete and C.shape[0] > 1 else (C[:, used], None)
    res = bootstrap_sums(Cu, finalize, n_boot=n_boot, seed=seed, method=ci_method,
                         confidence=confidence_level, counts=cnt, compress=False)
    col = {"ece": 0, "ece_equal_mass": 1, "brier": 2, "brier_reliability": 3, "brier_resolution": 4,
           "brier_uncertainty": 5}
    v = res.value
    method = "BCa" if ci_method == "bca" else "percentile"
    ci = (f"{method} bootstrap over {n_units} units, B={n_boot}" if n_boot > 0 and n_units >= 2 else
          "no interval (" + ("n_boot=0" if n_boot <= 0 else "fewer than 2 units") + ")")
    base = f"{source}; {c.size} forecasts" if source else f"{c.size} forecasts"
    notes = {
        "ece": f"{base}; {n_bins} equal-width bins of top-label confidence; {ci}",
        "ece_equal_mass": f"{base}; {n_bins} equal-mass bins (edges at the confidence quantiles of the full "
                          f"sample, fixed in resamples; ties share a bin); {ci}",
        "brier": f"{base}; {ci}",
        "brier_reliability": f"{base}; {n_bins} equal-width bins per option; lower is better; {ci}",
        "brier_resolution": f"{base}; generalised resolution (Stephenson et al. 2008) = binned resolution "
                            f"{v[6]:.6g} - within-bin variance {v[7]:.6g} + within-bin covariance {v[8]:.6g}, so "
                            f"reliability - resolution + uncertainty = brier exactly; higher is better; {ci}",
        "brier_uncertainty": f"{base}; variance of the outcome (depends on the humans only); {ci}",
    }
    out = []
    for s in names:
        j = col[s]
        note = notes[s]
        if res.n_invalid.size and res.n_invalid[j]:
            note += f"; {int(res.n_invalid[j])} of {n_boot} resamples undefined and left out of the interval"
        out.append(StatRow(s, float(v[j]), float(res.ci_low[j]), float(res.ci_high[j]), n_units, note))
    return out


for _name, _doc, _hib, _max in [
        ("ece_equal_mass", "ECE over 10 equal-mass bins of top-label confidence (0 = calibrated).", False, 0.0),
        ("brier", "Brier score of the probability forecast (multi-class; one-vs-rest for binary; 0 = perfect).",
         False, 0.0),
        ("brier_reliability", "Murphy reliability of the Brier score (binned; 0 = calibrated).", False, 0.0),
        ("brier_resolution", "Generalised Murphy resolution of the Brier score (higher = sharper, more useful).",
         True, None),
        ("brier_uncertainty", "Outcome variance part of the Brier score (a property of the human labels).", None,
         None)]:
    register(_name, kind="calibration", higher_is_better=_hib, maximum=_max, doc=_doc)(calibration_statistics)


def _fmt_level(v: float) -> str:
    return f"{v:g}"


@register("human_mean_at_llm", kind="calibration", levels=("binary", "ordinal", "interval", "ratio"),
          higher_is_better=None,
          doc="Mean human consensus at each LLM score level (rows human_mean_at_llm=<value>).")
def human_mean_by_llm_level(x, y, *, option_values, units=None, n_boot: int = 1000, seed: int | None = 0,
                            ci_method: str = "percentile", confidence: float = 0.95) -> list[StatRow]:
    """The human mean at each LLM score level: E[human | LLM = v] for every option value v the LLM used.

    Parameters
    ----------
    x : (n,) the LLM's score per unit; values off the option scale (an expected value 2.7) are rounded to the
        nearest option value (the note says how many).
    y : (n,) the human consensus on the same units.
    option_values : the dimension's option values (the levels).

    Returns
    -------
    One StatRow per level the LLM used, named ``human_mean_at_llm=<v>``: value = mean human score, n = units
    at that level, bootstrap interval over units. A calibrated ordinal rater has value close to v at every level;
    value < v means the LLM over-scores at that level.

    Examples
    --------
    >>> rows = human_mean_by_llm_level([1, 1, 2, 2, 2], [1, 2, 2, 3, 3], option_values=[1, 2, 3], n_boot=0)
    >>> [(r.statistic, round(r.value, 4), r.n) for r in rows]
    [('human_mean_at_llm=1', 1.5, 2), ('human_mean_at_llm=2', 2.6667, 3)]
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    levels = np.asarray(sorted(set(float(v) for v in option_values)))
    if x.size == 0:
        return [StatRow("human_mean_at_llm", np.nan, n=0, note="undefined: no unit with both an LLM and a human "
                        "score")]
    pos = np.abs(x[:, None] - levels[None, :]).argmin(axis=1)
    off = int(np.sum(np.abs(levels[pos] - x) > _TOL))
    L = levels.size
    C = np.zeros((x.size, 2 * L))
    C[np.arange(x.size), pos] = 1.0
    C[np.arange(x.size), L + pos] = y
    C = sum_by_unit(units, C)
    n_units = C.shape[0]

    def finalize(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            return s[:, L:] / s[:, :L]

    Cu, cnt = unique_rows(C) if C.shape[0] > 1 else (C, None)
    res = bootstrap_sums(Cu, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                         counts=cnt)
    counts = C[:, :L].sum(axis=0)
    method = "BCa" if ci_method == "bca" else "percentile"
    ci = (f"{method} bootstrap over {n_units} units, B={n_boot}" if n_boot > 0 and n_units >= 2 else
          "no interval")
    extra = (f"; {off} LLM score(s) off the option scale rounded to the nearest option value" if off else "")
    out = []
    for j in np.flatnonzero(counts > 0):
        note = (f"mean human consensus over the {int(counts[j])} unit(s) the LLM scored {_fmt_level(levels[j])} "
                f"(calibrated: close to {_fmt_level(levels[j])}); {ci}{extra}")
        if res.n_invalid.size and res.n_invalid[j]:
            note += f"; {int(res.n_invalid[j])} resamples without this level left out of the interval"
        out.append(StatRow(f"human_mean_at_llm={_fmt_level(levels[j])}", float(res.value[j]), float(res.ci_low[j]),
                           float(res.ci_high[j]), int(counts[j]), note))
    return out
