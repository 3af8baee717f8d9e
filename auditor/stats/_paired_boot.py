"""Unit bootstrap of contingency tables, in chunks of resamples.

This is :func:`auditor.stats._bootstrap.bootstrap_codes` / ``bootstrap_sums`` specialised to tables stored
sparsely (counts over the T occupied cells): a unit's contribution is a sparse row (one cell when the unit holds
one pair, a few cells when it holds several), resamples are drawn from the multinomial over *unit types* with the
same random stream as ``bootstrap_sums``, and both the resamples and the BCa jackknife are evaluated in chunks,
so memory stays bounded for tables with many cells (a dense one-hot ``(types, cells)`` matrix would not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._arrays import unique as _unique
from ._arrays import unique_first
from ._bootstrap import _CHUNK_ELEMENTS as _INDEX_CHUNK_ELEMENTS
from ._bootstrap import BootResult, confidence_interval, multinomial, use_multinomial

__all__ = ["DenseUnits", "UnitTypes", "bootstrap_tables", "resampled_tables", "unit_types"]

# each chunk of resampled tables (rows x per-row working size) stays below this many elements
CHUNK_ELEMENTS = 4_000_000


@dataclass
class UnitTypes:
    """Distinct per-unit contributions to the table ("unit types") and how many units share each.

    ``counts`` (U,): multiplicity of each type. ``cells``: (U, T) sparse cell counts of each type, or None when
    every unit holds one pair, in which case type u *is* occupied cell u (U == T).
    """

    counts: np.ndarray
    cells: sparse.csr_matrix | None
    n_cells: int

    @property
    def n_types(self) -> int:
        return int(self.counts.size)

    @property
    def n_units(self) -> int:
        return int(round(self.counts.sum()))

    def tables(self, type_counts: np.ndarray) -> np.ndarray:
        """(b, T) cell counts of tables made of ``type_counts`` (b, U) units of each type."""
        if self.cells is None:
            return type_counts
        return np.asarray(self.cells.T @ type_counts.T).T

    def rows(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, T) dense cell counts of types ``start..stop-1``."""
        if self.cells is None:
            out = np.zeros((stop - start, self.n_cells))
            out[np.arange(stop - start), np.arange(start, stop)] = 1.0
            return out
        return self.cells[start:stop].toarray()

    def total(self) -> np.ndarray:
        """(T,) the full-sample table."""
        return self.tables(self.counts[None, :])[0]


@dataclass
class DenseUnits:
    """Units with dense contribution rows ``contrib`` (U, p), each its own type (e.g. per-unit moment sums)."""

    contrib: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.ones(self.contrib.shape[0])

    @property
    def n_types(self) -> int:
        return int(self.contrib.shape[0])

    @property
    def n_units(self) -> int:
        return self.n_types

    @property
    def n_cells(self) -> int:
        return int(self.contrib.shape[1])

    def tables(self, type_counts: np.ndarray) -> np.ndarray:
        return type_counts @ self.contrib

    def rows(self, start: int, stop: int) -> np.ndarray:
        return self.contrib[start:stop]

    def total(self) -> np.ndarray:
        return self.contrib.sum(axis=0)


def unit_types(cell: np.ndarray, n_cells: int, unit: np.ndarray | None = None) -> UnitTypes:
    """Group units into types. ``cell`` (n,): occupied-cell index per pair; ``unit`` (n,): unit code 0..U-1.

    Units are equal types when they hold the same multiset of cells; grouping is exact (no hashing): units are
    bucketed by their number of pairs and deduplicated with ``np.unique(axis=0)`` on their sorted cell codes.
    """
    cell = np.asarray(cell, dtype=np.int64)
    if unit is None:
        return UnitTypes(np.bincount(cell, minlength=n_cells).astype(float), None, n_cells)
    unit = np.asarray(unit, dtype=np.int64)
    if np.bincount(unit).max() == 1:
        return UnitTypes(np.bincount(cell, minlength=n_cells).astype(float), None, n_cells)
    order = np.argsort(unit * np.int64(n_cells) + cell)      # by unit, then cell (ties are equal cells)
    sorted_cells = cell[order]
    sizes = np.bincount(unit[order])
    sizes = sizes[sizes > 0]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    row_ids, col_ids, counts = [], [], []
    n_types = 0
    for k in _unique(sizes):
        sel = starts[sizes == k]
        mat = sorted_cells[sel[:, None] + np.arange(k)[None, :]]
        if k * np.log2(max(n_cells, 2)) < 62:
            # one int64 per unit (mixed radix, first column most significant: the same order as axis=0 unique)
            code = np.zeros(mat.shape[0], dtype=np.int64)
            for j in range(k):
                code = code * np.int64(n_cells) + mat[:, j]
            _, first, cnt = unique_first(code)
            uniq = mat[first]
        else:
            uniq, cnt = np.unique(mat, axis=0, return_counts=True)
        row_ids.append(np.repeat(np.arange(n_types, n_types + uniq.shape[0]), k))
        col_ids.append(uniq.ravel())
        counts.append(cnt)
        n_types += uniq.shape[0]
    rows, cols = np.concatenate(row_ids), np.concatenate(col_ids)
    cells = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_types, n_cells))
    cells.sum_duplicates()
    return UnitTypes(np.concatenate(counts).astype(float), cells, n_cells)


def _draw_type_counts(types: UnitTypes | DenseUnits, n_boot: int, rng: np.random.Generator,
                      rows: int) -> Iterator[np.ndarray]:
    """Resampled type counts in chunks of at most ``rows`` resamples.

    A multinomial over unit types (the stream of ``bootstrap_sums``) while types are few relative to units;
    otherwise each resample counts n drawn unit indices, which is exact too and cheaper when types ~ units.
    """
    n = types.n_units
    if use_multinomial(types.n_types, n):
        p = types.counts / n
        for b0 in range(0, n_boot, rows):
            yield multinomial(rng, n, p, min(rows, n_boot - b0))
        return
    sizes = types.counts.astype(np.int64)
    identity = bool(np.all(sizes == 1))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])     # units of type t are n-indices starts[t]..
    step = max(1, min(rows, _INDEX_CHUNK_ELEMENTS // n))
    dtype = np.int32 if n < 2**31 else np.int64
    for b0 in range(0, n_boot, step):
        b = min(step, n_boot - b0)
        idx = rng.integers(0, n, size=(b, n), dtype=dtype)
        out = np.empty((b, types.n_types))
        for j, r in enumerate(idx):
            drawn = np.bincount(r, minlength=n)
            out[j] = drawn if identity else np.add.reduceat(drawn, starts)
        yield out


def resampled_tables(types: UnitTypes | DenseUnits, n_boot: int, seed, row_size: int) -> Iterator[np.ndarray]:
    """Yield (b, T) resampled tables, chunk by chunk; ``row_size`` = working elements per resample."""
    rows = max(1, CHUNK_ELEMENTS // max(row_size, types.n_types, 1))
    rng = np.random.default_rng(seed)
    for type_counts in _draw_type_counts(types, n_boot, rng, rows):
        yield types.tables(type_counts)


def bootstrap_tables(types: UnitTypes | DenseUnits, finalize: Callable[[np.ndarray], np.ndarray], *, n_boot: int = 1000,
                     seed=0, method: str = "percentile", confidence: float = 0.95,
                     row_size: int = 1) -> BootResult:
    """Bootstrap ``finalize(table)`` over units: value, interval and the (B, q) bootstrap distribution.

    ``finalize`` maps (m, T) tables to (m, q) statistics (NaN where undefined). Equal seeds give equal results;
    with one pair per unit and at most ``max(256, n / 4)`` occupied cells, the resamples are exactly those of
    ``bootstrap_codes`` with the same seed.
    """
    total = types.total()
    with np.errstate(all="ignore"):
        value = np.atleast_2d(finalize(total[None, :]))[0]
    q = value.size
    if n_boot <= 0 or types.n_units < 2:
        nan = np.full(q, np.nan)
        return BootResult(value, nan, nan.copy(), np.empty((0, q)), types.n_units, np.zeros(q, dtype=int), method)
    with np.errstate(all="ignore"):
        samples = np.vstack([np.atleast_2d(finalize(t)) for t in resampled_tables(types, n_boot, seed, row_size)])
    jk = jw = None
    if method == "bca":
        rows = max(1, CHUNK_ELEMENTS // max(row_size, types.n_cells, 1))
        with np.errstate(all="ignore"):
            jk = np.vstack([np.atleast_2d(finalize(total[None, :] - types.rows(a, min(a + rows, types.n_types))))
                            for a in range(0, types.n_types, rows)])
        jw = types.counts
    lo, hi, n_invalid = confidence_interval(samples, value, confidence=confidence, method=method,
                                            jackknife=jk, jackknife_weights=jw)
    return BootResult(value, lo, hi, samples, types.n_units, n_invalid, method)
