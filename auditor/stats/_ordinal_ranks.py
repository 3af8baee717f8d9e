"""Ordinal Krippendorff alpha for many distinct values, evaluated for many resample weights at once.

Krippendorff's ordinal distance between values c < k is (r_k - r_c)^2 on the *mid-ranks*
r_c = sum_{g<c} n_g + n_c / 2 of the pairable values, so ordinal alpha is the interval alpha of the ranks; with
resample weights w over unit types the ranks change with every resample. List the nonzero cells (type t, value c,
count k) of the types-by-values counts once, sorted by value: the resampled count up to and including cell e is
C(e) = cumsum(w[t] k)[e], and a value occupying cells [a, b) has mid-rank (C(b) + C(a)) / 2 (C(0) = 0). Weights
and counts being integers, every C and rank is an exact float. Then

* observed disagreement D_o = sum_t w_t (2 m_t q_t - 2 s_t^2) / (m_t - 1), with s_t and q_t the count-weighted
  sum and sum of squares of the ranks of type t's cells, taken relative to its first cell (the within-type spread
  does not depend on that shift, and the numbers stay small);
* expected disagreement D_e = 2 n sum_c n_c (r_c - n/2)^2 = n (n^3 - sum_c n_c^3) / 6: the ranks split [0, n]
  into intervals of length n_c around r_c, and sum_c n_c (r_c - n/2)^2 + sum_c n_c^3 / 12 = int_0^n (x - n/2)^2 dx.
  Without ties n_c is the weight of one cell's type, so sum_c n_c^3 = sum_t m_t w_t^3.

Per resample that is one gather of the cell weights, one cumulative sum and one gather of C into the cells of each
type (types grouped by their number of cells), with no (resamples x values) marginals and no sparse products. Two
resamples travel together as the real and imaginary parts of one complex array: gathers and sums move both at
once.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["OrdinalRanks"]


_SHIFT = 2.0**26      # two resamples share one float as a + b * 2^26 while every packed count stays below 2^26
_LANE_ROWS = np.array([0, 2, 1, 3])   # packed lanes (low re, low im, high re, high im) are weight rows 0, 2, 1, 3


class OrdinalRanks:
    """The parts of ordinal alpha for weights over unit types.

    ``counts`` (T, V) sparse or dense counts of each distinct value per type, ``m`` (T,) ratings per type. Only
    pairable types (``m >= 2``) count. :meth:`parts` maps (b, T) weights to the (b,) totals ``n``, ``d_o``,
    ``d_e`` over the pairable types.
    """

    def __init__(self, counts, m: np.ndarray):
        m_all = np.asarray(m, dtype=float)
        pairable = np.flatnonzero(m_all >= 2)
        coo = sparse.coo_matrix(sparse.csr_matrix(counts)[pairable])
        order = np.lexsort((coo.row, coo.col))                   # cells sorted by value, then type
        t = coo.row[order].astype(np.intp)
        c = coo.col[order]
        k = coo.data[order].astype(float)
        E = t.size
        m = m_all[pairable]
        T = m.size
        first = np.ones(E, dtype=bool)
        first[1:] = c[1:] != c[:-1]
        start = np.flatnonzero(first)
        size = np.diff(np.append(start, E))
        group = np.cumsum(first) - 1
        hi = (start + size)[group]                               # cell e's value spans cells [lo, hi)
        lo = start[group]
        ties = bool(np.any(size > 1))
        counted = not np.all(k == 1)
        self.mid = ties or counted   # else the cells of a type all weigh w_t: C is its rank up to a shift
        # types renumbered: grouped by their number of cells, then by their lowest value (nearby gathers)
        n_cells = np.bincount(t, minlength=T)
        lowest = np.full(T, E)
        np.minimum.at(lowest, t, np.arange(E))
        perm = np.lexsort((lowest, n_cells)).astype(np.intp)     # new type i is pairable type perm[i]
        new_id = np.empty(T, dtype=np.intp)
        new_id[perm] = np.arange(T)
        t = new_id[t]
        self.m = np.where(m_all >= 2, m_all, 0.0)              # (all types) pairable ratings per type
        self.perm = pairable[perm]                               # new type i is the caller's type self.perm[i]
        self.cell_type = t
        self.cell_count = k if counted else None
        # sum_c n_c^3: values held by one cell give (w_t k)^3; tied values are summed from C at their ends
        single = (size == 1)[group]
        self.cube_single = np.zeros(m_all.size)                  # by the caller's types
        self.cube_single[pairable] = np.bincount(t[single], weights=k[single] ** 3, minlength=T)[new_id]
        tied = size > 1
        self.tied_hi, self.tied_lo = start[tied] + size[tied], start[tied]
        # the cells of each type in value order, as (cells, types); a type with one cell has no spread
        by_type = np.argsort(t, kind="stable")
        # laid out in one flat buffer, group after group as (j, types) blocks: cell e is written to dest[e]
        # (a scatter of the value-ordered ranks costs less than gathering them); one-cell types go to a last slot
        n_cells = n_cells[perm]
        row_start = np.concatenate([[0], np.cumsum(n_cells)[:-1]])
        self.groups = []
        offset = 0
        dest = np.empty(E, dtype=np.intp)
        for j in np.unique(n_cells[n_cells > 1]):
            types = np.flatnonzero(n_cells == j)
            cells = by_type[row_start[types][None, :] + np.arange(j)[:, None]]      # (j, types)
            dest[cells] = offset + np.arange(cells.size).reshape(cells.shape)
            mm = self.m[self.perm[types]]
            self.groups.append((slice(int(types[0]), int(types[-1]) + 1), slice(offset, offset + cells.size),
                                cells.shape, k[cells[1:]] if counted else None, mm, 2.0 / (mm - 1.0)))
            offset += cells.size
        dest[n_cells[t] == 1] = offset
        self.dest = dest
        self.flat_size = offset + 1
        self.hi, self.lo = (hi, lo) if self.mid else (None, None)
        self._work = None

    def parts(self, W: np.ndarray):
        """(n, d_o, d_e), each (b,), for weights ``W`` (b, T) over the types."""
        W = np.asarray(W, dtype=float)
        b, T = W.shape
        if T != self.m.size:
            raise ValueError(f"expected weights over {self.m.size} types, got {T}")
        n = np.einsum("bt,t->b", W, self.m)                     # einsum, not BLAS: no thread start-up per call
        cubes = np.einsum("bt,bt,bt,t->b", W, W, W, self.cube_single)
        # four resamples per complex number when the packed counts fit, else two
        rank_max = (2.0 if self.mid else 1.0) * float(self.m.max(initial=0.0)) * float(n.max(initial=0.0))
        shift = _SHIFT if rank_max < _SHIFT else 0.0
        lanes = 4 if shift else 2
        order = _LANE_ROWS if shift else slice(None)               # lane -> weight row
        d_o = np.zeros(-(-b // lanes) * lanes)
        work = self._work
        if work is None:
            work = self._work = _Work(self, T)
        for i in range(0, b, lanes):
            rows = W[i:i + lanes] if i + lanes <= b else np.vstack([W[i:], np.zeros((i + lanes - b, T))])
            _pack(rows, shift, work.packed, work.row)
            w = np.take(work.packed, self.perm, out=work.w)
            ws = np.take(w, self.cell_type, out=work.ws)
            if self.cell_count is not None:
                ws *= self.cell_count
            np.cumsum(ws, out=ws if self.hi is None else work.cum[1:])
            if self.hi is None:                                  # C at each cell, or twice its mid-rank
                work.flat[self.dest] = ws
            else:
                work.flat[self.dest] = np.take(work.cum, self.hi) + np.take(work.cum, self.lo)
            d_o[i:i + lanes][order] = self._observed(work, shift)
            if self.tied_hi.size:
                marg = _unpack(work.cum[self.tied_hi] - work.cum[self.tied_lo], shift)  # (lanes, tied values)
                tied = np.zeros(lanes)
                tied[order] = np.einsum("le,le,le->l", marg, marg, marg)
                cubes[i:i + lanes] += tied[: b - i]
        d_o = d_o[:b]
        if self.mid:
            d_o /= 4.0                                           # ranks were doubled: C(hi) + C(lo) = 2 r
        d_e = n * (n**3 - cubes) / 6.0
        return n, d_o, d_e

    def _observed(self, work: "_Work", shift: float) -> np.ndarray:
        """D_o for the lanes packed in ``work.w`` (weights) and ``work.cum`` (cumulative counts)."""
        out = 0.0
        for (span, cells, shape, kk, m, coef), lane_buf in zip(self.groups, work.lanes):
            g = work.flat[cells].reshape(shape)
            d = g[1:]
            d -= g[0]                                            # relative to the type's lowest cell: >= 0
            if kk is None:
                s = _unpack(d.sum(axis=0), shift)                                       # (lanes, types)
                x = _unpack(d, shift, lane_buf)                                         # (lanes, j - 1, types)
                q = np.einsum("ljt,ljt->lt", x, x)
            else:
                s = _unpack(np.einsum("jt,jt->t", kk, d), shift)
                x = _unpack(d, shift, lane_buf)
                q = np.einsum("jt,ljt,ljt->lt", kk, x, x)
            q *= m
            q -= s * s
            out = out + np.einsum("lt,lt,t->l", _unpack(work.w[span], shift), q, coef)
        return out


class _Work:
    """Buffers reused across the lanes of one :meth:`OrdinalRanks.parts` call (fresh large arrays cost page
    faults)."""

    def __init__(self, model: OrdinalRanks, T: int):
        E = model.cell_type.size
        self.packed = np.empty(T, dtype=complex)
        self.row = np.empty(T)
        self.w = np.empty(model.perm.size, dtype=complex)
        self.ws = np.empty(E, dtype=complex)
        self.cum = np.zeros(E + 1, dtype=complex)
        self.flat = np.zeros(model.flat_size, dtype=complex)
        self.lanes = [np.empty((4, shape[0] - 1, shape[1])) for _, _, shape, *_ in model.groups]


def _pack(rows: np.ndarray, shift: float, out: np.ndarray, buf: np.ndarray) -> None:
    """Write two (shift = 0) or four weight rows into the real and imaginary parts of ``out``."""
    parts = out.view(float).reshape(-1, 2)
    if not shift:
        parts[:, 0], parts[:, 1] = rows[0], rows[1]
        return
    for j in (0, 1):                                             # integer sums below 2^53: exact
        np.multiply(rows[2 * j + 1], shift, out=buf)
        buf += rows[2 * j]
        parts[:, j] = buf


def _unpack(z: np.ndarray, shift: float, buf: np.ndarray | None = None) -> np.ndarray:
    """(lanes, ...) exact integers from complex ``z`` holding two (shift = 0) or four packed lanes.

    Lane order is (low real, low imaginary, high real, high imaginary) = weight rows (0, 2, 1, 3) of :func:`_pack`.
    """
    x = np.moveaxis(z.view(float).reshape(z.shape + (2,)), -1, 0)                        # (2, ...)
    if not shift:
        return x
    out = np.empty((4,) + z.shape) if buf is None else buf
    hi, lo = out[2:], out[:2]
    np.multiply(x, 1.0 / shift, out=hi)
    np.floor(hi, out=hi)
    np.multiply(hi, shift, out=lo)
    np.subtract(x, lo, out=lo)
    return out
