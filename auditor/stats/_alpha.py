"""Krippendorff's alpha from coincidence matrices, for every level of measurement, vectorised over resamples.

References: Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. ASC Departmental Papers 43.
"""

from __future__ import annotations

import numpy as np

__all__ = ["alpha_from_coincidence", "distance_matrix"]


def distance_matrix(values: np.ndarray, level: str, marginals: np.ndarray | None = None) -> np.ndarray:
    """Squared difference function delta^2 between the distinct ``values`` (V,).

    ``marginals`` (..., V) are the pairable-value frequencies n_g, needed by the ordinal metric (rank-based:
    delta_ck = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2); the result then has shape (..., V, V).
    """
    v = np.asarray(values, dtype=float)
    if level in ("nominal", "binary"):
        return 1.0 - np.eye(v.size)
    if level == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if level == "ratio":
        s = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((v[:, None] - v[None, :]) / s) ** 2
        return np.where(s == 0, 0.0, d)
    if level == "ordinal":
        if marginals is None:
            raise ValueError("the ordinal metric needs the value frequencies (marginals)")
        order = np.argsort(v)
        if np.any(order != np.arange(v.size)):
            raise ValueError("values must be sorted ascending for the ordinal metric")
        n = np.asarray(marginals, dtype=float)
        cum = np.cumsum(n, axis=-1)                       # (..., V)
        # sum_{g=c..k} n_g for c <= k  = cum[k] - cum[c] + n[c]
        between = cum[..., None, :] - cum[..., :, None] + n[..., :, None]
        between = np.where(np.triu(np.ones((v.size, v.size), bool)), between, np.swapaxes(between, -1, -2))
        d = (between - (n[..., :, None] + n[..., None, :]) / 2.0) ** 2
        eye = np.eye(v.size, dtype=bool)
        return np.where(eye, 0.0, d)
    raise ValueError(f"unknown level of measurement '{level}'; use binary, nominal, ordinal, interval or ratio")


def alpha_from_coincidence(o: np.ndarray, values: np.ndarray, level: str) -> np.ndarray:
    """Alpha = 1 - (n - 1) * sum(o * delta) / sum(n_c n_k delta) from coincidence matrices ``o`` (..., V, V).

    ``values`` (V,) are the distinct values in ascending order. Returns shape ``o.shape[:-2]``; NaN where alpha
    is undefined (fewer than 2 pairable values, or no variation: expected disagreement 0).
    """
    o = np.asarray(o, dtype=float)
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    delta = distance_matrix(values, level, n_c if level == "ordinal" else None)
    d_o = np.sum(o * delta, axis=(-2, -1))
    d_e = np.einsum("...c,...k,...ck->...", n_c, n_c, np.broadcast_to(delta, o.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - (n - 1.0) * d_o / d_e
    return np.where((d_e > 0) & (n > 1), a, np.nan)
