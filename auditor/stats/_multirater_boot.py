"""Bootstrap over unit types when there are very many of them (continuous ratings: every unit its own type).

:func:`bootstrap_types` is :func:`~auditor.stats._bootstrap.bootstrap_sums` with given type multiplicities; up to
``_MAX_TYPES_MULTINOMIAL`` types, and while types are few relative to units (``_bootstrap.use_multinomial``), it
simply calls it (one multinomial draw per resample). Beyond that it draws
units by index, but a whole chunk of resamples at a time: one ``bincount`` gives the (b, T) multiplicities and
one matrix product the (b, p) resampled sums, instead of a Python-level loop over resamples.
"""

from __future__ import annotations

import numpy as np

from ._bootstrap import (_MAX_TYPES_MULTINOMIAL, BootResult, bootstrap_sums, confidence_interval, resample_weights,
                         use_multinomial)

__all__ = ["bootstrap_types", "resample_weights"]

def bootstrap_types(contrib: np.ndarray, finalize, counts: np.ndarray, *, n_boot: int, seed, method: str,
                    confidence: float) -> BootResult:
    """Bootstrap ``finalize(sum of contribution rows)`` over units grouped in types with multiplicities ``counts``."""
    counts = np.asarray(counts, dtype=float)
    if counts.size <= _MAX_TYPES_MULTINOMIAL and use_multinomial(counts.size, int(counts.sum())):
        return bootstrap_sums(contrib, finalize, n_boot=n_boot, seed=seed, method=method, confidence=confidence,
                              counts=counts)
    C = np.asarray(contrib, dtype=float)
    n_units = int(counts.sum())
    total = counts @ C
    value = np.atleast_1d(np.asarray(finalize(total[None, :]), dtype=float).reshape(-1))
    q = value.size
    if n_boot <= 0 or n_units < 2:
        nan = np.full(q, np.nan)
        return BootResult(value, nan, nan.copy(), np.empty((0, q)), n_units, np.zeros(q, dtype=int), method)
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        samples = np.vstack([np.asarray(finalize(W @ C), dtype=float).reshape(W.shape[0], q)
                             for W in resample_weights(counts, n_boot, rng)])
    jk = jw = None
    if method == "bca":
        keep = counts > 0
        with np.errstate(all="ignore"):
            jk = np.asarray(finalize(total[None, :] - C[keep]), dtype=float).reshape(-1, q)
        jw = counts[keep]
    lo, hi, n_invalid = confidence_interval(samples, value, confidence=confidence, method=method, jackknife=jk,
                                            jackknife_weights=jw)
    return BootResult(value, lo, hi, samples, n_units, n_invalid, method)
