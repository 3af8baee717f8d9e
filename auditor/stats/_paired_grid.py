"""The joint contingency table of paired ratings (x, y), kept sparse: one entry per *occupied* cell.

Every paired statistic is a function of the table ``T[i, j]`` = number of pairs with ``x == xv[i]`` and
``y == yv[j]``. The table is stored as counts over its T occupied cells (``cx``, ``cy`` index ``xv``, ``yv``), so
a continuous judge score against a 1-5 consensus costs O(pairs), not O(Vx * Vy); the dense (Vx, Vy) view is built
only where a statistic needs it (Kendall's tau-b).

:class:`PairedGrid` holds everything about the grid that does not change between resamples: the value axes,
the union axis (Krippendorff's alpha, Wasserstein), the category scale (kappas, exact agreement, JS divergence)
and the kappa weight positions.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import sparse

from ._arrays import unique as _unique
from ._arrays import unique_inverse as _unique_inverse

__all__ = ["PairedGrid", "tabulate_pairs"]

LEVELS = ("binary", "nominal", "ordinal", "interval", "ratio")
# a declared or observed category scale with more levels than this is not treated as categorical
MAX_CATEGORIES = 1000
# dense (Vx, Vy) tables are materialised per resample only up to this many cells (Kendall's tau-b)
MAX_DENSE_CELLS = 250_000
# cell-to-group indicator matrices are dense up to this many elements (faster), sparse above
DENSE_INDICATOR_MAX = 1_000_000


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def tabulate_pairs(x: np.ndarray, y: np.ndarray):
    """Cross-tabulate pairs. Returns ``xv, yv, cx, cy, cell, counts``.

    ``xv`` (Vx,), ``yv`` (Vy,): distinct values ascending; ``cx``, ``cy`` (T,): axis indices of the T occupied
    cells (in row-major order); ``cell`` (n,): occupied-cell index of each pair; ``counts`` (T,): pairs per cell.
    """
    xv, ix = _unique_inverse(x)
    yv, iy = _unique_inverse(y)
    n_y = yv.size
    code = ix.astype(np.int64) * n_y + iy
    n_cells = xv.size * n_y
    if n_cells <= 1 << 22:
        full = np.bincount(code, minlength=n_cells)
        occupied = np.flatnonzero(full)
        lookup = np.empty(n_cells, dtype=np.int64)
        lookup[occupied] = np.arange(occupied.size)
        cell, counts = lookup[code], full[occupied]
    else:
        occupied, cell, counts = np.unique(code, return_inverse=True, return_counts=True)
    cx, cy = np.divmod(occupied, n_y)
    return xv, yv, cx, cy, cell, counts.astype(float)


def _indicator(rows: np.ndarray, groups: np.ndarray, shape: tuple[int, int]):
    """0/1 matrix with ones at (rows, groups); ``counts @ M`` sums counts per group. Dense when small."""
    if shape[0] * shape[1] <= DENSE_INDICATOR_MAX:
        out = np.zeros(shape)
        out[rows, groups] = 1.0
        return out
    return sparse.csr_matrix((np.ones(rows.size), (rows, groups)), shape=shape)


class PairedGrid:
    """Grid of a paired table: value axes, occupied cells, union axis, category scale and kappa weights.

    Parameters
    ----------
    xv, yv : (Vx,), (Vy,) distinct values of x and y, ascending.
    cx, cy : (T,) indices into ``xv``/``yv`` of the occupied cells.
    level : level of measurement (binary, nominal, ordinal, interval, ratio).
    option_values : distinct declared option values (ascending) or None.
    kappa_weights_from : ``"options"`` or ``"observed"``.
    """

    def __init__(self, xv, yv, cx, cy, *, level: str, option_values=None, kappa_weights_from: str = "options"):
        self.xv = np.asarray(xv, dtype=float)
        self.yv = np.asarray(yv, dtype=float)
        self.cx = np.asarray(cx, dtype=np.int64)
        self.cy = np.asarray(cy, dtype=np.int64)
        self.level = level
        self.option_values = None if option_values is None else _unique(np.asarray(option_values, float))
        self.kappa_weights_from = kappa_weights_from

    # ---- sizes and per-cell values -------------------------------------------------------------------
    @property
    def n_cells(self) -> int:
        return int(self.cx.size)

    @property
    def dense_cells(self) -> int:
        return int(self.xv.size * self.yv.size)

    @cached_property
    def x_cell(self) -> np.ndarray:
        return self.xv[self.cx]

    @cached_property
    def y_cell(self) -> np.ndarray:
        return self.yv[self.cy]

    @cached_property
    def diff(self) -> np.ndarray:
        """x - y per occupied cell (the same float as x - y computed per pair)."""
        return self.x_cell - self.y_cell

    @cached_property
    def center(self) -> float:
        """A fixed shift applied to both axes before moments (pooled midpoint), for numerical stability."""
        lo = min(self.xv[0], self.yv[0])
        hi = max(self.xv[-1], self.yv[-1])
        return float((lo + hi) / 2.0)

    @cached_property
    def to_x(self):
        return _indicator(np.arange(self.n_cells), self.cx, (self.n_cells, self.xv.size))

    @cached_property
    def to_y(self):
        return _indicator(np.arange(self.n_cells), self.cy, (self.n_cells, self.yv.size))

    # ---- union axis (alpha, Wasserstein) -------------------------------------------------------------
    @cached_property
    def gv(self) -> np.ndarray:
        """(G,) distinct values of x and y together, ascending."""
        return np.union1d(self.xv, self.yv)

    @cached_property
    def gx(self) -> np.ndarray:
        return np.searchsorted(self.gv, self.xv)

    @cached_property
    def gy(self) -> np.ndarray:
        return np.searchsorted(self.gv, self.yv)

    # ---- category scale (kappas, exact agreement, JS divergence) -------------------------------------
    @cached_property
    def _categories(self):
        """(categories, reason, description). ``reason`` is set when the ratings are not categorical."""
        if self.option_values is not None:
            opts = self.option_values
            off_x = self.xv[~np.isin(self.xv, opts)]
            off_y = self.yv[~np.isin(self.yv, opts)]
            if off_x.size or off_y.size:
                parts = []
                for name, off in (("x", off_x), ("y", off_y)):
                    if off.size:
                        parts.append(f"{name} has {off.size} value(s) off the options, e.g. {_fmt(off[0])}")
                return None, ("needs both raters on the option scale (" + "; ".join(parts) + ")"), ""
            cats, desc = opts, f"{opts.size} declared options"
        else:
            cats = self.gv
            frac = cats[np.mod(cats, 1.0) != 0]
            if frac.size:
                return None, ("needs both raters on a category scale: no option_values were given and the "
                              f"ratings include non-integer values, e.g. {_fmt(frac[0])}; pass option_values to "
                              "declare the scale"), ""
            desc = f"{cats.size} observed values as categories (no option_values given)"
        if cats.size > MAX_CATEGORIES:
            return None, (f"needs a category scale, and {cats.size} distinct values are too many categories "
                          f"(limit {MAX_CATEGORIES}); declare option_values"), ""
        return cats, None, desc

    @property
    def categories(self) -> np.ndarray | None:
        return self._categories[0]

    @property
    def categorical_reason(self) -> str | None:
        """Why the ratings are not categorical (to be prefixed with the statistic: "kappa needs ..."), or None."""
        return self._categories[1]

    @property
    def categories_note(self) -> str:
        return self._categories[2]

    @cached_property
    def kx(self) -> np.ndarray:
        return np.searchsorted(self.categories, self.xv)

    @cached_property
    def ky(self) -> np.ndarray:
        return np.searchsorted(self.categories, self.yv)

    @cached_property
    def agree_cell(self) -> np.ndarray:
        """1.0 where the occupied cell has x == y."""
        return (self.x_cell == self.y_cell).astype(float)

    # ---- kappa weights --------------------------------------------------------------------------------
    @cached_property
    def _weight_scale(self):
        """(scale values, description) on whose *positions* weighted-kappa weights are computed."""
        if self.kappa_weights_from == "options" and self.option_values is not None:
            scale = self.option_values
            desc = f"weights on the positions of the {scale.size} declared option values"
        else:
            scale = self.gv
            desc = f"weights on the positions of the {scale.size} levels observed in either rater"
            if self.kappa_weights_from == "options":
                desc += " (no option_values given)"
            else:
                desc += " (as R irr::kappa2 and scikit-learn)"
        return scale, desc

    @property
    def weights_note(self) -> str:
        return self._weight_scale[1]

    def disagreement_weights(self, kind: str) -> np.ndarray | None:
        """(Vx, Vy) disagreement weights 1 - w: linear |i-j|/(k-1) or quadratic ((i-j)/(k-1))^2 on positions.

        None when the weight scale has fewer than 2 levels.
        """
        scale = self._weight_scale[0]
        k = scale.size
        if k < 2:
            return None
        px = np.searchsorted(scale, self.xv).astype(float)
        py = np.searchsorted(scale, self.yv).astype(float)
        dist = np.abs(px[:, None] - py[None, :]) / (k - 1)
        return dist if kind == "linear" else dist**2

    # ---- absolute differences (Wilcoxon) -------------------------------------------------------------
    @cached_property
    def abs_diff_groups(self):
        """(D,) distinct nonzero |x - y| ascending, and each cell's group (-1 for x == y)."""
        a = np.abs(self.diff)
        nz = a != 0
        levels, inv = np.unique(a[nz], return_inverse=True)
        group = np.full(a.size, -1, dtype=np.int64)
        group[nz] = inv
        return levels, group

    @cached_property
    def signed_rank_indicators(self):
        """(T, D) 0/1 matrices mapping cells with d > 0 (resp. d < 0) to their |d| group."""
        levels, group = self.abs_diff_groups
        out = []
        for keep in (self.diff > 0, self.diff < 0):
            out.append(_indicator(np.flatnonzero(keep), group[keep], (group.size, levels.size)))
        return tuple(out)
