"""Paired statistics as functions of the joint contingency table, vectorised over resamples.

Every function registered here has the signature ``func(tb: TableBatch) -> ndarray (m,)``: ``tb.counts`` is an
(m, T) array, row r holding the counts of the T occupied cells of resample r's table (``tb.grid`` says which
(x, y) value each cell is); ``tb.dense()`` gives the (m, Vx, Vy) tables. A function returns NaN where its
statistic is undefined for that table; ``why(tb)`` (registered as ``extra["why"]``) explains a NaN at the point
estimate, and ``precheck(grid)`` (``extra["precheck"]``) names reasons that hold for the whole grid (ratings off
the category scale, too many distinct values).

The statistics read their inputs like this: x is the rater under audit (an LLM judge), y the reference (the
per-unit human consensus); ``d = x - y``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ._alpha import alpha_from_coincidence, distance_matrix
from ._paired_grid import MAX_DENSE_CELLS, PairedGrid
from ._registry import register

__all__ = ["STAT_NAMES", "TableBatch"]

CATEGORICAL = ("binary", "nominal", "ordinal", "interval", "ratio")
NOT_NOMINAL = ("binary", "ordinal", "interval", "ratio")
ORDERED = ("ordinal", "interval", "ratio")

# alpha through dense (m, G, G) coincidence matrices (alpha_from_coincidence) up to this many distinct values;
# above it the algebraically identical decomposed form (O(cells + G) per resample) is used
ALPHA_COINCIDENCE_MAX_VALUES = 100
# ratio alpha's expected disagreement needs a (G, G) distance matrix: not computed above this many values
RATIO_ALPHA_MAX_VALUES = 4000
# dense tables are built in blocks of at most this many elements (Kendall's tau-b)
DENSE_BLOCK_ELEMENTS = 4_000_000
# |x - y| <= 1 counts as adjacent, with this tolerance for floating-point values such as 1.1 - 0.1
ADJACENT_TOL = 1e-9


class TableBatch:
    """Joint (x, y) contingency tables of m resamples over a :class:`PairedGrid`.

    ``counts`` (m, T): counts of the grid's T occupied cells. Marginals and moments are computed once and cached,
    so computing several statistics from one batch shares the work.
    """

    def __init__(self, counts: np.ndarray, grid: PairedGrid):
        self.counts = np.atleast_2d(np.asarray(counts, dtype=float))
        self.grid = grid

    @property
    def m(self) -> int:
        return self.counts.shape[0]

    @cached_property
    def n(self) -> np.ndarray:
        """(m,) number of pairs."""
        return self.counts.sum(axis=1)

    @cached_property
    def px(self) -> np.ndarray:
        """(m, Vx) marginal counts of x."""
        return np.asarray(self.counts @ self.grid.to_x)

    @cached_property
    def py(self) -> np.ndarray:
        """(m, Vy) marginal counts of y."""
        return np.asarray(self.counts @ self.grid.to_y)

    @cached_property
    def x_varies(self) -> np.ndarray:
        return (self.px > 0).sum(axis=1) >= 2

    @cached_property
    def y_varies(self) -> np.ndarray:
        return (self.py > 0).sum(axis=1) >= 2

    def cell_mean(self, v: np.ndarray) -> np.ndarray:
        """(m,) mean over pairs of a per-cell quantity ``v`` (T,)."""
        return (self.counts @ v) / self.n

    def on_union(self, marg: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
        """Scatter marginals (m, V) onto a larger axis of ``size`` at distinct positions ``index``."""
        out = np.zeros((self.m, size))
        out[:, index] = marg
        return out

    @cached_property
    def moments(self):
        """(mx, my, Sxx, Syy, Sxy): means and centred sums of squares/products (two-pass, per resample)."""
        g = self.grid
        xc, yc = g.xv - g.center, g.yv - g.center
        mx = (self.px @ xc) / self.n
        my = (self.py @ yc) / self.n
        sxx = (self.px * (xc[None, :] - mx[:, None]) ** 2).sum(axis=1)
        syy = (self.py * (yc[None, :] - my[:, None]) ** 2).sum(axis=1)
        sxy = (self.counts * (xc[g.cx][None, :] - mx[:, None]) * (yc[g.cy][None, :] - my[:, None])).sum(axis=1)
        return mx, my, sxx, syy, sxy

    @cached_property
    def midranks(self):
        """(rx (m, Vx), ry (m, Vy)): 1-based midranks of each value within its rater, per resample."""
        rx = np.cumsum(self.px, axis=1) - (self.px - 1.0) / 2.0
        ry = np.cumsum(self.py, axis=1) - (self.py - 1.0) / 2.0
        return rx, ry

    def dense(self, rows: slice = slice(None)) -> np.ndarray:
        """(m', Vx, Vy) dense tables of the resamples in ``rows``."""
        g = self.grid
        c = self.counts[rows]
        out = np.zeros((c.shape[0], g.xv.size * g.yv.size))
        out[:, g.cx * g.yv.size + g.cy] = c
        return out.reshape(c.shape[0], g.xv.size, g.yv.size)


# ---------------------------------------------------------------------------------------------------------
# reasons for NaN
# ---------------------------------------------------------------------------------------------------------

def _values(v: np.ndarray) -> str:
    return ", ".join(f"{a:.6g}" for a in v[:3]) + (", ..." if v.size > 3 else "")


def _constant_reason(tb: TableBatch, what: str) -> str:
    g = tb.grid
    if tb.n[0] < 2:
        return f"fewer than 2 pairs: {what} undefined"
    xs, ys = g.xv[tb.px[0] > 0], g.yv[tb.py[0] > 0]
    if not tb.x_varies[0] and not tb.y_varies[0]:
        return f"both raters are constant (x = {_values(xs)}, y = {_values(ys)}): {what} undefined"
    if not tb.x_varies[0]:
        return f"x is constant (all {_values(xs)}): {what} undefined"
    if not tb.y_varies[0]:
        return f"y is constant (all {_values(ys)}): {what} undefined"
    return f"{what} undefined for these data"


def _why_corr(tb):
    return _constant_reason(tb, "correlation")


def _why_kappa(tb):
    cats = tb.grid.xv[tb.px[0] > 0]
    if not tb.x_varies[0] and not tb.y_varies[0]:
        return (f"both raters used only the category {_values(cats)}: chance agreement is 1 and kappa is "
                "undefined")
    return "chance agreement is 1: kappa undefined"


def _why_alpha(tb):
    g = tb.grid
    if 2 * tb.n[0] < 2:
        return "fewer than 2 pairable values"
    vals = np.union1d(g.xv[tb.px[0] > 0], g.yv[tb.py[0] > 0])
    return f"no variation: every rating is {_values(vals)} (expected disagreement 0), alpha undefined"


def _why_variance_ratio(tb):
    if tb.n[0] < 1:
        return "no pairs"
    return f"y is constant (all {_values(tb.grid.yv[tb.py[0] > 0])}): variance ratio undefined"


def _why_icc(tb):
    return _constant_reason(tb, "ICC")


def _categorical(label: str):
    """precheck(grid) for a statistic of categories: ``"<label> needs both raters on the option scale ..."``."""

    def precheck(grid: PairedGrid):
        return f"{label} {grid.categorical_reason}" if grid.categorical_reason else None

    return precheck


def _weighted_precheck(grid: PairedGrid):
    if grid.categorical_reason:
        return f"kappa {grid.categorical_reason}"
    if grid.disagreement_weights("linear") is None:
        return "fewer than 2 levels on the kappa weight scale"
    return None


def _alpha_precheck(grid: PairedGrid):
    if grid.level in ("nominal", "binary") and grid.categorical_reason:
        return f"{grid.level} alpha {grid.categorical_reason}"
    if grid.level == "ratio" and grid.gv.size > RATIO_ALPHA_MAX_VALUES:
        return (f"ratio alpha over {grid.gv.size} distinct values is not computed (its expected disagreement "
                f"needs a G x G distance matrix; limit {RATIO_ALPHA_MAX_VALUES}); use level='interval'")
    return None


# ---------------------------------------------------------------------------------------------------------
# agreement: alpha, kappas, AC1, exact / adjacent agreement
# ---------------------------------------------------------------------------------------------------------

@register("krippendorff_alpha", kind="paired", levels=CATEGORICAL, symmetric=True, higher_is_better=True,
          maximum=1.0, why=_why_alpha, precheck=_alpha_precheck)
def krippendorff_alpha(tb: TableBatch) -> np.ndarray:
    """Krippendorff's alpha at the level, from the coincidence matrix o = T + T' over the union value grid.

    1 = perfect agreement, 0 = agreement at chance (the pooled value distribution), < 0 = systematic
    disagreement. Two raters, no missing values.
    """
    g = tb.grid
    size = g.gv.size
    nc = tb.on_union(tb.px, g.gx, size) + tb.on_union(tb.py, g.gy, size)      # (m, G) pooled value counts
    n = 2.0 * tb.n
    varied = (nc > 0).sum(axis=1) >= 2
    gxc, gyc = g.gx[g.cx], g.gy[g.cy]
    if size <= ALPHA_COINCIDENCE_MAX_VALUES:
        o = np.zeros((tb.m, size * size))
        o[:, gxc * size + gyc] = tb.counts
        o = o.reshape(tb.m, size, size)
        a = alpha_from_coincidence(o + np.swapaxes(o, 1, 2), g.gv, g.level)
        return np.where(varied, a, np.nan)
    # decomposed form, algebraically equal to alpha_from_coincidence for two raters without missing values:
    # sum(o * delta) = 2 sum_cells T delta(x, y); for the interval (and, on midranks, ordinal) metric
    # sum_ck n_c n_k delta_ck = 2 n sum_c n_c (v_c - mean)^2.
    level = g.level
    if level in ("nominal", "binary"):
        d_o = 2.0 * (tb.counts @ (1.0 - g.agree_cell))
        d_e = n**2 - (nc**2).sum(axis=1)
    elif level in ("interval", "ordinal"):
        if level == "interval":
            v = np.broadcast_to(g.gv - g.center, nc.shape)
        else:   # Krippendorff's ordinal metric = squared distance between m_g = cum_g - n_g / 2
            v = np.cumsum(nc, axis=1) - nc / 2.0
        d_cell = v[:, gxc] - v[:, gyc]
        d_o = 2.0 * (tb.counts * d_cell**2).sum(axis=1)
        mean = (nc * v).sum(axis=1) / n
        d_e = 2.0 * n * (nc * (v - mean[:, None]) ** 2).sum(axis=1)
    else:  # ratio
        if size > RATIO_ALPHA_MAX_VALUES:
            return np.full(tb.m, np.nan)
        delta = distance_matrix(g.gv, "ratio")
        s = g.x_cell + g.y_cell
        with np.errstate(invalid="ignore", divide="ignore"):
            d_cell = np.where(s == 0, 0.0, (g.diff / s) ** 2)
        d_o = 2.0 * (tb.counts @ d_cell)
        d_e = ((nc @ delta) * nc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 1.0 - (n - 1.0) * d_o / d_e
    return np.where(varied & (d_e > 0) & (n > 1), a, np.nan)


def _category_marginals(tb: TableBatch):
    g = tb.grid
    k = g.categories.size
    return tb.on_union(tb.px, g.kx, k), tb.on_union(tb.py, g.ky, k)


@register("cohen_kappa", kind="paired", levels=CATEGORICAL, symmetric=True, higher_is_better=True, maximum=1.0,
          why=_why_kappa, precheck=_categorical("kappa"), categorical=True)
def cohen_kappa(tb: TableBatch) -> np.ndarray:
    """Cohen's kappa (p_o - p_e) / (1 - p_e): 1 perfect, 0 chance (each rater's own marginals), < 0 worse."""
    fx, fy = _category_marginals(tb)
    p_o = tb.cell_mean(tb.grid.agree_cell)
    p_e = (fx * fy).sum(axis=1) / tb.n**2
    with np.errstate(invalid="ignore", divide="ignore"):
        k = (p_o - p_e) / (1.0 - p_e)
    return np.where(1.0 - p_e > 1e-12, k, np.nan)


def _weighted_kappa(tb: TableBatch, kind: str) -> np.ndarray:
    g = tb.grid
    w = g.disagreement_weights(kind)                     # (Vx, Vy) disagreement weights 1 - w_ij
    if w is None:
        return np.full(tb.m, np.nan)
    observed = tb.cell_mean(w[g.cx, g.cy])
    expected = ((tb.px @ w) * tb.py).sum(axis=1) / tb.n**2
    with np.errstate(invalid="ignore", divide="ignore"):
        k = 1.0 - observed / expected
    return np.where(expected > 1e-12, k, np.nan)


@register("weighted_kappa_linear", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True,
          maximum=1.0, why=_why_kappa, precheck=_weighted_precheck, categorical=True, weighted=True)
def weighted_kappa_linear(tb: TableBatch) -> np.ndarray:
    """Cohen's kappa with linear agreement weights 1 - |i - j| / (k - 1) on category positions."""
    return _weighted_kappa(tb, "linear")


@register("weighted_kappa_quadratic", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True,
          maximum=1.0, why=_why_kappa, precheck=_weighted_precheck, categorical=True, weighted=True)
def weighted_kappa_quadratic(tb: TableBatch) -> np.ndarray:
    """Cohen's kappa with quadratic agreement weights 1 - ((i - j) / (k - 1))^2 on category positions."""
    return _weighted_kappa(tb, "quadratic")


@register("gwet_ac1", kind="paired", levels=CATEGORICAL, symmetric=True, higher_is_better=True, maximum=1.0,
          precheck=_categorical("AC1"), categorical=True)
def gwet_ac1(tb: TableBatch) -> np.ndarray:
    """Gwet's AC1 for two raters: (p_a - p_e) / (1 - p_e), p_e = sum_k pi_k (1 - pi_k) / (K - 1).

    1 perfect, 0 chance; unlike kappa it stays high when one category dominates (the kappa paradox).
    """
    fx, fy = _category_marginals(tb)
    k = fx.shape[1]
    if k < 2:
        return np.full(tb.m, np.nan)
    pi = (fx + fy) / (2.0 * tb.n[:, None])
    p_e = (pi * (1.0 - pi)).sum(axis=1) / (k - 1)
    p_a = tb.cell_mean(tb.grid.agree_cell)
    return (p_a - p_e) / (1.0 - p_e)


@register("exact_agreement", kind="paired", levels=CATEGORICAL, symmetric=True, higher_is_better=True,
          maximum=1.0, precheck=_categorical("exact agreement"), categorical=True)
def exact_agreement(tb: TableBatch) -> np.ndarray:
    """Share of pairs with x == y (percent agreement; not chance-corrected)."""
    return tb.cell_mean(tb.grid.agree_cell)


@register("adjacent_agreement", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True,
          maximum=1.0)
def adjacent_agreement(tb: TableBatch) -> np.ndarray:
    """Share of pairs with |x - y| <= 1 on the value axis (within one point of a 1-step Likert scale)."""
    return tb.cell_mean((np.abs(tb.grid.diff) <= 1.0 + ADJACENT_TOL).astype(float))


# ---------------------------------------------------------------------------------------------------------
# association: Pearson, Spearman, Kendall tau-b, ICC(A,1)
# ---------------------------------------------------------------------------------------------------------

def _corr(sxx, syy, sxy, ok):
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


@register("pearson", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True, maximum=1.0,
          why=_why_corr)
def pearson(tb: TableBatch) -> np.ndarray:
    """Pearson's r from the table's moments: 1 perfect linear association, 0 none; blind to bias and scale."""
    _, _, sxx, syy, sxy = tb.moments
    return _corr(sxx, syy, sxy, tb.x_varies & tb.y_varies)


@register("spearman", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True, maximum=1.0,
          why=_why_corr)
def spearman(tb: TableBatch) -> np.ndarray:
    """Spearman's rho: Pearson's r on midranks (ties averaged), ranks recomputed from each resample's marginals."""
    g = tb.grid
    rx, ry = tb.midranks
    mean = ((tb.n + 1.0) / 2.0)[:, None]
    ax, ay = rx - mean, ry - mean
    sxx = (tb.px * ax**2).sum(axis=1)
    syy = (tb.py * ay**2).sum(axis=1)
    sxy = (tb.counts * ax[:, g.cx] * ay[:, g.cy]).sum(axis=1)
    return _corr(sxx, syy, sxy, tb.x_varies & tb.y_varies)


def _sign_matrix(k: int) -> np.ndarray:
    """(k, k) matrix sign(a - b)."""
    i = np.arange(k)
    return np.sign(i[:, None] - i[None, :]).astype(float)


def _kendall_dense(t: np.ndarray) -> np.ndarray:
    """P - Q (concordant minus discordant pairs) for dense tables t (m, Vx, Vy).

    With H[i, j] = sum_j' T[i, j'] sign(j' - j), P - Q = sum_{i' > i} sum_j T[i, j] H[i', j]: one product with a
    sign matrix along the short axis and one cumulative sum along the long one (O(Vx * Vy * min(Vx, Vy, 16))).
    """
    _, vx, vy = t.shape
    if vy <= 16 and vy <= vx:
        h = t @ _sign_matrix(vy)                             # sign over y within each x row
        c = np.cumsum(t, axis=1)                             # rows i <= i'
        return np.einsum("mij,mij->m", h[:, 1:, :], c[:, :-1, :])
    if vx <= 16:
        h = -(_sign_matrix(vx) @ t)                          # h[i, j] = sum_i' T[i', j] sign(i' - i)
        c = np.cumsum(t, axis=2)
        return np.einsum("mij,mij->m", h[:, :, 1:], c[:, :, :-1])
    # both axes long: H by cumulative sums along y, then suffix sums along x
    cy = np.cumsum(t, axis=2)
    h = cy[:, :, -1:] - 2.0 * cy + t                         # sum_{j' > j} T - sum_{j' < j} T
    cx = np.cumsum(h, axis=1)
    return np.einsum("mij,mij->m", t, cx[:, -1:, :] - cx)


@register("kendall_tau_b", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True, maximum=1.0,
          why=_why_corr, dense=True)
def kendall_tau_b(tb: TableBatch) -> np.ndarray:
    """Kendall's tau-b = (P - Q) / sqrt((n0 - n1)(n0 - n2)), concordant/discordant counts over the table."""
    g = tb.grid
    cells = g.dense_cells
    if cells > MAX_DENSE_CELLS:
        return np.full(tb.m, np.nan)
    step = max(1, DENSE_BLOCK_ELEMENTS // cells)
    s = np.concatenate([_kendall_dense(tb.dense(slice(i, i + step))) for i in range(0, tb.m, step)])
    n0 = tb.n * (tb.n - 1.0) / 2.0
    n1 = (tb.px * (tb.px - 1.0)).sum(axis=1) / 2.0
    n2 = (tb.py * (tb.py - 1.0)).sum(axis=1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt((n0 - n1) * (n0 - n2))
    return np.where(tb.x_varies & tb.y_varies, np.clip(tau, -1.0, 1.0), np.nan)


@register("icc", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=True, maximum=1.0,
          why=_why_icc)
def icc(tb: TableBatch) -> np.ndarray:
    """ICC(A,1), two-way random effects, absolute agreement, single rater (McGraw & Wong 1996) on [x, y].

    1 = identical ratings, 0 = no agreement beyond noise; penalises bias (x - y offsets), unlike Pearson.
    """
    mx, my, sxx, syy, sxy = tb.moments
    n = tb.n
    with np.errstate(invalid="ignore", divide="ignore"):
        msr = (0.5 * (sxx + syy) + sxy) / (n - 1.0)        # between targets
        mse = (0.5 * (sxx + syy) - sxy) / (n - 1.0)        # residual
        msc = n * (mx - my) ** 2 / 2.0                      # between the two raters (df 1)
        den = msr + mse + 2.0 * (msc - mse) / n
        v = (msr - mse) / den
    return np.where((n >= 2) & (tb.x_varies | tb.y_varies) & (den > 0), v, np.nan)


# ---------------------------------------------------------------------------------------------------------
# error and bias
# ---------------------------------------------------------------------------------------------------------

@register("mae", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=False, maximum=0.0)
def mae(tb: TableBatch) -> np.ndarray:
    """Mean absolute error mean |x - y| (in scale points; 0 = identical)."""
    return tb.cell_mean(np.abs(tb.grid.diff))


@register("rmse", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=False, maximum=0.0)
def rmse(tb: TableBatch) -> np.ndarray:
    """Root mean squared error sqrt(mean (x - y)^2) (scale points; weighs large misses more than MAE)."""
    return np.sqrt(tb.cell_mean(tb.grid.diff**2))


@register("mean_diff", kind="paired", levels=NOT_NOMINAL, symmetric=False, higher_is_better=None, maximum=0.0)
def mean_diff(tb: TableBatch) -> np.ndarray:
    """Mean signed difference mean(x - y): > 0 the rater is more lenient than the reference, < 0 harsher."""
    return tb.cell_mean(tb.grid.diff)


@register("leniency_rate", kind="paired", levels=NOT_NOMINAL, symmetric=False, higher_is_better=None,
          maximum=0.0)
def leniency_rate(tb: TableBatch) -> np.ndarray:
    """P(x > y): share of pairs where the rater scores above the reference."""
    return tb.cell_mean((tb.grid.diff > 0).astype(float))


@register("severity_rate", kind="paired", levels=NOT_NOMINAL, symmetric=False, higher_is_better=None,
          maximum=0.0)
def severity_rate(tb: TableBatch) -> np.ndarray:
    """P(x < y): share of pairs where the rater scores below the reference."""
    return tb.cell_mean((tb.grid.diff < 0).astype(float))


@register("variance_ratio", kind="paired", levels=ORDERED, symmetric=False, higher_is_better=None, maximum=1.0,
          why=_why_variance_ratio)
def variance_ratio(tb: TableBatch) -> np.ndarray:
    """var(x) / var(y): < 1 the rater compresses the scale (central tendency, range restriction), > 1 spreads."""
    _, _, sxx, syy, _ = tb.moments
    with np.errstate(invalid="ignore", divide="ignore"):
        v = sxx / syy
    return np.where(tb.y_varies, np.where(tb.x_varies, v, 0.0), np.nan)


@register("wilcoxon", kind="paired", levels=ORDERED, symmetric=False, higher_is_better=None, maximum=0.0)
def wilcoxon(tb: TableBatch) -> np.ndarray:
    """Matched-pairs rank-biserial correlation (Kerby 2014) of d = x - y: (W+ - W-) / (W+ + W-).

    Ranks of |d| over the nonzero differences (ties averaged, zeros dropped as in scipy's ``wilcox``).
    +1: every nonzero difference favours x (lenient), -1: every one favours y, 0: balanced. All differences
    zero gives 0 by convention (no shift), and the note says so.
    """
    g = tb.grid
    levels, _ = g.abs_diff_groups
    if levels.size == 0:
        return np.zeros(tb.m)
    pos, neg = g.signed_rank_indicators
    w_pos = np.asarray(tb.counts @ pos)
    w_neg = np.asarray(tb.counts @ neg)
    c = w_pos + w_neg
    ranks = np.cumsum(c, axis=1) - (c - 1.0) / 2.0
    rp = (w_pos * ranks).sum(axis=1)
    rm = (w_neg * ranks).sum(axis=1)
    s = rp + rm
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, (rp - rm) / s, 0.0)


# ---------------------------------------------------------------------------------------------------------
# distribution shift
# ---------------------------------------------------------------------------------------------------------

@register("wasserstein", kind="paired", levels=ORDERED, symmetric=True, higher_is_better=False, maximum=0.0)
def wasserstein(tb: TableBatch) -> np.ndarray:
    """1-D Wasserstein (earth mover's) distance between the x and y marginals, in scale points.

    Ignores pairing: 0 = the rater uses the scale like the reference overall, even if it disagrees per unit.
    """
    g = tb.grid
    size = g.gv.size
    fx = np.cumsum(tb.on_union(tb.px, g.gx, size), axis=1)
    fy = np.cumsum(tb.on_union(tb.py, g.gy, size), axis=1)
    gaps = np.diff(g.gv)
    return (np.abs(fx - fy)[:, :-1] * gaps).sum(axis=1) / tb.n


@register("js_divergence", kind="paired", levels=CATEGORICAL, symmetric=True, higher_is_better=False,
          maximum=0.0, precheck=_categorical("JS divergence"), categorical=True)
def js_divergence(tb: TableBatch) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between the x and y option distributions.

    0 = same option histogram, 1 = disjoint supports. Ignores pairing and the order of options.
    """
    fx, fy = _category_marginals(tb)
    p = fx / tb.n[:, None]
    q = fy / tb.n[:, None]
    mid = (p + q) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        kp = np.where(p > 0, p * np.log2(p / mid), 0.0).sum(axis=1)
        kq = np.where(q > 0, q * np.log2(q / mid), 0.0).sum(axis=1)
    return np.clip((kp + kq) / 2.0, 0.0, 1.0)


STAT_NAMES = (
    "krippendorff_alpha", "cohen_kappa", "weighted_kappa_linear", "weighted_kappa_quadratic", "gwet_ac1",
    "pearson", "spearman", "kendall_tau_b", "exact_agreement", "adjacent_agreement", "mae", "rmse", "mean_diff",
    "leniency_rate", "severity_rate", "wasserstein", "js_divergence", "variance_ratio", "wilcoxon", "icc",
)
