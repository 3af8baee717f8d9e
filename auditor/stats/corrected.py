"""Corrected estimates: a dimension's human-scale mean (or success rate) from many LLM labels plus a small
human-labelled subset, with a valid interval.

* ``naive_llm_mean`` - the mean of the LLM's scores over every conversation it rated: what you report if you trust
  the judge blindly. Bootstrap interval over conversations (it covers sampling noise, not the judge's bias).
* ``ppi_mean`` - prediction-powered inference with power tuning (PPI++, Angelopoulos, Duchi & Zrnic 2023):
  theta = lambda * mean(f(unlabelled)) + mean(Y - lambda * f(labelled)), where Y is the human consensus on the
  n labelled conversations, f the LLM's score, and the N unlabelled conversations are those the LLM rated and no
  human did. lambda = clip(cov(Y, f) / ((1 + n/N) var(f)), 0, 1) minimises the variance (cov with 1/n over the
  labelled set, var with 1/(n+N-1) over all LLM scores: exactly ``ppi_py``'s ``_calc_lam_glm``), and the interval
  is the normal one, theta +- z * sqrt(lambda^2 var(f_unl) / N + var(Y - lambda f_lab) / n) (population
  variances), i.e. ``ppi_py.ppi_mean_ci(Y, Yhat, Yhat_unlabeled, alpha=0.05)``. lambda = 0 is the classical human
  mean, lambda = 1 plain PPI. Valid whatever the judge's bias: the labelled subset must be a random sample of the
  conversations. Conventions: N = 0 (every conversation has a human label) gives lambda = 0, the classical mean
  (ppi_py divides by zero there); a constant LLM score gives lambda = 0 (ppi_py: NaN).
* ``rogan_gladen_rate`` - for a binary dimension, the prevalence corrected for the LLM's misclassification
  (Rogan & Gladen 1978): (p_LLM + TNR - 1) / (TPR + TNR - 1), with p_LLM the LLM's positive rate over every
  conversation it rated, and TPR / TNR its sensitivity and specificity against the human consensus on the labelled
  ones. Undefined (NaN, with the reason) when TPR + TNR <= 1: the LLM is no better than chance and the correction
  divides by a non-positive number. An estimate outside [0, 1] is clipped and the note says so. Bootstrap interval
  stratified by labelled / unlabelled conversations.

References
----------
Angelopoulos, A. N., Bates, S., Fannjiang, C., Jordan, M. I., & Zrnic, T. (2023). Prediction-powered inference.
Science 382. Angelopoulos, A. N., Duchi, J. C., & Zrnic, T. (2023). PPI++: Efficient prediction-powered inference.
arXiv:2311.01453. Rogan, W. J., & Gladen, B. (1978). Estimating prevalence from the results of a screening test.
American Journal of Epidemiology 107, 71-76.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from . import _dist

from ._arrays import unique_rows
from ._bootstrap import bootstrap_sums, confidence_interval
from ._registry import register
from ._result import StatRow

__all__ = ["PPIEstimate", "ppi_mean_estimate", "ppi_mean", "naive_llm_mean", "rogan_gladen_rate"]


@dataclass
class PPIEstimate:
    value: float
    se: float
    ci_low: float
    ci_high: float
    lam: float
    n_labelled: int
    n_unlabelled: int
    classical: float          # the human mean on the labelled conversations
    classical_se: float


def _vec(a, name):
    a = np.asarray(a, dtype=float).ravel()
    if np.any(~np.isfinite(a)):
        raise ValueError(f"{name} has missing or infinite values; drop them first")
    return a


def ppi_mean_estimate(y, yhat, yhat_unlabelled, *, confidence: float = 0.95, lam: float | None = None,
                      w=None, w_unlabelled=None, strata=None) -> PPIEstimate:
    """PPI++ estimate of the mean of Y (see the module docstring).

    Parameters
    ----------
    y : (n,) human labels (the consensus) on the labelled conversations.
    yhat : (n,) the LLM's score on the same conversations.
    yhat_unlabelled : (N,) the LLM's score on conversations without a human label.
    lam : fixed power-tuning parameter (None = tuned; 1 = plain PPI; 0 = classical).
    w, w_unlabelled : optional sample weights (e.g. 1 / inclusion probability of a stratified sample), rescaled to
        mean 1 as ``ppi_py`` does; every formula then uses the weighted terms exactly as ``ppi_py.ppi_mean_ci`` with
        ``w`` / ``w_unlabeled`` (checked to 1e-9 in the tests).
    strata : (n,) stratum of each labelled conversation of a stratified sample, with ``w`` = 1 / inclusion
        probability and ``yhat_unlabelled`` the LLM's score on every conversation of the sampling frame. The
        estimate is then the design-based difference estimator lam * mean(f over the frame) + sum_h W_h *
        mean_h(Y - lam f), and its variance the stratified one, sum_h W_h^2 (1 - pi_h) s_h^2 / n_h (the frame's
        LLM scores are known for every conversation, so only the choice of the labelled ones is random).

    Examples
    --------
    >>> e = ppi_mean_estimate([1, 0, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1, 1, 0, 1, 1], lam=1.0)
    >>> round(e.value, 6)      # mean(f_unl) + mean(Y - f) = 0.75 + 0.25
    1.0
    """
    y, f, fu = _vec(y, "y"), _vec(yhat, "yhat"), _vec(yhat_unlabelled, "yhat_unlabelled")
    if y.size != f.size:
        raise ValueError(f"y and yhat need one element per labelled conversation; got {y.size} and {f.size}")
    n, N = y.size, fu.size
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    wl = _weights(w, n, "w")
    wu = _weights(w_unlabelled, N, "w_unlabelled")
    z = _dist.norm_ppf(0.5 + confidence / 2)
    classical = float(np.sum(wl * y) / n) if n else np.nan
    classical_se = float((wl * y).std() / np.sqrt(n)) if n else np.nan
    if n < 2:
        return PPIEstimate(np.nan, np.nan, np.nan, np.nan, np.nan, n, N, classical, classical_se)
    if lam is None:
        if N == 0:
            lam = 0.0
        else:
            theta1 = np.mean(wu * fu) + np.mean(wl * (y - f))       # the lam = 1 estimate, as ppi_py
            g, gh, ghu = wl * (y - theta1), wl * (f - theta1), wu * (fu - theta1)
            cov = np.mean((g - g.mean()) * (gh - gh.mean()))
            var = np.var(np.concatenate([gh, ghu]), ddof=1)
            lam = float(np.clip(cov / ((1 + n / N) * var), 0.0, 1.0)) if var > 0 else 0.0
    lam = float(lam)
    if N == 0 and lam != 0:
        raise ValueError("lam must be 0 when there are no unlabelled conversations")
    imputed = np.mean(wu * lam * fu) if N else 0.0
    theta = float(imputed + np.mean(wl * (y - lam * f)))
    if strata is not None:
        if w is None:
            raise ValueError("strata go with w = 1 / inclusion probability")
        var_imp, var_rect = 0.0, _stratified_variance(y - lam * f, _vec(w, "w"), np.asarray(strata))
    else:
        var_imp = (wu * lam * fu).std() ** 2 / N if N else 0.0
        var_rect = (wl * (y - lam * f)).std() ** 2 / n
    se = float(np.sqrt(var_imp + var_rect))
    return PPIEstimate(theta, se, theta - z * se, theta + z * se, lam, n, N, classical, classical_se)


def _stratified_variance(d: np.ndarray, w_raw: np.ndarray, strata: np.ndarray) -> float:
    """Variance of the Hajek mean of ``d`` under stratified simple random sampling: sum_h W_h^2 (1 - pi_h) s_h^2
    / n_h, with W_h the stratum's share of the weights and pi_h = 1 / w (its inclusion probability)."""
    if strata.shape[0] != d.shape[0]:
        raise ValueError(f"strata need one label per labelled conversation; got {strata.shape[0]} for {d.shape[0]}")
    total = w_raw.sum()
    var = 0.0
    for h in np.unique(strata.astype(str)):
        m = strata.astype(str) == h
        n_h = int(m.sum())
        if n_h < 2:
            continue                  # a stratum with one labelled conversation adds no estimable variance
        share = w_raw[m].sum() / total
        pi_h = float(np.clip(1.0 / w_raw[m].mean(), 0.0, 1.0))
        var += share ** 2 * (1 - pi_h) * d[m].var(ddof=1) / n_h
    return float(var)


def _weights(w, n: int, name: str) -> np.ndarray:
    """Sample weights rescaled to mean 1 (ones when None), as ``ppi_py.utils.construct_weight_vector``."""
    if w is None:
        return np.ones(n)
    w = _vec(w, name)
    if w.size != n or np.any(w <= 0):
        raise ValueError(f"{name} needs one positive weight per conversation; got {w.size} for {n}")
    return w / w.sum() * n


@register("ppi_mean", kind="corrected", levels=("binary", "ordinal", "interval", "ratio"), higher_is_better=None,
          doc="PPI++ (power-tuned) mean of the human score from all LLM scores plus the human-labelled subset.")
def ppi_mean(y, yhat, yhat_unlabelled, *, confidence: float = 0.95, lam: float | None = None, w=None,
             w_unlabelled=None, frame: bool = False, strata=None) -> StatRow:
    """``ppi_mean`` as a StatRow: value, the PPI++ normal interval, n = labelled + unlabelled conversations.

    ``frame=True``: ``yhat_unlabelled`` is the LLM's score on *every* conversation of the sampling frame (the
    labelled ones included), as the design-weighted estimate uses it; n is then the frame's size."""
    e = ppi_mean_estimate(y, yhat, yhat_unlabelled, confidence=confidence, lam=lam, w=w, w_unlabelled=w_unlabelled,
                          strata=strata)
    n = e.n_unlabelled if frame else e.n_labelled + e.n_unlabelled
    if np.isnan(e.value):
        return StatRow("ppi_mean", np.nan, n=n, note=f"undefined: {e.n_labelled} human-labelled conversation(s); "
                       "PPI needs >= 2")
    z = _dist.norm_ppf(0.5 + confidence / 2)
    sizes = (f"{e.n_labelled} labelled of {e.n_unlabelled} LLM-rated conversations" if frame else
             f"{e.n_labelled} labelled + {e.n_unlabelled} LLM-only conversations")
    interval = "normal interval, stratified design variance" if strata is not None else "normal interval"
    note = (f"PPI++ (power-tuned) mean, lambda={e.lam:.3g}; {sizes}; {confidence:.0%} {interval}; "
            f"{'weighted ' if w is not None else ''}classical human mean {e.classical:.4g} "
            f"[{e.classical - z * e.classical_se:.4g}, {e.classical + z * e.classical_se:.4g}]")
    if e.n_unlabelled == 0:
        note += "; no LLM-only conversation, so lambda=0 and this is the classical human mean"
    elif frame and e.n_unlabelled == e.n_labelled:
        note += "; the LLM rated only the labelled conversations, so its term adds little"
    return StatRow("ppi_mean", e.value, e.ci_low, e.ci_high, n, note)


def _ci_text(n_boot, ci_method, n_units, what="conversations"):
    if n_boot <= 0 or n_units < 2:
        return "no interval"
    return f"{'BCa' if ci_method == 'bca' else 'percentile'} bootstrap over {n_units} {what}, B={n_boot}"


@register("naive_llm_mean", kind="corrected", levels=("binary", "ordinal", "interval", "ratio"),
          higher_is_better=None, doc="Mean LLM score over every conversation it rated (uncorrected).")
def naive_llm_mean(yhat_all, *, n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                   confidence: float = 0.95) -> StatRow:
    """The naive LLM-only estimate: mean LLM score over all conversations it rated, bootstrap interval."""
    f = _vec(yhat_all, "yhat_all")
    if f.size == 0:
        return StatRow("naive_llm_mean", np.nan, n=0, note="undefined: the LLM rated no conversation")

    C = np.column_stack([f, np.ones_like(f)])
    Cu, cnt = unique_rows(C) if C.shape[0] > 1 else (C, None)
    res = bootstrap_sums(Cu, lambda s: s[:, 0] / s[:, 1], n_boot=n_boot, seed=seed, method=ci_method,
                         confidence=confidence, counts=cnt)
    return StatRow("naive_llm_mean", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]), int(f.size),
                   f"mean LLM score over every conversation it rated (no human correction; the interval covers "
                   f"sampling noise only, not the LLM's bias); {_ci_text(n_boot, ci_method, f.size)}")


def _stratified_boot(strata: list[np.ndarray], finalize, n_boot: int, seed, ci_method: str, confidence: float):
    """Bootstrap of ``finalize(sum over strata of resampled per-unit sums)``, resampling within each stratum."""
    total = sum(C.sum(axis=0) for C in strata)
    value = np.atleast_1d(finalize(total[None, :])[0])
    if n_boot <= 0:
        return value, np.full(value.size, np.nan), np.full(value.size, np.nan), np.zeros(value.size, int)
    rng = np.random.default_rng(seed)
    sums = np.zeros((n_boot, total.size))
    for C in strata:
        if C.shape[0] == 0:
            continue
        U, cnt = unique_rows(C)
        w = rng.multinomial(C.shape[0], cnt / cnt.sum(), size=n_boot).astype(float)
        sums += w @ U
    with np.errstate(all="ignore"):
        samples = finalize(sums)
    samples = samples.reshape(n_boot, -1)
    jk = jw = None
    if ci_method == "bca":
        rows = np.vstack([C for C in strata if C.shape[0]])
        U, cnt = unique_rows(rows)
        with np.errstate(all="ignore"):
            jk = finalize(total[None, :] - U).reshape(U.shape[0], -1)
        jw = cnt
    lo, hi, bad = confidence_interval(samples, value, confidence=confidence, method=ci_method, jackknife=jk,
                                      jackknife_weights=jw)
    return value, lo, hi, bad


@register("rogan_gladen_rate", kind="corrected", levels=("binary",), higher_is_better=None,
          doc="Success rate corrected for the LLM's sensitivity and specificity (Rogan-Gladen).")
def rogan_gladen_rate(llm_all, llm_labelled, human_labelled, *, n_unlabelled: int | None = None,
                      n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                      confidence: float = 0.95, w=None, strata=None) -> StatRow:
    """Rogan-Gladen corrected prevalence of a binary outcome (see the module docstring).

    Parameters
    ----------
    llm_all : (N_all,) the LLM's 0/1 label on every conversation it rated (labelled ones included).
    llm_labelled, human_labelled : (n,) the LLM's label and the human consensus (0/1) on the labelled ones
        (a subset of the conversations in ``llm_all``; the bootstrap resamples labelled and LLM-only
        conversations separately).
    w, strata : for labels from a sample with unequal inclusion probabilities: ``w`` = 1 / inclusion probability
        of each labelled conversation, so TPR and TNR are Hajek (weighted) estimates of the population's, and
        optionally the design stratum of each, so the bootstrap resamples within strata. The LLM's positive rate
        is over every conversation it rated (the frame) and needs no weight.

    Examples
    --------
    LLM positive rate 0.5, TPR 0.8, TNR 0.9 -> (0.5 + 0.9 - 1) / (0.8 + 0.9 - 1) = 0.5714:

    >>> lab_h = [1] * 10 + [0] * 10
    >>> lab_l = [1] * 8 + [0] * 2 + [0] * 9 + [1]
    >>> row = rogan_gladen_rate(lab_l + [1] * 11 + [0] * 9, lab_l, lab_h, n_boot=0)
    >>> round(row.value, 4)
    0.5714
    """
    a = _vec(llm_all, "llm_all")
    fl = _vec(llm_labelled, "llm_labelled")
    yl = _vec(human_labelled, "human_labelled")
    for name, v in (("llm_all", a), ("llm_labelled", fl), ("human_labelled", yl)):
        if not np.all((v == 0) | (v == 1)):
            raise ValueError(f"{name} must be 0/1 labels")
    if fl.size != yl.size:
        raise ValueError("llm_labelled and human_labelled need one element per labelled conversation")
    if fl.size > a.size:
        raise ValueError("llm_all must include the labelled conversations")
    # strata: labelled rows [llm pos, 1, w tp, w pos, w tn, w neg]; unlabelled rows [llm pos, 1, 0, 0, 0, 0]
    wl = _weights(w, fl.size, "w")
    lab = np.column_stack([fl, np.ones_like(fl), wl * fl * yl, wl * yl, wl * (1 - fl) * (1 - yl), wl * (1 - yl)])
    n_pos_lab = fl.sum()
    rest_pos = a.sum() - n_pos_lab
    n_rest = a.size - fl.size
    if rest_pos < 0 or rest_pos > n_rest:
        raise ValueError("llm_all must include the labelled conversations' LLM labels")
    unl = np.zeros((int(n_rest), 6))
    unl[: int(rest_pos), 0] = 1.0
    unl[:, 1] = 1.0

    def finalize(s):
        with np.errstate(invalid="ignore", divide="ignore"):
            p = s[:, 0] / s[:, 1]
            tpr = s[:, 2] / s[:, 3]
            tnr = s[:, 4] / s[:, 5]
            j = tpr + tnr - 1
            return np.column_stack([np.where(j > 0, np.clip((p + tnr - 1) / j, 0, 1), np.nan), p, tpr, tnr,
                                    (p + tnr - 1) / j])

    groups = [lab]
    if strata is not None:
        h = np.asarray(strata)
        if h.size != fl.size:
            raise ValueError("strata need one element per labelled conversation")
        groups = [lab[h == s] for s in np.unique(h)]
    value, lo, hi, bad = _stratified_boot(groups + [unl], finalize, n_boot, seed, ci_method, confidence)
    rg, p, tpr, tnr, raw = value
    n = int(a.size)
    what = (f"LLM positive rate {p:.4g} over {n} conversations; TPR {tpr:.4g}, TNR {tnr:.4g} against the human "
            f"consensus on {fl.size} labelled")
    if yl.size == 0 or np.isnan(tpr) or np.isnan(tnr):
        return StatRow("rogan_gladen_rate", np.nan, n=n, note=f"undefined: the labelled conversations need both "
                       f"human positives and negatives to estimate TPR and TNR; {what}")
    if tpr + tnr <= 1:
        return StatRow("rogan_gladen_rate", np.nan, n=n, note=f"undefined: TPR + TNR = {tpr + tnr:.4g} <= 1, the "
                       f"LLM labels carry no information about the outcome (the correction would divide by "
                       f"{tpr + tnr - 1:.4g}); {what}")
    how = ("labelled conversations weighted by 1 / inclusion probability (Hajek TPR and TNR)"
           + ("; resampled within the design's strata" if strata is not None else "")) if w is not None else ""
    note = f"Rogan-Gladen (p + TNR - 1) / (TPR + TNR - 1); {what}; " + (f"{how}; " if how else "") + \
        _ci_text(n_boot, ci_method, n, "conversations (stratified: labelled / LLM-only)")
    if raw < 0 or raw > 1:
        note += f"; raw estimate {raw:.4g} clipped to [0, 1]"
    if bad[0]:
        note += f"; {int(bad[0])} of {n_boot} resamples with TPR + TNR <= 1 left out of the interval"
    return StatRow("rogan_gladen_rate", float(rg), float(lo[0]), float(hi[0]), n, note)
