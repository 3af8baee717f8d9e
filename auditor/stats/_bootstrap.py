"""Bootstrap over the design's unit, for every resample at once.

Almost every statistic in auditor is a function of *sums over units* of small per-unit contribution vectors
(contingency-table cells, coincidence counts, moments, ANOVA sums of squares). Resampling n units with
replacement is then the same as drawing, for each distinct contribution vector ("unit type"), how many times it
is drawn: a multinomial over types. One ``(B, T) @ (T, p)`` product gives the resampled sums of all B
resamples, and ``finalize`` turns sums into statistics, vectorised over the leading axis.

This is exact (not an approximation of the unit bootstrap) and costs O(B·T·p) instead of O(B·n) Python work.
When there are many distinct types (continuous values), resamples are drawn in chunks by index counting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import threading
from collections import OrderedDict

import numpy as np

from . import _dist
from ._arrays import unique_rows

__all__ = ["BootResult", "bootstrap_sums", "bootstrap_codes", "confidence_interval"]

Finalize = Callable[[np.ndarray], np.ndarray]

# above this many distinct unit types, resample by counting drawn indices in chunks instead of a multinomial
_MAX_TYPES_MULTINOMIAL = 200_000
_CHUNK_ELEMENTS = 20_000_000  # B_chunk * n per chunk of index draws
# the multinomial over types is used while types <= max(MULTINOMIAL_MIN_TYPES, units / MULTINOMIAL_UNITS_PER_TYPE)
MULTINOMIAL_MIN_TYPES = 256
MULTINOMIAL_UNITS_PER_TYPE = 4


@dataclass
class BootResult:
    """Point estimate, interval and the bootstrap distribution of one or more statistics.

    ``value``, ``ci_low``, ``ci_high`` have shape ``(q,)``; ``samples`` has shape ``(B, q)``.
    ``n_invalid`` counts resamples where the statistic was undefined (NaN), which are left out of the interval.
    """

    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    samples: np.ndarray
    n_units: int
    n_invalid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    method: str = "percentile"


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[:, None] if x.ndim == 1 else x


def _resampled_counts(type_counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    n = int(type_counts.sum())
    return multinomial(rng, n, type_counts / n, n_boot)


# An audit bootstraps many statistics over the same units with the same seed: the same multinomial draws, each
# costing B x types binomials. They are remembered by (generator state, n, p, size), with the generator state after
# the draw, so a repeated draw returns the same array and leaves the generator where drawing would have.
_DRAWS: OrderedDict = OrderedDict()
_DRAWS_LOCK = threading.Lock()
_DRAWS_MAX_ELEMENTS = 8_000_000


def multinomial(rng: np.random.Generator, n: int, p: np.ndarray, size: int) -> np.ndarray:
    """``rng.multinomial(n, p, size=size).astype(float)``, remembered (read-only array; see ``_DRAWS``)."""
    p = np.ascontiguousarray(p, dtype=float)
    if size * p.size > _DRAWS_MAX_ELEMENTS // 4:
        return rng.multinomial(n, p, size=size).astype(float)
    key = (repr(rng.bit_generator.state), n, size, p.tobytes())
    with _DRAWS_LOCK:
        hit = _DRAWS.get(key)
        if hit is not None:
            _DRAWS.move_to_end(key)
    if hit is not None:
        rng.bit_generator.state = hit[1]
        return hit[0]
    out = rng.multinomial(n, p, size=size).astype(float)
    out.setflags(write=False)
    with _DRAWS_LOCK:
        _DRAWS[key] = (out, rng.bit_generator.state)
        total = sum(v[0].size for v in _DRAWS.values())
        while total > _DRAWS_MAX_ELEMENTS and len(_DRAWS) > 1:
            total -= _DRAWS.popitem(last=False)[1][0].size
    return out


def use_multinomial(n_types: int, n_units: int) -> bool:
    """Draw resamples as a multinomial over unit types (cost ~ types per resample) rather than by counting n drawn
    unit indices (cost ~ units per resample): while types <= max(256, units / 4) and <= 200k."""
    return n_types <= min(_MAX_TYPES_MULTINOMIAL, max(MULTINOMIAL_MIN_TYPES, n_units // MULTINOMIAL_UNITS_PER_TYPE))


def _resample_sums(C: np.ndarray, type_counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(B, p) resampled sums of the rows of C (types, with multiplicities ``type_counts``)."""
    T = C.shape[0]
    if use_multinomial(T, int(type_counts.sum())):
        return _resampled_counts(type_counts, n_boot, rng) @ C
    # many types relative to units (a multinomial draw costs ~O(types), counting drawn indices ~O(units)):
    # draw unit indices, a chunk of resamples at a time (one bincount and one matrix product per chunk)
    return np.vstack([W @ C for W in resample_weights(type_counts, n_boot, rng)])


def resample_weights(type_counts: np.ndarray, n_boot: int, rng: np.random.Generator, *,
                     chunk_elements: int = _CHUNK_ELEMENTS):
    """Yield (b, T) float arrays of bootstrap multiplicities of the T unit types, chunk by chunk, B rows in all.

    Each row is the multiplicity of each type among n units drawn with replacement (n = total multiplicity);
    a chunk holds about ``chunk_elements`` draws.
    """
    type_counts = np.asarray(type_counts, dtype=float)
    n = int(type_counts.sum())
    T = type_counts.size
    step = max(1, chunk_elements // max(n, T, 1))
    unit_type = None if np.all(type_counts == 1) else np.repeat(np.arange(T), type_counts.astype(np.int64))
    for b0 in range(0, n_boot, step):
        b = min(step, n_boot - b0)
        idx = rng.integers(0, n, size=(b, n))
        if unit_type is not None:
            idx = unit_type[idx]
        idx += (np.arange(b) * T)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * T).reshape(b, T).astype(float)


def confidence_interval(samples: np.ndarray, value: np.ndarray, *, confidence: float = 0.95,
                        method: str = "percentile", jackknife: np.ndarray | None = None,
                        jackknife_weights: np.ndarray | None = None):
    """Percentile or BCa interval per column of ``samples`` (B, q). Returns (low, high, n_invalid).

    BCa (Efron 1987) needs the jackknife values ``jackknife`` (J, q) with multiplicities ``jackknife_weights``.
    """
    samples = _as_2d(samples)
    value = np.atleast_1d(np.asarray(value, dtype=float))
    q = samples.shape[1]
    lo = np.full(q, np.nan)
    hi = np.full(q, np.nan)
    n_invalid = np.isnan(samples).sum(axis=0)
    alpha = 1.0 - confidence
    todo = range(q)
    if method == "percentile" and samples.shape[0] >= 2:
        # the columns without a NaN in one call (the same quantiles as column by column, with less overhead)
        clean = (n_invalid == 0) & ~np.isnan(value)
        if clean.any():
            lo[clean], hi[clean] = np.quantile(samples[:, clean], [alpha / 2, 1 - alpha / 2], axis=0)
            todo = np.flatnonzero(~clean)
    for j in todo:
        s = samples[:, j]
        s = s[~np.isnan(s)]
        if s.size < 2 or np.isnan(value[j]):
            continue
        p_lo, p_hi = alpha / 2, 1 - alpha / 2
        if method == "bca":
            if jackknife is None:
                raise ValueError("BCa intervals need jackknife values")
            prop = (np.sum(s < value[j]) + 0.5 * np.sum(s == value[j])) / s.size
            prop = min(max(prop, 1.0 / (2 * s.size)), 1 - 1.0 / (2 * s.size))
            z0 = _dist.norm_ppf(prop)
            jk = _as_2d(jackknife)[:, j]
            w = np.ones_like(jk) if jackknife_weights is None else np.asarray(jackknife_weights, dtype=float)
            ok = ~np.isnan(jk)
            jk, w = jk[ok], w[ok]
            mean = np.sum(w * jk) / np.sum(w) if w.sum() > 0 else np.nan
            d = mean - jk
            den = 6.0 * np.sum(w * d**2) ** 1.5
            a = np.sum(w * d**3) / den if den > 0 else 0.0
            zl, zh = _dist.norm_ppf(p_lo), _dist.norm_ppf(p_hi)
            p_lo = _dist.norm_cdf(z0 + (z0 + zl) / (1 - a * (z0 + zl)))
            p_hi = _dist.norm_cdf(z0 + (z0 + zh) / (1 - a * (z0 + zh)))
        lo[j], hi[j] = np.quantile(s, [p_lo, p_hi])
    return lo, hi, n_invalid


# with allow_analytic, above this many (resamples x unit types) the interval is a delta-method normal one
ANALYTIC_ABOVE = 20_000_000


def _delta_interval(C: np.ndarray, counts: np.ndarray, total: np.ndarray, value: np.ndarray, finalize: Finalize,
                    confidence: float):
    """Normal interval from the delta method: Var f(S) = g' (n Cov(C_u)) g with g the numerical gradient at S."""
    n = counts.sum()
    p = total.size
    h = 1e-6 * np.maximum(np.abs(total), 1.0)
    steps = np.vstack([total + np.diag(h), total - np.diag(h)])
    with np.errstate(all="ignore"):
        f = _as_2d(finalize(steps))
    g = (f[:p] - f[p:]) / (2 * h[:, None])                      # (p, q)
    mu = total / n
    D = C - mu
    cov = (D * counts[:, None]).T @ D / max(n - 1, 1)           # (p, p) covariance of one unit's contribution
    var = np.einsum("pq,pr,rq->q", g, n * cov, g)
    se = np.sqrt(np.maximum(var, 0))
    z = _dist.norm_ppf(0.5 + confidence / 2)
    return value - z * se, value + z * se


def bootstrap_sums(contrib: np.ndarray, finalize: Finalize, *, n_boot: int = 1000, seed: int | None = 0,
                   method: str = "percentile", confidence: float = 0.95,
                   counts: np.ndarray | None = None, compress: bool = True,
                   allow_analytic: bool = False) -> BootResult:
    """Bootstrap a statistic that is ``finalize(sum of per-unit contribution rows)``.

    Parameters
    ----------
    contrib : (n, p) array
        One row per resampling unit (conversation or task): that unit's contribution to the sums.
    finalize : callable
        Maps sums of shape (m, p) to statistics of shape (m,) or (m, q); must be vectorised over axis 0.
    n_boot : number of resamples (0 = no interval).
    seed : seeds numpy's default generator; equal seeds give equal intervals.
    method : ``"percentile"`` or ``"bca"``.
    counts : optional (n,) multiplicities of the rows (rows already grouped into unit types).
    compress : group identical rows into unit types first (exact, and much faster for discrete data).
    allow_analytic : when resampling would cost more than ``ANALYTIC_ABOVE`` (resamples x unit types), return a
        delta-method normal interval instead (``method == "delta"``, no samples); the caller names it in its note.
    """
    C = _as_2d(contrib)
    if counts is None:
        counts = np.ones(C.shape[0])
        if compress and C.shape[0] > 1:
            C, counts = unique_rows(C)
    counts = np.asarray(counts, dtype=float)
    n_units = int(counts.sum())
    total = counts @ C
    value = _as_2d(finalize(total[None, :]))[0]
    q = value.size
    if n_boot <= 0 or n_units < 2:
        nan = np.full(q, np.nan)
        return BootResult(value, nan, nan.copy(), np.empty((0, q)), n_units, np.zeros(q, dtype=int), method)
    if allow_analytic and n_boot * C.shape[0] > ANALYTIC_ABOVE:
        lo, hi = _delta_interval(C, counts, total, value, finalize, confidence)
        return BootResult(value, lo, hi, np.empty((0, q)), n_units, np.zeros(q, dtype=int), "delta")
    rng = np.random.default_rng(seed)
    sums = _resample_sums(C, counts, n_boot, rng)
    with np.errstate(all="ignore"):
        samples = _as_2d(finalize(sums))
    jk = jw = None
    if method == "bca":
        keep = counts > 0
        with np.errstate(all="ignore"):
            jk = _as_2d(finalize(total[None, :] - C[keep]))
        jw = counts[keep]
    lo, hi, n_invalid = confidence_interval(samples, value, confidence=confidence, method=method,
                                            jackknife=jk, jackknife_weights=jw)
    return BootResult(value, lo, hi, samples, n_units, n_invalid, method)


def bootstrap_codes(codes: np.ndarray, n_cells: int, finalize: Finalize, **kw) -> BootResult:
    """Bootstrap when each unit falls in exactly one cell (a paired rating = one contingency-table cell).

    ``finalize`` receives cell counts of shape (m, n_cells). Equivalent to :func:`bootstrap_sums` with one-hot
    rows, without building them.
    """
    codes = np.asarray(codes, dtype=np.int64)
    counts = np.bincount(codes, minlength=n_cells).astype(float)
    keep = np.flatnonzero(counts)
    eye = np.zeros((keep.size, n_cells))
    eye[np.arange(keep.size), keep] = 1.0
    return bootstrap_sums(eye, finalize, counts=counts[keep], **kw)
