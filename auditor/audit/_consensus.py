"""Per-unit consensus of several ratings, and each rating against the consensus of the *others* (leave one out).

Rules (README "How the audit compares raters"):
- binary / nominal: the mode; a tie goes to the smallest tied value (the option listed first on monotone scales);
- ordinal: the lower median (for an even count, the smaller of the two middle values, so the result is always a
  value someone gave);
- interval / ratio: the mean.
The same rule aggregates an LLM rater's repeated samples of one unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats._arrays import dense_codes, unique as _unique, unique_rows

__all__ = ["consensus_rows", "group_matrix", "consensus", "leave_one_out"]

# the counting fast path (O(n * V), no sort) is used when a dimension has at most this many distinct values
_MAX_COUNT_VALUES = 64


def _from_counts(counts: np.ndarray, grid: np.ndarray, level: str) -> np.ndarray:
    """Consensus of each row of value counts (k, V) over the sorted value grid (V,)."""
    m = counts.sum(axis=1)
    out = np.full(counts.shape[0], np.nan)
    ok = m > 0
    if level in ("interval", "ratio"):
        out[ok] = (counts[ok] @ grid) / m[ok]
    elif level == "ordinal":
        # lower median: the value at sorted position (m - 1) // 2
        cum = np.cumsum(counts, axis=1)
        pos = np.argmax(cum > ((m - 1) // 2)[:, None], axis=1)
        out[ok] = grid[pos[ok]]
    elif level in ("nominal", "binary"):
        out[ok] = grid[np.argmax(counts[ok], axis=1)]   # argmax takes the first (smallest) tied value
    else:
        raise ValueError(f"unknown level '{level}'")
    return out


def _count_types(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(type code of each row, one row per type) for a non-negative integer matrix of value counts."""
    base = int(counts.max(initial=0)) + 1
    if counts.shape[1] * np.log2(max(base, 2)) < 62:
        key = counts.astype(np.int64) @ (base ** np.arange(counts.shape[1], dtype=np.int64))
        code, _ = pd.factorize(key)
    else:
        _, _, code = unique_rows(counts, return_inverse=True)
    code = np.asarray(code, dtype=np.int64)
    first = np.empty(int(code.max(initial=-1)) + 1, dtype=np.int64)
    first[code[::-1]] = np.arange(code.size - 1, -1, -1)
    return code, counts[first]


def consensus_rows(M: np.ndarray, level: str) -> np.ndarray:
    """Consensus of each row of ``M`` (k, m): k units with m ratings each."""
    if M.shape[1] == 0:
        return np.full(M.shape[0], np.nan)
    if level in ("interval", "ratio"):
        return M.mean(axis=1)
    if level == "ordinal":
        return np.sort(M, axis=1)[:, (M.shape[1] - 1) // 2]
    if level in ("nominal", "binary"):
        cnt = (M[:, :, None] == M[:, None, :]).sum(axis=2)
        best = cnt == cnt.max(axis=1, keepdims=True)
        return np.where(best, M, np.inf).min(axis=1)
    raise ValueError(f"unknown level '{level}'")


def group_matrix(units: np.ndarray, *cols: np.ndarray):
    """Yield ``(unit_ids (k,), [col matrix (k, m) for each col])`` for every group of units with m ratings.

    Within a unit, ratings keep the order of ``cols[0]`` ascending (so the rows are sorted by value).
    """
    units = np.asarray(units)
    if units.size == 0:            # no ratings: no groups (np.r_[True, ...] below would invent one)
        return
    order = np.lexsort((cols[0], units))
    u_sorted = units[order]
    starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
    counts = np.diff(np.r_[starts, u_sorted.size])
    for m in _unique(counts):
        sel = starts[counts == m]
        idx = order[sel[:, None] + np.arange(m)[None, :]]
        yield u_sorted[sel], [np.asarray(c)[idx] for c in cols]


def consensus(units: np.ndarray, values: np.ndarray, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit ids, consensus value, number of ratings) per unit, ordered by unit id."""
    units, values = np.asarray(units), np.asarray(values, dtype=float)
    grid = _unique(values)
    if units.size and grid.size <= _MAX_COUNT_VALUES:
        idx, ids = dense_codes(units)
        m = np.bincount(idx, minlength=ids.size)
        if m.max() == 1:                                   # one rating per unit: nothing to aggregate
            v = np.empty(ids.size)
            v[idx] = values
            return ids, v, m
        counts = np.bincount(idx * grid.size + np.searchsorted(grid, values),
                             minlength=ids.size * grid.size).reshape(ids.size, grid.size)
        return ids, _from_counts(counts, grid, level), m
    out_u, out_v, out_m = [], [], []
    for ids, (M,) in group_matrix(units, values):
        out_u.append(ids)
        out_v.append(consensus_rows(M, level))
        out_m.append(np.full(ids.size, M.shape[1]))
    if not out_u:
        return np.array([], dtype=units.dtype), np.array([]), np.array([], dtype=int)
    u, v, m = np.concatenate(out_u), np.concatenate(out_v), np.concatenate(out_m)
    o = np.argsort(u, kind="stable")
    return u[o], v[o], m[o]


def leave_one_out(units: np.ndarray, raters: np.ndarray, values: np.ndarray, level: str):
    """Each rating against the consensus of the other ratings of its unit (units with >= 2 ratings).

    Returns ``(unit, rater, value, others_consensus)`` arrays, one element per rating.
    """
    units, values = np.asarray(units), np.asarray(values, dtype=float)
    grid = _unique(values)
    if units.size and grid.size <= _MAX_COUNT_VALUES:
        idx, ids = dense_codes(units)
        m = np.bincount(idx, minlength=ids.size)
        vi = np.searchsorted(grid, values)
        counts = np.bincount(idx * grid.size + vi, minlength=ids.size * grid.size).reshape(ids.size, grid.size)
        keep = m[idx] >= 2
        o = np.flatnonzero(keep)
        o = o[np.lexsort((np.asarray(raters)[o], units[o]))]
        # the others' consensus depends only on (the unit's value counts, the rating's value): computed once for
        # each distinct unit row of counts and each value (rows for a value the unit lacks are never read)
        V = grid.size
        code, rows = _count_types(counts)
        others = rows[:, None, :] - np.eye(V, dtype=rows.dtype)[None, :, :]               # (types, V, V)
        table = _from_counts(others.reshape(-1, V), grid, level).reshape(rows.shape[0], V)
        return units[o], np.asarray(raters)[o], values[o], table[code[idx[o]], vi[o]]
    U, R, X, Y = [], [], [], []
    for ids, (M, Rm) in group_matrix(units, values, raters):
        m = M.shape[1]
        if m < 2:
            continue
        for j in range(m):
            others = np.delete(M, j, axis=1)
            U.append(ids)
            R.append(Rm[:, j])
            X.append(M[:, j])
            Y.append(consensus_rows(others, level))
    if not U:
        e = np.array([])
        return e.astype(np.int64), e.astype(np.int64), e, e
    return np.concatenate(U), np.concatenate(R), np.concatenate(X), np.concatenate(Y)
