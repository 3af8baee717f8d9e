"""Intraclass correlations (Shrout & Fleiss 1979; McGraw & Wong 1996) from per-unit ANOVA sums.

Two-way (complete, balanced data: n units x k raters, the same raters on every unit). Per unit: 1, the row sum
R_i, R_i^2, sum_j x_ij^2 and the k values x_ij (for the rater column sums C_j). Summed over units they give
(N = n k, CF = G^2 / N with G = sum R_i):

    SST = sum x^2 - CF,  SSR = sum R_i^2 / k - CF,  SSC = sum C_j^2 / n - CF,  SSE = SST - SSR - SSC
    BMS = SSR / (n - 1)            WMS = (SST - SSR) / (n (k - 1))
    JMS = SSC / (k - 1)            EMS = SSE / ((n - 1)(k - 1))

One-way, unbalanced (units with m_i >= 2 ratings, raters interchangeable): per unit 1, m_i, S_i, sum x^2,
S_i^2 / m_i, m_i^2; BMS = (sum S_i^2/m_i - S^2/N) / (n - 1), WMS = (sum x^2 - sum S_i^2/m_i) / (N - n) and the
effective number of raters per unit k0 = (N - sum m_i^2 / N) / (n - 1) (= k when balanced) replaces k.

The six forms (names: ours / Shrout-Fleiss / McGraw-Wong as pingouin prints them):

    icc1   ICC(1,1) ICC(1,1)  (BMS - WMS) / (BMS + (k-1) WMS)                 one-way random, single rating
    icc2   ICC(2,1) ICC(A,1)  (BMS - EMS) / (BMS + (k-1) EMS + k (JMS-EMS)/n) two-way random, absolute agreement
    icc3   ICC(3,1) ICC(C,1)  (BMS - EMS) / (BMS + (k-1) EMS)                 two-way mixed, consistency
    icc1k  ICC(1,k) ICC(1,k)  (BMS - WMS) / BMS                               mean of k ratings
    icc2k  ICC(2,k) ICC(A,k)  (BMS - EMS) / (BMS + (JMS - EMS) / n)
    icc3k  ICC(3,k) ICC(C,k)  (BMS - EMS) / BMS
"""

from __future__ import annotations

import numpy as np
from . import _dist

__all__ = ["FORMS", "twoway_contributions", "twoway_mean_squares", "twoway_forms", "oneway_contributions",
           "oneway_forms", "icc_table"]

# name -> (Shrout-Fleiss, McGraw-Wong / pingouin, description)
FORMS = {
    "icc1": ("ICC(1,1)", "ICC(1,1)", "one-way random effects, single rating (raters interchangeable)"),
    "icc2": ("ICC(2,1)", "ICC(A,1)", "two-way random effects, absolute agreement, single rating"),
    "icc3": ("ICC(3,1)", "ICC(C,1)", "two-way mixed effects, consistency, single rating"),
    "icc1k": ("ICC(1,k)", "ICC(1,k)", "one-way random effects, mean of k ratings"),
    "icc2k": ("ICC(2,k)", "ICC(A,k)", "two-way random effects, absolute agreement, mean of k ratings"),
    "icc3k": ("ICC(3,k)", "ICC(C,k)", "two-way mixed effects, consistency, mean of k ratings"),
}


def twoway_contributions(x: np.ndarray) -> np.ndarray:
    """(T, 4 + k) per-unit sums [1, R, R^2, sum x^2, x_1..x_k] for complete rows ``x`` (T, k) (center first)."""
    x = np.asarray(x, dtype=float)
    row = x.sum(axis=1)
    return np.column_stack([np.ones(x.shape[0]), row, row * row, np.sum(x * x, axis=1), x])


def twoway_mean_squares(sums: np.ndarray) -> dict:
    """Mean squares BMS, WMS, JMS, EMS (each (B,)) and n, k from summed :func:`twoway_contributions` (B, 4 + k)."""
    sums = np.atleast_2d(sums)
    k = sums.shape[1] - 4
    n, g, r2, x2, col = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4:]
    with np.errstate(invalid="ignore", divide="ignore"):
        cf = g * g / (n * k)
        sst = np.maximum(x2 - cf, 0.0)
        ssr = np.clip(r2 / k - cf, 0.0, sst)
        ssc = np.clip(np.sum(col * col, axis=1) / n - cf, 0.0, sst)
        sse = np.maximum(sst - ssr - ssc, 0.0)
        return {"BMS": ssr / (n - 1), "WMS": (sst - ssr) / (n * (k - 1)), "JMS": ssc / (k - 1),
                "EMS": sse / ((n - 1) * (k - 1)), "SST": sst, "n": n, "k": np.full(n.shape, float(k))}


def twoway_forms(ms: dict) -> dict:
    """All six ICC forms (each (B,)) from :func:`twoway_mean_squares`; NaN where undefined."""
    b, w, j, e, n, k = ms["BMS"], ms["WMS"], ms["JMS"], ms["EMS"], ms["n"], ms["k"]
    ok = (n >= 2) & (k >= 2) & (ms["SST"] > 0)
    fractions = {   # numerator, denominator
        "icc1": (b - w, b + (k - 1) * w),
        "icc2": (b - e, b + (k - 1) * e + k * (j - e) / n),
        "icc3": (b - e, b + (k - 1) * e),
        "icc1k": (b - w, b),
        "icc2k": (b - e, b + (j - e) / n),
        "icc3k": (b - e, b),
    }
    out = {}
    for name, (num, den) in fractions.items():
        # a non-positive denominator is a negative variance-component estimate (only possible for ICC(A,k) when
        # EMS > n BMS + JMS; and 0 when the units' means do not vary): the estimator is meaningless there
        with np.errstate(invalid="ignore", divide="ignore"):
            v = num / den
        out[name] = np.where(ok & (den > 0) & np.isfinite(v), v, np.nan)
    return out


def oneway_contributions(m: np.ndarray, s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(T, 6) one-way contributions [1, m, S, sum x^2, S^2/m, m^2] (zero rows for units with m < 2)."""
    pair = (m >= 2).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2m = np.where(m >= 2, s * s / m, 0.0)
    return np.column_stack([pair, m * pair, s * pair, q * pair, s2m, m * m * pair])


def oneway_forms(sums: np.ndarray) -> dict:
    """ICC(1,1), ICC(1,k) and the one-way ANOVA (BMS, WMS, k0, n, N, F) from summed one-way contributions."""
    sums = np.atleast_2d(sums)
    n, big_n, s, q, s2m, m2 = (sums[:, i] for i in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        ssb = np.maximum(s2m - s * s / big_n, 0.0)
        ssw = np.maximum(q - s2m, 0.0)
        bms = ssb / (n - 1)
        wms = ssw / (big_n - n)
        k0 = (big_n - m2 / big_n) / (n - 1)
        icc1 = (bms - wms) / (bms + (k0 - 1) * wms)
        icc1k = (bms - wms) / bms
        f = bms / wms
    ok = (n >= 2) & (big_n > n) & (ssb + ssw > 0)
    return {"icc1": np.where(ok & (bms + (k0 - 1) * wms > 0) & np.isfinite(icc1), icc1, np.nan),
            "icc1k": np.where(ok & (bms > 0) & np.isfinite(icc1k), icc1k, np.nan),
            "BMS": bms, "WMS": wms, "k0": k0, "n": n, "N": big_n, "F": f}


def icc_table(x: np.ndarray, *, confidence: float = 0.95):
    """The six ICC forms of a complete (n, k) matrix with F tests and analytic CIs, as pingouin computes them.

    Returns (rows, anova): a list of dicts (one per form) and the mean squares.
    """
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    center = float(np.median(x)) if x.size else 0.0
    sums = twoway_contributions(x - center).sum(axis=0)
    ms = {key: float(v[0]) for key, v in twoway_mean_squares(sums).items()}
    forms = {key: float(v[0]) for key, v in twoway_forms({key: np.array([v]) for key, v in ms.items()}).items()}
    b, w, j, e = ms["BMS"], ms["WMS"], ms["JMS"], ms["EMS"]
    df1, df1kd, df2kd = n - 1, n * (k - 1), (n - 1) * (k - 1)
    a = 1.0 - confidence
    fppf = _dist.f_ppf
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = b / w
        f3 = b / e
        p1 = _dist.f_sf(f1, df1, df1kd)
        p3 = _dist.f_sf(f3, df1, df2kd)
        f1l, f1u = f1 / fppf(1 - a / 2, df1, df1kd), f1 * fppf(1 - a / 2, df1kd, df1)
        f3l, f3u = f3 / fppf(1 - a / 2, df1, df2kd), f3 * fppf(1 - a / 2, df2kd, df1)
        ci1 = ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1))
        ci3 = ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1))
        icc2 = forms["icc2"]
        fj = j / e
        vn = df2kd * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u, f2l = fppf(1 - a / 2, n - 1, v), fppf(1 - a / 2, v, n - 1)
        l2 = n * (b - f2u * e) / (f2u * (k * j + (k * n - k - n) * e) + n * b)
        u2 = n * (f2l * b - e) / (k * j + (k * n - k - n) * e + n * f2l * b)
        cis = {"icc1": ci1, "icc2": (l2, u2), "icc3": ci3, "icc1k": (1 - 1 / f1l, 1 - 1 / f1u),
               "icc2k": (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))), "icc3k": (1 - 1 / f3l, 1 - 1 / f3u)}
    rows = []
    for name, (sf, mw, desc) in FORMS.items():
        oneway = name in ("icc1", "icc1k")
        lo, hi = cis[name]
        defined = np.isfinite(forms[name])
        rows.append({"statistic": name, "type": mw, "shrout_fleiss": sf, "description": desc,
                     "ICC": forms[name], "F": f1 if oneway else f3, "df1": df1, "df2": df1kd if oneway else df2kd,
                     "pval": p1 if oneway else p3,
                     "ci_low": float(lo) if defined else np.nan, "ci_high": float(hi) if defined else np.nan})
    return rows, {key: ms[key] for key in ("BMS", "WMS", "JMS", "EMS")}
