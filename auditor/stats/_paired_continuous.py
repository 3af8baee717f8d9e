"""Paired statistics when the contingency table is too large to resample as a table.

Above ``MAX_TABLE_CELLS`` occupied cells (truly continuous scores on both sides, or a continuous score over very
many pairs) the table bootstrap would cost O(B * cells) per statistic. Then:

* moment statistics (Pearson, MAE, RMSE, mean difference, leniency / severity / adjacent rates, variance ratio,
  ICC(A,1), interval alpha) are bootstrapped over per-unit moment contributions (``_paired_boot.DenseUnits``);
* Spearman and Kendall get a point estimate from scipy and an analytic Fisher-z interval: Bonett & Wright (2000)
  SE sqrt((1 + r^2 / 2) / (n - 3)) for Spearman, Fieller et al. (1957) SE sqrt(0.437 / (n - 4)) for Kendall, with
  n = the number of units (conservative when units hold several pairs);
* the rank-biserial (Wilcoxon), Wasserstein and ordinal alpha get an exact point estimate and no interval;
* ratio alpha and the categorical statistics are not computed (NaN with the reason).
"""

from __future__ import annotations

import numpy as np
from . import _dist
from ._lazy import scipy_stats as _st

__all__ = [
    "MAX_TABLE_CELLS",
    "MOMENT_STATS",
    "finalize_moments",
    "fisher_interval",
    "moment_contributions",
    "rank_statistic",
]

# measured: the table bootstrap of all statistics costs ~0.3 us per resample and occupied cell (B = 1000 and 50k
# cells: ~15 s); above this many occupied cells the asymptotic intervals below are accurate and ~20x cheaper
MAX_TABLE_CELLS = 50_000
MOMENT_STATS = ("pearson", "mae", "rmse", "mean_diff", "leniency_rate", "severity_rate", "variance_ratio", "icc",
                "adjacent_agreement", "krippendorff_alpha")
_ADJACENT_TOL = 1e-9


def moment_contributions(x: np.ndarray, y: np.ndarray, center: float, unit: np.ndarray | None = None,
                         n_units: int | None = None) -> np.ndarray:
    """(units, 11) per-unit sums of 1, x, y, x^2, y^2, xy, |d|, d^2, [d > 0], [d < 0], [|d| <= 1] (x, y centred)."""
    xc, yc, d = x - center, y - center, x - y
    cols = (np.ones_like(x), xc, yc, xc * xc, yc * yc, xc * yc, np.abs(d), d * d, (d > 0).astype(float),
            (d < 0).astype(float), (np.abs(d) <= 1.0 + _ADJACENT_TOL).astype(float))
    if unit is None:
        return np.column_stack(cols)
    return np.column_stack([np.bincount(unit, weights=c, minlength=n_units) for c in cols])


def finalize_moments(names: list[str]):
    """Return finalize(sums (m, 11)) -> (m, len(names)) for the moment statistics ``names``."""

    def finalize(s: np.ndarray) -> np.ndarray:
        n, sx, sy, sxx, syy, sxy, sad, sdd, spos, sneg, sadj = (s[:, i] for i in range(11))
        with np.errstate(all="ignore"):
            mx, my = sx / n, sy / n
            vxx, vyy, vxy = sxx - sx * mx, syy - sy * my, sxy - sx * my
            x_var, y_var = vxx > 0, vyy > 0
            out = {
                "pearson": np.where(x_var & y_var, np.clip(vxy / np.sqrt(vxx * vyy), -1, 1), np.nan),
                "mae": sad / n,
                "rmse": np.sqrt(sdd / n),
                "mean_diff": mx - my,
                "leniency_rate": spos / n,
                "severity_rate": sneg / n,
                "adjacent_agreement": sadj / n,
                "variance_ratio": np.where(y_var, vxx / vyy, np.nan),
            }
            msr = (0.5 * (vxx + vyy) + vxy) / (n - 1)
            mse = (0.5 * (vxx + vyy) - vxy) / (n - 1)
            den = msr + mse + 2.0 * (n * (mx - my) ** 2 / 2.0 - mse) / n
            out["icc"] = np.where((n >= 2) & (den > 0), (msr - mse) / den, np.nan)
            n2 = 2.0 * n
            ss = sxx + syy - (sx + sy) ** 2 / n2
            out["krippendorff_alpha"] = np.where(ss > 0, 1.0 - (n2 - 1.0) * sdd / (n2 * ss), np.nan)
        return np.column_stack([out[k] for k in names])

    return finalize


def fisher_interval(r: float, se: float, confidence: float) -> tuple[float, float]:
    """tanh(atanh(r) -/+ z * se): a Fisher-z interval for a correlation."""
    if not np.isfinite(r) or not np.isfinite(se) or se <= 0:
        return np.nan, np.nan
    z = np.arctanh(np.clip(r, -1.0, 1.0))
    zc = _dist.norm_ppf(0.5 + confidence / 2.0)
    return float(np.tanh(z - zc * se)), float(np.tanh(z + zc * se))


def _rank_biserial(d: np.ndarray) -> float:
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    r = _st.rankdata(np.abs(d))
    return float((r[d > 0].sum() - r[d < 0].sum()) / r.sum())


def _ordinal_alpha(x: np.ndarray, y: np.ndarray) -> float:
    """Krippendorff's ordinal alpha for two raters = interval alpha on the pooled midranks."""
    ranks = _st.rankdata(np.concatenate([x, y]))
    n = ranks.size
    rx, ry = ranks[: x.size], ranks[x.size:]
    ss = ((ranks - ranks.mean()) ** 2).sum()
    return float(1.0 - (n - 1.0) * ((rx - ry) ** 2).sum() / (n * ss)) if ss > 0 else np.nan


def rank_statistic(name: str, x: np.ndarray, y: np.ndarray, *, level: str, n_units: int, confidence: float):
    """(value, ci_low, ci_high, method, reason) for a statistic computed without the table bootstrap."""
    nan = np.nan
    if name in ("spearman", "kendall_tau_b"):
        if np.all(x == x[0]) or np.all(y == y[0]):
            return nan, nan, nan, "", ("x" if np.all(x == x[0]) else "y") + " is constant: correlation undefined"
        if name == "spearman":
            r = float(_st.spearmanr(x, y).statistic)
            se = np.sqrt((1.0 + r * r / 2.0) / (n_units - 3.0)) if n_units > 3 else nan
            method = f"Fisher-z interval with the Bonett-Wright SE (n = {n_units} units)"
        else:
            r = float(_st.kendalltau(x, y).statistic)
            se = np.sqrt(0.437 / (n_units - 4.0)) if n_units > 4 else nan
            method = f"Fisher-z interval with the Fieller SE (n = {n_units} units)"
        lo, hi = fisher_interval(r, se, confidence)
        return r, lo, hi, method, ""
    no_ci = "exact point estimate, no interval"
    if name == "wilcoxon":
        return _rank_biserial(x - y), nan, nan, no_ci, ""
    if name == "wasserstein":
        return float(_st.wasserstein_distance(x, y)), nan, nan, no_ci, ""
    if name == "krippendorff_alpha" and level == "ordinal":
        v = _ordinal_alpha(x, y)
        return v, nan, nan, no_ci, ("" if np.isfinite(v) else "no variation: alpha undefined")
    return nan, nan, nan, "", "not computed"
