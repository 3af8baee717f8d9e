"""Audit rows of a judge panel (:mod:`auditor.panel`) on one dimension, beside its ordinary rows:

- ``panel_member_alpha``: Krippendorff's alpha among the member judges (the dimension's level), on every
  conversation two or more members rated;
- ``panel_error_correlation=<a>|<b>``: Pearson correlation of two members' errors (member score minus the human
  consensus) over the conversations every member and the humans rated; ``panel_error_correlation``: their mean;
- ``panel_effective_judges``: how many independent judges the panel is worth, k / (1 + (k - 1) r), with r the mean
  pairwise error correlation: the variance of the mean of k errors of equal variance and mean correlation r equals
  that of k / (1 + (k - 1) r) independent ones (Clemen & Winkler 1985, "Limits for the precision and value of
  information from dependent sources", Operations Research 33(2):427-442; Kish's design effect).

Intervals: percentile bootstrap over conversations for the correlations and the effective number (the same resamples),
alpha's own bootstrap for alpha.
"""

from __future__ import annotations

import numpy as np

from ..stats._bootstrap import resample_weights
from ..stats._result import StatRow
from ._consensus import consensus

__all__ = ["panel_rows", "PANEL_STATISTICS"]

PANEL_STATISTICS = ["panel_member_alpha", "panel_error_correlation", "panel_effective_judges"]


def _wcorr(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of a and b under item weights W (B, n) -> (B,)."""
    n = W.sum(axis=1)
    ma, mb = W @ a / n, W @ b / n
    cab = W @ (a * b) / n - ma * mb
    va, vb = W @ (a * a) / n - ma**2, W @ (b * b) / n - mb**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((va > 0) & (vb > 0), cab / np.sqrt(np.maximum(va * vb, 1e-300)), np.nan)


def _ci(s: np.ndarray) -> tuple[float, float]:
    s = s[~np.isnan(s)]
    return tuple(float(x) for x in np.quantile(s, [0.025, 0.975])) if s.size >= 2 else (np.nan, np.nan)


def panel_rows(sig, dim, members: list[str], raters: dict, ref_idx: list[int], opts,
               statistics: list[str] | None) -> list[StatRow]:
    want = [s for s in PANEL_STATISTICS if statistics is None or any(t == s or t.startswith(s + "=")
                                                                     for t in statistics)]
    idx = [raters[m].index for m in members if m in raters]
    if not want or len(idx) < 2:
        return []
    rows: list[StatRow] = []
    if "panel_member_alpha" in want:
        from ..stats.multirater import multirater_statistics

        m = np.isin(sig.rater, idx)
        on_grid = bool(np.isin(sig.value[m], dim.distinct_values).all())     # a member's mean of samples may not be
        rows += [r for r in multirater_statistics(sig.conv[m], sig.rater[m], sig.value[m], level=dim.level,
                                                  option_values=dim.distinct_values if on_grid else None,
                                                  statistics=["krippendorff_alpha"], n_boot=opts.n_boot,
                                                  seed=opts.seed, ci_method=opts.ci_method)]
        for r in rows:
            r.statistic = "panel_member_alpha"
            r.note = f"agreement among the {len(idx)} member judges; {r.note}"
    if not {"panel_error_correlation", "panel_effective_judges"} & set(want):
        return rows
    mh = np.isin(sig.rater, ref_idx)
    hu, hv, _ = consensus(sig.conv[mh], sig.value[mh], "interval")
    units = hu
    scores = []
    for i in idx:
        mi = sig.rater == i
        u, v, _ = consensus(sig.conv[mi], sig.value[mi], "interval")
        scores.append((u, v))
        units = np.intersect1d(units, u)
    k, n = len(idx), units.size
    note = (f"errors = member score - human mean per conversation, on the {n} conversations every member and the "
            f"humans rated")
    if n < 3:
        return rows + [StatRow(s, float("nan"), n=n, note=f"undefined: {note}") for s in want
                       if s != "panel_member_alpha"]
    h = hv[np.searchsorted(hu, units)]
    err = np.stack([v[np.searchsorted(u, units)] - h for u, v in scores])
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    point = np.array([_wcorr(np.ones((1, n)), err[a], err[b])[0] for a, b in pairs])
    boots = np.empty((0, len(pairs)))
    if opts.n_boot > 0:
        rng = np.random.default_rng(opts.seed)
        boots = np.vstack([np.column_stack([_wcorr(W, err[a], err[b]) for a, b in pairs])
                           for W in resample_weights(np.ones(n), opts.n_boot, rng)])
    boot = f"percentile bootstrap over conversations ({opts.n_boot} resamples)"
    if "panel_error_correlation" in want:
        for (a, b), v, col in zip(pairs, point, boots.T if boots.size else [np.empty(0)] * len(pairs)):
            rows.append(StatRow(f"panel_error_correlation={members[a]}|{members[b]}", float(v), *_ci(col), n=n,
                                note=f"Pearson correlation of the two members' errors; {note}; {boot}"))
        mean_b = np.nanmean(boots, axis=1) if boots.size else np.empty(0)
        rows.append(StatRow("panel_error_correlation", float(np.nanmean(point)), *_ci(mean_b), n=n,
                            note=f"mean over the {len(pairs)} member pairs; {note}; {boot}"))
    if "panel_effective_judges" in want:
        def eff(r):
            return k / (1 + (k - 1) * np.asarray(r))
        rbar = float(np.nanmean(point))
        e_b = eff(np.nanmean(boots, axis=1)) if boots.size else np.empty(0)
        rows.append(StatRow("panel_effective_judges", float(eff(rbar)), *_ci(e_b), n=n,
                            note=f"k / (1 + (k - 1) r) with k = {k} members and r = {rbar:.3f} their mean error "
                                 f"correlation (Clemen & Winkler 1985); {note}; {boot}"))
    return rows
