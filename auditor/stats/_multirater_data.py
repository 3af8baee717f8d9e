"""Multi-rater ratings in long format → integer codes, per-unit value counts and *unit types*.

A unit type is a group of units whose contributions to a statistic are identical: for statistics that treat
raters as interchangeable (Krippendorff's alpha, Fleiss' kappa, Gwet's AC1/AC2, the one-way ICC) that is the
multiset of values a unit received; for the two-way ICC it is the vector of values by rater. Grouping units into
types first makes the per-unit contribution matrices small (35 types for 3 raters on a 1-5 scale, whatever the
number of units) and the bootstrap a multinomial over types (see ``_bootstrap.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ._arrays import unique as _unique
from ._arrays import unique_first

__all__ = ["LongRatings", "UnitTypes", "parse_long", "unit_types", "ratings_matrix_to_long", "counts_to_types",
           "rater_types"]

_DENSE_MAX_CELLS = 50_000_000  # units x distinct values above which per-unit counts are kept sparse
_INT_KEY_LIMIT = 2**62


@dataclass(frozen=True)
class LongRatings:
    """Non-missing ratings as integer codes.

    ``unit``, ``rater``, ``vcode`` have shape (N,) for the N non-missing ratings; ``values`` (V,) are the distinct
    values in ascending order (``values[vcode]`` is each rating). ``n_units`` / ``n_raters`` count every distinct
    label, including units whose ratings are all missing.
    """

    unit: np.ndarray
    rater: np.ndarray
    vcode: np.ndarray
    values: np.ndarray
    n_units: int
    n_raters: int
    unit_labels: np.ndarray
    rater_labels: np.ndarray

    @property
    def m(self) -> np.ndarray:
        """(n_units,) number of non-missing ratings of each unit."""
        return np.bincount(self.unit, minlength=self.n_units)

    @property
    def center(self) -> float:
        """A value to subtract before forming sums of squares (the median distinct value; 0 if none).

        Centering keeps moment sums small (no cancellation) and is exact for constant data.
        """
        return float(self.values[self.values.size // 2]) if self.values.size else 0.0


def _factorize(labels, what: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(labels, dtype=object) if not isinstance(labels, (pd.Series, pd.Index, np.ndarray)) else labels
    try:
        codes, uniques = pd.factorize(arr, sort=True)
    except TypeError:  # labels of mixed, unorderable types
        codes, uniques = pd.factorize(arr, sort=False)
    if np.any(codes < 0):
        raise ValueError(f"{what} contain missing labels (None/NaN) at row {int(np.flatnonzero(codes < 0)[0])}; "
                         f"give every rating a {what[:-1]} label")
    return codes.astype(np.int64), np.asarray(uniques)


def _distinct_values(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes into sorted distinct values, sorted distinct values) in O(N) by hashing."""
    codes, uniques = pd.factorize(x, sort=False)
    uniques = np.asarray(uniques, dtype=float)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[codes].astype(np.int64), uniques[order]


def parse_long(units, raters, values) -> LongRatings:
    """Validate long-format ratings and code them as integers.

    Raises ``ValueError`` when lengths differ, a label is missing, a value is not numeric or infinite, or a
    (unit, rater) pair occurs more than once (naming one such pair).
    """
    v = np.asarray(values)
    if v.dtype.kind not in "biuf":
        try:
            v = v.astype(float)
        except (TypeError, ValueError):
            raise ValueError("values must be numeric (NaN = missing); map option labels to their numeric values "
                             "first") from None
    v = v.astype(float, copy=False).ravel()
    n = v.size
    lengths = {len(units), len(raters), n}
    if len(lengths) != 1:
        raise ValueError(f"units, raters and values must have the same length; got {len(units)}, {len(raters)} "
                         f"and {n}")
    if np.isinf(v).any():
        raise ValueError(f"values contain infinity at row {int(np.flatnonzero(np.isinf(v))[0])}")
    u, unit_labels = _factorize(units, "units")
    r, rater_labels = _factorize(raters, "raters")
    U, R = unit_labels.size, rater_labels.size
    key = u * R + r
    if U * R <= _DENSE_MAX_CELLS:
        dup = np.bincount(key, minlength=U * R) > 1
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            _raise_duplicate(unit_labels[first // R], rater_labels[first % R], int(np.sum(key == first)))
    else:
        s = np.sort(key)
        d = np.flatnonzero(s[1:] == s[:-1])
        if d.size:
            k = int(s[d[0]])
            _raise_duplicate(unit_labels[k // R], rater_labels[k % R], int(np.sum(key == k)))
    ok = ~np.isnan(v)
    vcode, distinct = _distinct_values(v[ok])
    return LongRatings(u[ok], r[ok], vcode, distinct, U, R, unit_labels, rater_labels)


def _raise_duplicate(unit, rater, count: int):
    raise ValueError(f"unit {unit!r} has {count} ratings from rater {rater!r}; multi-rater statistics need one "
                     "rating per (unit, rater): average repeated samples or keep one before calling")


def ratings_matrix_to_long(matrix, *, units_axis: int = 0):
    """(units, raters, values) long arrays from a wide matrix; ``units_axis=0`` for (N units x R raters)."""
    x = np.asarray(matrix, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D ratings matrix, got shape {x.shape}")
    if units_axis == 1:
        x = x.T
    n, k = x.shape
    return np.repeat(np.arange(n), k), np.tile(np.arange(k), n), x.ravel()


@dataclass(frozen=True)
class UnitTypes:
    """Units with at least one rating, grouped by the multiset of values they received.

    ``counts`` (T, V): how many ratings of each distinct value a unit of type t has (dense ndarray, or a scipy
    CSR matrix when units x values is too large; then every unit is its own type). ``weight`` (T,): number of
    units of each type. ``m`` (T,): ratings per unit. ``values`` (V,) ascending.
    """

    counts: np.ndarray | sparse.csr_matrix
    weight: np.ndarray
    m: np.ndarray
    values: np.ndarray

    @property
    def dense(self) -> bool:
        return isinstance(self.counts, np.ndarray)

    @property
    def n_types(self) -> int:
        return int(self.weight.size)

    def moments(self, center: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-type sum and sum of squares of the centered values, each (T,)."""
        vc = self.values - center
        if self.dense:
            return self.counts @ vc, self.counts @ vc**2
        return np.asarray(self.counts @ vc).ravel(), np.asarray(self.counts @ vc**2).ravel()


_COMPRESS_MAX_CODE = 1_000   # rows over more distinct codes than this are (nearly) all distinct: not compressed


def _compress_rows(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one representative row per distinct row, multiplicity) for a non-negative int matrix.

    Rows whose entries range over more than ``_COMPRESS_MAX_CODE`` codes (continuous ratings) are returned as
    they are: grouping would cost a sort and save nothing.
    """
    rows = mat.shape[0]
    if rows == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    base = int(mat.max()) + 1 if mat.size else 1
    if mat.shape[1] * np.log2(max(base, 2)) < 62:
        key = mat.astype(np.int64) @ (base ** np.arange(mat.shape[1], dtype=np.int64))
        _, first, cnt = unique_first(key)
    elif base <= _COMPRESS_MAX_CODE:
        _, first, cnt = np.unique(mat, axis=0, return_index=True, return_counts=True)
    else:
        return np.arange(rows), np.ones(rows)
    return first, cnt.astype(float)


def unit_types(data: LongRatings, *, compress: bool = True) -> UnitTypes:
    """Group the rated units of ``data`` by their value counts (see :class:`UnitTypes`)."""
    U, V = data.n_units, data.values.size
    m_all = data.m
    rated = m_all > 0
    if U * V <= _DENSE_MAX_CELLS:
        counts = np.bincount(data.unit * V + data.vcode, minlength=U * V).reshape(U, V)[rated]
        m = m_all[rated]
        if compress:
            first, w = _compress_rows(counts)
            return UnitTypes(counts[first].astype(float), w, m[first].astype(float), data.values)
        return UnitTypes(counts.astype(float), np.ones(counts.shape[0]), m.astype(float), data.values)
    counts = sparse.csr_matrix((np.ones(data.unit.size), (data.unit, data.vcode)), shape=(U, V))
    counts.sum_duplicates()
    counts = counts[np.flatnonzero(rated)]
    return UnitTypes(counts, np.ones(counts.shape[0]), m_all[rated].astype(float), data.values)


def counts_to_types(counts, values=None, *, compress: bool = True) -> UnitTypes:
    """:class:`UnitTypes` from a (N units x V values) count matrix (Fleiss' layout); empty rows are dropped."""
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2:
        raise ValueError(f"counts must be a 2-D (units x categories) matrix, got shape {c.shape}")
    if np.any(c < 0) or np.any(c != np.round(c)) or np.isnan(c).any():
        raise ValueError("counts must be non-negative integers (number of raters choosing each category)")
    vals = np.arange(c.shape[1], dtype=float) if values is None else np.asarray(values, dtype=float)
    if vals.shape != (c.shape[1],):
        raise ValueError(f"values must have one entry per count column ({c.shape[1]}), got {vals.shape}")
    if np.any(np.diff(vals) <= 0):
        order = np.argsort(vals)
        if _unique(vals).size != vals.size:
            raise ValueError("values of the count columns must be distinct")
        vals, c = vals[order], c[:, order]
    c = c[c.sum(axis=1) > 0]
    if compress:
        first, w = _compress_rows(c.astype(np.int64))
        c = c[first]
    else:
        w = np.ones(c.shape[0])
    return UnitTypes(c, w, c.sum(axis=1), vals)


def rater_types(data: LongRatings) -> tuple[np.ndarray, np.ndarray, int]:
    """Units rated by every rater, grouped by their (value by rater) rows.

    Returns ``(x, weight, n_complete)``: ``x`` (T, R) values of each distinct complete row, ``weight`` (T,) their
    multiplicities, and the number of complete units.
    """
    U, R = data.n_units, data.n_raters
    complete = data.m == R
    nc = int(complete.sum())
    if nc == 0:
        return np.zeros((0, R)), np.zeros(0), 0
    pos = np.full(U, -1, dtype=np.int64)
    pos[complete] = np.arange(nc)
    keep = complete[data.unit]
    wide = np.empty((nc, R), dtype=np.int64)
    wide[pos[data.unit[keep]], data.rater[keep]] = data.vcode[keep]
    first, w = _compress_rows(wide)
    return data.values[wide[first]], w, nc
