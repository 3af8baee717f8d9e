"""Krippendorff's alpha for many raters with missing data: per-unit contributions for the bootstrap.

Three routes, all exact:

* **interval** — per-unit moments. Within a unit of m values, sum_{i != j} (v_i - v_j)^2 = 2 m sum v^2 - 2 (sum v)^2,
  so observed and expected disagreement need only (m, sum v, sum v^2) per unit: memory O(units) whatever the
  number of distinct values (no units x V x V coincidence array).
* **nominal / ordinal / ratio with few distinct values** — per-unit coincidence contributions
  o_u[c, k] = n_uc (n_uk - [c = k]) / (m_u - 1), summed and passed to :func:`alpha_from_coincidence`.
* **nominal / ordinal / ratio with many distinct values** — resample weights in chunks and sparse counts:
  nominal needs the value marginals n_c (D_e = n^2 - sum n_c^2); ordinal is the interval metric on mid-ranks
  r_c = sum_{g<c} n_g + n_c / 2 of the pairable values (Krippendorff's ordinal delta_ck equals (r_k - r_c)^2), so
  it needs per-unit rank moments, from one cumulative sum over the sorted cells per resample
  (:mod:`._ordinal_ranks`); ratio needs the quadratic form n' Delta n over the distinct values and is
  limited to ``RATIO_MAX_VALUES`` distinct values (round the values, or use the interval level, beyond that).

Units with fewer than two values are not pairable and contribute nothing (they still count as drawn units in
the bootstrap).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ._alpha import alpha_from_coincidence
from ._multirater_boot import resample_weights
from ._multirater_data import UnitTypes
from ._ordinal_ranks import OrdinalRanks

__all__ = ["COINCIDENCE_MAX_CELLS", "RATIO_MAX_VALUES", "uses_coincidence", "coincidence_contributions",
           "coincidence_finalize", "moment_contributions", "alpha_from_moments", "alpha_large_v",
           "alpha_point", "ratio_too_many_values"]

COINCIDENCE_MAX_VALUES = 64          # V above which the V^2 coincidence columns are not used
COINCIDENCE_MAX_CELLS = 30_000_000   # types x V^2 budget for the coincidence contributions
RATIO_MAX_VALUES = 5_000             # ratio metric: expected disagreement costs O(B V^2)
_LARGE_V_CHUNK_CELLS = 4_000_000     # (types + distinct values) x resamples per chunk on the large-V route
_ORDINAL_CHUNK_DRAWS = 1_000_000     # unit draws per chunk of resamples on the ordinal large-V route
_REL_TOL = 1e-12                     # relative size under which expected disagreement counts as zero


def uses_coincidence(types: UnitTypes) -> bool:
    """Whether nominal/ordinal/ratio alpha go through summed coincidence contributions (else the large-V path)."""
    V = types.values.size
    return types.dense and V <= COINCIDENCE_MAX_VALUES and types.n_types * V * V <= COINCIDENCE_MAX_CELLS


def coincidence_contributions(types: UnitTypes) -> np.ndarray:
    """(T, V*V) per-type coincidence matrices o_t (zero for units with fewer than two values)."""
    c = np.asarray(types.counts, dtype=float)
    T, V = c.shape
    o = c[:, :, None] * c[:, None, :]
    o[:, np.arange(V), np.arange(V)] -= c
    with np.errstate(invalid="ignore", divide="ignore"):
        o /= (types.m - 1.0)[:, None, None]
    o[types.m < 2] = 0.0
    return o.reshape(T, V * V)


def coincidence_finalize(values: np.ndarray, level: str):
    """Finalize for :func:`coincidence_contributions`: (B, V*V) summed coincidences -> (B,) alpha."""
    V = values.size

    def finalize(sums: np.ndarray) -> np.ndarray:
        return alpha_from_coincidence(sums.reshape(-1, V, V), values, level)

    return finalize


def moment_contributions(types: UnitTypes, center: float) -> np.ndarray:
    """(T, 4) interval-alpha contributions [m, sum v, sum v^2, sum_{i!=j}(v_i-v_j)^2 / (m-1)], zero if m < 2."""
    s, q = types.moments(center)
    m = types.m
    pair = m >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        d_o = np.where(pair, (2.0 * m * q - 2.0 * s * s) / (m - 1.0), 0.0)
    d_o = np.maximum(d_o, 0.0)  # rounding can make a zero within-unit spread slightly negative
    return np.column_stack([m * pair, s * pair, q * pair, d_o])


def alpha_from_moments(sums: np.ndarray) -> np.ndarray:
    """Interval alpha from summed :func:`moment_contributions`, (B, 4) -> (B,)."""
    sums = np.atleast_2d(sums)
    n, s, q, d_o = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
    d_e = 2.0 * n * q - 2.0 * s * s
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - (n - 1.0) * d_o / d_e
    return np.where((n > 1) & (d_e > _REL_TOL * 2.0 * n * np.abs(q)), a, np.nan)


# ---------------------------------------------------------------------------------------------------------------
# large-V route: explicit resample weights over unit types, sparse counts


class _LargeV:
    """Alpha for weights over (possibly sparse) unit types; evaluate((b, T) weights) -> (b,)."""

    def __init__(self, types: UnitTypes, level: str):
        self.level = level
        if level == "ordinal":
            self.ranks = OrdinalRanks(types.counts, types.m)
            return
        pair = types.m >= 2
        self.pair = pair
        counts = types.counts if not types.dense else sparse.csr_matrix(types.counts)
        self.N = sparse.csr_matrix(counts)[np.flatnonzero(pair)]          # (P, V) pairable types only
        self.m = types.m[pair]
        self.values = types.values
        if level == "nominal" or level == "binary":
            sq = np.asarray(self.N.multiply(self.N).sum(axis=1)).ravel()
            self.d_o = (self.m**2 - sq) / (self.m - 1.0)
        elif level == "ratio":
            self.d_o = _ratio_within(self.N, self.values) / (self.m - 1.0)
        else:
            raise ValueError(f"large-V alpha does not handle level '{level}'")

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        if self.level == "ordinal":   # interval alpha of the mid-ranks (see _ordinal_ranks.py)
            n, d_o, d_e = self.ranks.parts(W)
            scale = (n * n) ** 2                                           # rank deltas grow like n^2
        else:
            Wp = W[:, self.pair]                                           # (b, P)
            n = Wp @ self.m
            marg = np.asarray(self.N.T @ Wp.T).T                           # (b, V) pairable value counts
            d_o = Wp @ self.d_o
            if self.level == "ratio":
                d_e = _quadratic_form_ratio(marg, self.values)
            else:
                d_e = n * n - np.sum(marg * marg, axis=1)
            scale = n * n
        with np.errstate(invalid="ignore", divide="ignore"):
            a = 1.0 - (n - 1.0) * d_o / d_e
        return np.where((n > 1) & (d_e > _REL_TOL * scale), a, np.nan)


def _ratio_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        d = ((a - b) / s) ** 2
    return np.where(s == 0, 0.0, d)


def _ratio_within(N: sparse.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Per row of N: sum over ordered pairs of distinct ratings of the ratio delta, (P,)."""
    coo = N.tocoo()
    order = np.argsort(coo.row, kind="stable")
    row, col, cnt = coo.row[order], coo.col[order], coo.data[order]
    out = np.zeros(N.shape[0])
    # pairs of distinct values within a row: iterate over offsets inside each row's run of nonzeros
    starts = np.searchsorted(row, np.arange(N.shape[0]))
    ends = np.searchsorted(row, np.arange(N.shape[0]), side="right")
    width = int((ends - starts).max()) if row.size else 0
    for off in range(1, width):
        i = np.arange(row.size)
        j = i + off
        ok = j < row.size
        i, j = i[ok], j[ok]
        same = row[i] == row[j]
        i, j = i[same], j[same]
        out += np.bincount(row[i], weights=2.0 * cnt[i] * cnt[j] * _ratio_delta(values[col[i]], values[col[j]]),
                           minlength=out.size)
    return out


def _quadratic_form_ratio(marg: np.ndarray, values: np.ndarray, block: int = 512) -> np.ndarray:
    """sum_{c,k} n_c n_k delta_ck for each row of ``marg`` (b, V), with the ratio delta built block by block."""
    out = np.zeros(marg.shape[0])
    V = values.size
    for k0 in range(0, V, block):
        k1 = min(V, k0 + block)
        d = _ratio_delta(values[:, None], values[None, k0:k1])             # (V, blk)
        out += np.sum((marg @ d) * marg[:, k0:k1], axis=1)
    return out


def alpha_large_v(types: UnitTypes, level: str, *, n_boot: int, rng: np.random.Generator | None):
    """Point estimate and (B,) bootstrap samples of alpha on the large-V route (samples empty if n_boot = 0)."""
    model = _LargeV(types, level)
    value = float(model.evaluate(types.weight[None, :])[0])
    if n_boot <= 0 or rng is None:
        return value, np.empty(0)
    # each resample in a chunk holds arrays over types and over distinct values: keep a chunk near 4M cells;
    # ordinal goes through a chunk four resamples at a time with buffers over the cells only: ~1M draws a chunk
    n_units = max(int(types.weight.sum()), types.n_types, 1)
    if level == "ordinal":
        rows = 4 * max(1, _ORDINAL_CHUNK_DRAWS // (4 * n_units))
    else:
        rows = max(1, _LARGE_V_CHUNK_CELLS // (types.n_types + types.values.size))
    chunk = rows * n_units
    samples = np.concatenate([model.evaluate(W) for W in
                              resample_weights(types.weight, n_boot, rng, chunk_elements=chunk)])
    return value, samples


def ratio_too_many_values(types: UnitTypes) -> bool:
    return not uses_coincidence(types) and types.values.size > RATIO_MAX_VALUES


def alpha_point(types: UnitTypes, level: str, center: float = 0.0) -> float:
    """Alpha at ``level`` for the unit types (no bootstrap); NaN when undefined."""
    if level == "interval":
        return float(alpha_from_moments(types.weight @ moment_contributions(types, center))[0])
    if level == "ratio" and ratio_too_many_values(types):
        return float("nan")
    if uses_coincidence(types):
        o = types.weight @ coincidence_contributions(types)
        return float(coincidence_finalize(types.values, level)(o[None, :])[0])
    return alpha_large_v(types, level, n_boot=0, rng=None)[0]

