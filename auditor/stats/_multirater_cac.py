"""Fleiss' kappa and Gwet's AC1/AC2 for many raters with missing data (irrCAC conventions).

For unit i with r_i ratings, n_ik of them in category k, and agreement weights w_kl (identity for AC1/Fleiss),
n*_ik = sum_l w_kl n_il. Following Gwet's irrCAC (``gwet.ac1.raw``, ``fleiss.kappa.raw``):

* percent agreement  pa  = mean over units with r_i >= 2 of  sum_k n_ik (n*_ik - 1) / (r_i (r_i - 1));
* category prevalence pi_k = mean over units with r_i >= 1 of n_ik / r_i;
* Gwet:   pe = sum(W) / (q (q - 1)) * sum_k pi_k (1 - pi_k)   (q = number of categories of the scale);
* Fleiss: pe = sum_kl w_kl pi_k pi_l;
* coefficient = (pa - pe) / (1 - pe).

With complete data (every unit rated by the same number of raters) Fleiss' generalisation is Fleiss (1971).
All of these are functions of per-unit sums: [r_i >= 2, r_i >= 1, pa term, n_ik / r_i], so the bootstrap sums
per-unit contributions.

Weights (Gwet 2014, ch. 3; irrCAC ``weights``), for categories c_1 < ... < c_q:
identity; linear 1 - |c_k - c_l| / (c_max - c_min); quadratic 1 - (c_k - c_l)^2 / (c_max - c_min)^2;
ordinal 1 - C(|k - l| + 1, 2) / C(q, 2) (depends only on the *positions* k, l, not on the values);
bipolar (irrCAC's definition).
"""

from __future__ import annotations

import numpy as np
from . import _dist

from ._arrays import unique as _unique
from ._multirater_data import UnitTypes

__all__ = ["WEIGHT_SCHEMES", "weight_matrix", "category_index", "cac_contributions", "cac_finalize",
           "cac_details"]

WEIGHT_SCHEMES = ("identity", "linear", "ordinal", "quadratic", "bipolar")


def weight_matrix(categories, scheme: str | np.ndarray = "identity") -> np.ndarray:
    """(q, q) agreement weights for the sorted ``categories`` under a named ``scheme`` (or a given matrix)."""
    c = np.asarray(categories, dtype=float)
    q = c.size
    if not isinstance(scheme, str):
        w = np.asarray(scheme, dtype=float)
        if w.shape != (q, q):
            raise ValueError(f"a weights matrix must be ({q}, {q}) for {q} categories, got {w.shape}")
        if np.any(np.diag(w) != 1) or np.any(w < 0) or np.any(w > 1):
            raise ValueError("agreement weights must lie in [0, 1] with 1 on the diagonal")
        return w
    if scheme == "identity":
        return np.eye(q)
    if q < 2:
        return np.ones((q, q))
    span = c.max() - c.min()
    diff = c[:, None] - c[None, :]
    if scheme == "linear":
        return 1.0 - np.abs(diff) / span
    if scheme == "quadratic":
        return 1.0 - (diff / span) ** 2
    if scheme == "ordinal":
        k = np.arange(q)
        n_kl = np.abs(k[:, None] - k[None, :]) + 1
        d = n_kl * (n_kl - 1) / 2.0
        return 1.0 - d / d.max()
    if scheme == "bipolar":
        s = c[:, None] + c[None, :]
        off = ~np.eye(q, dtype=bool)     # off the diagonal both denominators are > 0
        d = np.zeros((q, q))
        d[off] = diff[off] ** 2 / ((s[off] - 2 * c.min()) * (2 * c.max() - s[off]))
        return 1.0 - d / d.max()
    raise ValueError(f"unknown weights '{scheme}'; use one of {', '.join(WEIGHT_SCHEMES)} or a (q, q) matrix")


def category_index(values: np.ndarray, categories) -> tuple[np.ndarray, np.ndarray]:
    """(sorted categories, index of each observed value in them); every observed value must be a category."""
    obs = np.asarray(values, dtype=float)
    if categories is None:
        cats = obs.copy()
    else:
        cats = np.asarray(categories, dtype=float).ravel()
        cats = _unique(cats[~np.isnan(cats)])
    idx = np.searchsorted(cats, obs)
    bad = (idx >= cats.size) | (cats[np.minimum(idx, cats.size - 1)] != obs) if cats.size else np.ones(obs.size, bool)
    if np.any(bad):
        raise ValueError(f"value {obs[np.flatnonzero(bad)[0]]:g} is not one of the option values "
                         f"{', '.join(f'{c:g}' for c in cats)}")
    return cats, idx


def cac_contributions(types: UnitTypes, obs_weights: np.ndarray) -> np.ndarray:
    """(T, 4 + V) per-type contributions [r>=2, r>=1, pa (unweighted), pa (weighted), n_k / r (V)].

    ``obs_weights`` (V, V) are the agreement weights restricted to the observed values.
    """
    c = np.asarray(types.counts, dtype=float)
    m = types.m
    two = m >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.where(two, m * (m - 1.0), 1.0)
        pa_u = np.where(two, np.sum(c * (c - 1.0), axis=1) / den, 0.0)
        pa_w = np.where(two, np.sum(c * (c @ obs_weights.T - 1.0), axis=1) / den, 0.0)
        pi = np.where((m >= 1)[:, None], c / m[:, None], 0.0)
    return np.column_stack([two.astype(float), (m >= 1).astype(float), pa_u, pa_w, pi])


def cac_finalize(kind: str, n_categories: int, sum_weights: float, obs_weights: np.ndarray | None = None):
    """Finalize (B, 4 + V) summed contributions into (B,) coefficients; ``kind`` is fleiss | gwet | gwet_weighted.

    NaN when no unit has two ratings, the scale has fewer than two categories, or all ratings fall in one
    category (no variation: chance-corrected agreement is undefined).
    """
    q = n_categories

    def finalize(sums: np.ndarray) -> np.ndarray:
        sums = np.atleast_2d(sums)
        n2, n1 = sums[:, 0], sums[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            pa = (sums[:, 3] if kind == "gwet_weighted" else sums[:, 2]) / n2
            pi = sums[:, 4:] / n1[:, None]
            if kind == "fleiss":
                pe = np.sum(pi * pi, axis=1) if obs_weights is None else np.einsum("bk,kl,bl->b", pi, obs_weights, pi)
            else:
                scale = sum_weights / (q * (q - 1.0)) if q > 1 else np.nan
                pe = scale * np.sum(pi * (1.0 - pi), axis=1)
            coef = (pa - pe) / (1.0 - pe)
        varied = np.sum(sums[:, 4:] > 1e-12 * np.maximum(n1, 1.0)[:, None], axis=1) >= 2
        return np.where((n2 > 0) & varied & (q > 1) & (pe < 1.0), coef, np.nan)

    return finalize


def cac_details(types: UnitTypes, categories, weights, kind: str, *, confidence: float = 0.95) -> dict:
    """Coefficient with pa, pe, Gwet's analytic standard error and t-interval (irrCAC), on unit types.

    ``kind`` is ``"gwet"`` (AC1 / AC2 by ``weights``) or ``"fleiss"``. The interval is
    coef -/+ t_{n-1} * se, with the upper end capped at 1 (as irrCAC does); n = units with at least one rating.
    """
    cats, idx = category_index(types.values, categories)
    q = cats.size
    w_full = weight_matrix(cats, weights)
    w = w_full[np.ix_(idx, idx)]
    rows = types.weight
    c = np.asarray(types.counts, dtype=float)
    full = np.zeros((c.shape[0], q))
    full[:, idx] = c
    r = types.m
    n = rows.sum()
    two = r >= 2
    n2 = rows[two].sum()
    sum_q = np.sum(full * (full @ w_full.T - 1.0), axis=1)
    den = np.where(two, r * (r - 1.0), 1.0)
    pa_i = np.where(two, sum_q / den, 0.0)
    pa = np.sum(rows * pa_i) / n2 if n2 > 0 else np.nan
    pi = (rows @ (full / r[:, None])) / n
    if kind == "fleiss":
        pe = float(pi @ w_full @ pi)
        pi_w = (w_full @ pi + w_full.T @ pi) / 2.0
        pe_i = (full @ pi_w) / r
    else:
        scale = w_full.sum() / (q * (q - 1.0)) if q > 1 else np.nan
        pe = scale * float(np.sum(pi * (1.0 - pi)))
        pe_i = scale * (full @ (1.0 - pi)) / r
    varied = np.count_nonzero(pi > 0) >= 2 and q >= 2
    coef = (pa - pe) / (1.0 - pe) if (pe != 1 and varied and n2 > 0) else np.nan
    coef_i = (n / n2) * (pa_i - pe * two) / (1.0 - pe)
    coef_ix = coef_i - 2.0 * (1.0 - coef) * (pe_i - pe) / (1.0 - pe)
    var = np.sum(rows * (coef_ix - coef) ** 2) / (n * (n - 1.0)) if n > 1 else np.nan
    se = float(np.sqrt(var))
    t = _dist.t_ppf(1 - (1 - confidence) / 2, n - 1) if n > 1 else np.nan
    return {"value": float(coef), "pa": float(pa), "pe": float(pe), "se": se,
            "ci_low": float(coef - t * se), "ci_high": float(min(1.0, coef + t * se)),
            "p_value": float(2 * _dist.t_sf(coef / se, n - 1)) if se > 0 else np.nan,
            "n": int(n), "n_pairable": int(n2), "categories": cats, "weights": w}
