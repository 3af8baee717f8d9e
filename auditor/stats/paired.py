"""Paired statistics: one rater's per-unit score x against a reference y, with unit-bootstrap intervals.

Typical use: x = an LLM judge's score per conversation, y = the human consensus on the same conversation; or, for
the human ceiling, x = one human and y = the mean of the other humans, several pairs per conversation.

Design
------
Every statistic here is a function of the joint contingency table of (x, y) over the grid of distinct values
(``_paired_grid``). A resampling unit contributes its cells to the table, so a bootstrap resample is a multinomial
draw of *unit types* and every statistic is evaluated on a batch of tables at once (``_paired_table``,
``_paired_boot``): no Python loop over resamples or units.

Registry
--------
Each statistic is registered with ``auditor.stats._registry.register(name, kind="paired", ...)``. The registered
function has the signature ``func(tb: TableBatch) -> ndarray (m,)`` where ``tb.counts`` (m, T) holds m tables as
counts over the T occupied cells of ``tb.grid`` (a :class:`~auditor.stats._paired_grid.PairedGrid`), ``tb.dense()``
the same tables as (m, Vx, Vy), and ``tb.px``, ``tb.py``, ``tb.moments``, ``tb.midranks`` cached marginals and
moments. ``spec.extra`` may hold ``why(tb)`` (the reason for a NaN at the point estimate), ``precheck(grid)``
(a reason that holds for the whole grid), ``categorical`` (needs a category scale), ``weighted`` (kappa weights)
and ``dense`` (needs dense tables).

Sizes and thresholds
--------------------
* Resamples are evaluated in chunks of at most ``_paired_boot.CHUNK_ELEMENTS`` (4M) working elements.
* Kendall's tau-b needs dense (Vx, Vy) tables: above ``MAX_DENSE_CELLS`` (250k) dense cells it gets scipy's
  point estimate and a Fieller Fisher-z interval instead of the bootstrap.
* Above ``MAX_TABLE_CELLS`` (50k) *occupied* cells (continuous scores on many pairs) the table bootstrap is
  replaced as described in ``_paired_continuous``: moment statistics bootstrapped from per-unit moment sums,
  Spearman/Kendall with analytic intervals, other rank statistics as point estimates; the note names the method.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from . import _dist
from ._lazy import scipy_stats as _st

from . import _paired_table  # noqa: F401  (registers the paired statistics)
from ._arrays import unique_inverse
from ._bootstrap import ANALYTIC_ABOVE, bootstrap_sums
from ._paired_boot import DenseUnits, bootstrap_tables, unit_types
from ._paired_continuous import MAX_TABLE_CELLS, MOMENT_STATS, finalize_moments, moment_contributions, rank_statistic
from ._paired_grid import LEVELS, MAX_DENSE_CELLS, PairedGrid, tabulate_pairs
from ._paired_table import ALPHA_COINCIDENCE_MAX_VALUES, STAT_NAMES, TableBatch
from ._registry import get
from ._result import StatRow

__all__ = ["PAIRED_STATISTICS", "paired_statistics"]

PAIRED_STATISTICS = STAT_NAMES
_CI_METHODS = ("percentile", "bca")
_WEIGHTS_FROM = ("options", "observed")


def paired_statistics(x, y, *, level: str, option_values=None, units=None, statistics=None, n_boot: int = 1000,
                      seed: int | None = 0, ci_method: str = "percentile", kappa_weights_from: str = "options",
                      confidence: float = 0.95) -> list[StatRow]:
    """Agreement, association, error, bias and distribution shift of a rater x against a reference y.

    Parameters
    ----------
    x, y : (n,) array_like of float
        One element per pair: x is the rater under audit (e.g. an LLM judge), y the reference (e.g. the per-unit
        human consensus). Pairs where either is NaN are dropped (the note says how many).
    level : {"binary", "nominal", "ordinal", "interval", "ratio"}
        Level of measurement of the rated dimension; decides which statistics apply and alpha's metric.
    option_values : array_like, optional
        The rubric's declared option values. They define the category scale of the kappas, AC1, exact agreement
        and JS divergence, and the positions used for kappa weights. Ratings off the options (an expected-value
        judge's 3.28, a mean consensus of 2.667) are allowed; the value grid simply extends, and the categorical
        statistics are then NaN ("kappa needs both raters on the option scale"). Without options, the observed
        values are the categories when they are all integers.
    units : (n,) array_like of int or str, optional
        The resampling unit of each pair (the conversation). Several pairs may share a unit (the human ceiling
        pools each human against the rest on one conversation); the bootstrap resamples units with all their
        pairs. None = each pair is its own unit.
    statistics : sequence of str, optional
        Names to compute (see :data:`PAIRED_STATISTICS`); None = every statistic defined for ``level``. A named
        statistic not defined for ``level`` gives a NaN row saying so.
    n_boot : int
        Bootstrap resamples (0 = point estimates only).
    seed : int or None
        Seed of numpy's default generator; equal seeds give equal intervals.
    ci_method : {"percentile", "bca"}
        Percentile or bias-corrected and accelerated bootstrap interval.
    kappa_weights_from : {"options", "observed"}
        Weighted-kappa weights on the positions of the declared option values (default; an unused option still
        counts as a step) or of the levels observed in either rater (as R ``irr::kappa2`` and scikit-learn).
        Positions, not numeric distances: with options {1, 2, 4}, 2 and 4 are one step apart.
    confidence : float
        Interval coverage, e.g. 0.95.

    Returns
    -------
    list of StatRow
        One row per statistic: ``value``, ``ci_low``, ``ci_high``, ``n`` (number of units) and ``note`` (level,
        interval method, conventions and, when ``value`` is NaN, why).

    Notes
    -----
    How to read each number (x = rater, y = reference, d = x - y):

    * ``krippendorff_alpha`` - Krippendorff's alpha at ``level``, 1 - D_o / D_e from the coincidence matrix:
      1 perfect, 0 agreement at chance, < 0 systematic disagreement. Ordinal uses Krippendorff's rank metric.
    * ``cohen_kappa`` - (p_o - p_e) / (1 - p_e), chance from each rater's own marginals: 1 perfect, 0 chance.
    * ``weighted_kappa_linear`` / ``weighted_kappa_quadratic`` - partial credit for near misses, agreement
      weights 1 - |i - j| / (k - 1) or 1 - ((i - j) / (k - 1))^2 on category positions i, j of k.
    * ``gwet_ac1`` - Gwet's AC1, chance p_e = sum_k pi_k (1 - pi_k) / (K - 1); robust to skewed prevalence.
    * ``pearson``, ``spearman``, ``kendall_tau_b`` - association in [-1, 1]; blind to a constant offset, so a
      judge that is always one point too lenient can still score 1. Read them with ``mean_diff``.
    * ``icc`` - ICC(A,1), two-way random, absolute agreement (McGraw & Wong): like Pearson but penalises offsets.
    * ``exact_agreement`` - P(x == y); ``adjacent_agreement`` - P(|x - y| <= 1) on the value axis.
    * ``mae``, ``rmse`` - typical size of a miss, in scale points (0 = identical).
    * ``mean_diff`` - mean(x - y): > 0 the rater is lenient, < 0 severe. ``leniency_rate`` = P(x > y),
      ``severity_rate`` = P(x < y); they sum to 1 - exact agreement.
    * ``wilcoxon`` - matched-pairs rank-biserial correlation of d in [-1, 1] (+1 every nonzero difference has
      x > y); the note carries scipy's Wilcoxon signed-rank p-value for the point estimate. All d = 0 gives 0.
    * ``variance_ratio`` - var(x) / var(y): < 1 the rater compresses the scale (central tendency), > 1 spreads.
    * ``wasserstein`` - earth mover's distance between the x and y score distributions, in scale points.
    * ``js_divergence`` - Jensen-Shannon divergence (base 2, [0, 1]) between the x and y option histograms.

    Degenerate input never yields a plausible number: a constant rater makes correlations NaN, no variation
    makes alpha and kappa NaN, each with the reason in ``note``. Resamples where a statistic is undefined are
    left out of its interval and counted in the note.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Cohen, J. (1968). Weighted kappa.
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed. McGraw, K. O., & Wong, S. P. (1996).
    Forming inferences about some intraclass correlation coefficients. Kerby, D. S. (2014). The simple difference
    formula. Bonett, D. G., & Wright, T. A. (2000). Sample size requirements for estimating Pearson, Kendall and
    Spearman correlations. Efron, B. (1987). Better bootstrap confidence intervals.

    Examples
    --------
    Wikipedia's Cohen's kappa example (50 proposals, two readers; kappa = 0.4):

    >>> import numpy as np
    >>> x = np.repeat([1, 1, 0, 0], [20, 5, 10, 15])
    >>> y = np.repeat([1, 0, 1, 0], [20, 5, 10, 15])
    >>> row = paired_statistics(x, y, level="binary", statistics=["cohen_kappa"], n_boot=200)[0]
    >>> round(row.value, 6), row.n
    (0.4, 50)
    >>> row.note.split("; ")[:2]
    ['binary', 'percentile bootstrap over 50 units, B=200']
    """
    names = _resolve(statistics, level)
    _check_options(n_boot, ci_method, kappa_weights_from, confidence)
    x, y = _as_vector(x, "x"), _as_vector(y, "y")
    if x.size != y.size:
        raise ValueError(f"x and y must have the same length (one element per pair); got {x.size} and {y.size}")
    unit_codes = None
    if units is not None:
        u = np.asarray(units)
        if u.ndim != 1 or u.size != x.size:
            raise ValueError(f"units must be 1-D with one element per pair ({x.size}); got shape {u.shape}")
        unit_codes, _ = pd.factorize(u, use_na_sentinel=True)
        if np.any(unit_codes < 0):
            raise ValueError("units has missing values; give every pair a unit id")
    if option_values is not None:
        ov = np.asarray(option_values, dtype=float).ravel()
        if ov.size == 0 or not np.all(np.isfinite(ov)):
            raise ValueError("option_values must be a non-empty list of finite numbers")
    keep = ~(np.isnan(x) | np.isnan(y))
    dropped = int(x.size - keep.sum())
    x, y = x[keep], y[keep]
    if unit_codes is not None:
        unit_codes, _ = pd.factorize(unit_codes[keep])
        n_units = int(unit_codes.max()) + 1 if unit_codes.size else 0
    else:
        n_units = int(x.size)
    ctx = _Context(level, n_boot, ci_method, dropped, n_units, int(x.size), unit_codes is not None)
    if x.size == 0:
        return [StatRow(n, np.nan, n=0, note=ctx.note(n, "no complete pairs")) for n in names]
    xv, yv, cx, cy, cell, _ = tabulate_pairs(x, y)
    grid = PairedGrid(xv, yv, cx, cy, level=level, option_values=option_values,
                      kappa_weights_from=kappa_weights_from)
    ctx.grid = grid
    if unit_codes is not None and n_units == x.size:
        unit_codes = None      # one pair per unit
    ctx.multi = unit_codes is not None
    if "wilcoxon" in names:
        ctx.wilcoxon_note = _wilcoxon_note(x, y, ctx.multi)
    if grid.n_cells <= MAX_TABLE_CELLS:
        rows = _table_path(names, x, y, cell, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence)
    else:
        rows = _continuous_path(names, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence)
    return [rows[n] for n in names]


# ---------------------------------------------------------------------------------------------------------

class _Context:
    """What every note needs: level, interval method, dropped pairs, units."""

    def __init__(self, level, n_boot, ci_method, dropped, n_units, n_pairs, multi):
        self.level, self.n_boot, self.ci_method = level, n_boot, ci_method
        self.dropped, self.n_units, self.n_pairs, self.multi = dropped, n_units, n_pairs, multi
        self.grid: PairedGrid | None = None
        self.wilcoxon_note = ""

    def interval_text(self) -> str:
        if self.n_boot <= 0:
            return "no interval (n_boot=0)"
        if self.n_units < 2:
            return "no interval (fewer than 2 units)"
        method = "BCa" if self.ci_method == "bca" else "percentile"
        text = f"{method} bootstrap over {self.n_units} units, B={self.n_boot}"
        return text + (f" ({self.n_pairs} pairs)" if self.multi else "")

    def note(self, name: str, reason: str = "", method: str | None = None, n_invalid: int = 0) -> str:
        parts = [self.level, self.interval_text() if method is None else method]
        if self.dropped:
            parts.append(f"{self.dropped} pair(s) with a missing value dropped")
        spec_extra = get(name, "paired").extra
        if self.grid is not None and not reason:
            if spec_extra.get("categorical"):
                parts.append("categories: " + self.grid.categories_note)
            if spec_extra.get("weighted"):
                parts.append(self.grid.weights_note)
        if name == "wilcoxon" and self.wilcoxon_note and not reason:
            parts.append(self.wilcoxon_note)
        if n_invalid:
            parts.append(f"{n_invalid} of {self.n_boot} resamples undefined and left out of the interval")
        if reason:
            parts.append(reason)
        return "; ".join(parts)


def _resolve(statistics, level: str) -> list[str]:
    if level not in LEVELS:
        raise ValueError(f"unknown level '{level}'; use one of {', '.join(LEVELS)}")
    if statistics is None:
        return [n for n in STAT_NAMES if level in get(n, "paired").levels]
    if isinstance(statistics, str):
        statistics = [statistics]
    out = []
    for n in statistics:
        if n not in STAT_NAMES:
            raise LookupError(f"unknown paired statistic '{n}'; paired statistics are: {', '.join(STAT_NAMES)}")
        if n not in out:
            out.append(n)
    return out


def _check_options(n_boot, ci_method, kappa_weights_from, confidence):
    if ci_method not in _CI_METHODS:
        raise ValueError(f"ci_method must be 'percentile' or 'bca'; got {ci_method!r}")
    if kappa_weights_from not in _WEIGHTS_FROM:
        raise ValueError(f"kappa_weights_from must be 'options' or 'observed'; got {kappa_weights_from!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer; got {n_boot}")


def _as_vector(v, name: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric (map option labels to their values first): {exc}") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one element per pair); got shape {a.shape}")
    if np.any(np.isinf(a)):
        raise ValueError(f"{name} has infinite values")
    return a


def _wilcoxon_note(x: np.ndarray, y: np.ndarray, multi: bool) -> str:
    d = x - y
    if not np.any(d != 0):
        return "all differences are zero: rank-biserial 0 by convention, Wilcoxon test not run"
    p = wilcoxon_pvalue(d) if d.size > 50 else None
    if p is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(_st.wilcoxon(x, y).pvalue)
    tail = ", pairs treated as independent" if multi else ""
    return f"Wilcoxon signed-rank p = {p:.4g} (scipy, zero differences dropped{tail})"


def wilcoxon_pvalue(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the differences ``d`` (n > 50), as ``scipy.stats.wilcoxon``'s
    default (zeros dropped, normal approximation with the tie correction, no continuity correction) but from the
    counts of the distinct |d| values: one sort, no per-element ranks."""
    d = np.asarray(d, dtype=float)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    a, sign_pos = np.abs(d), d > 0
    vals, inv = unique_inverse(a)
    cnt = np.bincount(inv, minlength=vals.size)
    pos = np.bincount(inv, weights=sign_pos.astype(float), minlength=vals.size)
    midrank = np.cumsum(cnt) - (cnt - 1) / 2.0
    n = float(d.size)
    r_plus = float(np.sum(pos * midrank))
    c = cnt.astype(float)
    se = np.sqrt((n * (n + 1) * (2 * n + 1) - np.sum(c ** 3 - c) / 2) / 24)
    if not se > 0:
        return float("nan")
    z = (r_plus - n * (n + 1) / 4) / se
    return float(2 * _dist.norm_sf(abs(z)))


def _nan_row(name, ctx, reason) -> StatRow:
    return StatRow(name, np.nan, n=ctx.n_units, note=ctx.note(name, reason))


def _not_applicable(name: str, level: str) -> str | None:
    levels = get(name, "paired").levels
    if level in levels:
        return None
    return f"not defined for {level} data (defined for {', '.join(levels)})"


def _table_path(names, x, y, cell, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence):
    rows: dict[str, StatRow] = {}
    todo = []
    for name in names:
        spec = get(name, "paired")
        reason = _not_applicable(name, ctx.level) or (spec.extra.get("precheck") or (lambda g: None))(grid)
        if reason:
            rows[name] = _nan_row(name, ctx, reason)
        elif spec.extra.get("dense") and grid.dense_cells > MAX_DENSE_CELLS:
            rows[name] = _analytic_row(name, x, y, ctx, confidence,
                                       f"{grid.dense_cells} dense cells > {MAX_DENSE_CELLS}")
        else:
            todo.append(name)
    if not todo:
        return rows
    if n_boot > 0 and unit_codes is not None and n_boot * ctx.n_units > ANALYTIC_ABOVE and \
            all(_is_moment(n, ctx.level) for n in todo):
        # only moment statistics: their per-unit sums decide, after exact grouping, between resampling and delta
        rows.update(_moment_rows(todo, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence,
                                 f"{ctx.n_units:,} units of several pairs", analytic=True))
        return rows
    types = unit_types(cell, grid.n_cells, unit_codes)
    if n_boot > 0 and unit_codes is not None and n_boot * types.n_types > ANALYTIC_ABOVE:
        # units holding several pairs in many distinct combinations (the pooled 'all' rows: 8 pairs per unit):
        # drawing B resamples over that many unit types costs more than ANALYTIC_ABOVE draws
        moment = [n for n in todo if _is_moment(n, ctx.level)]
        if moment:
            rows.update(_moment_rows(moment, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence,
                                     f"{types.n_types:,} distinct unit contributions", analytic=True))
            todo = [n for n in todo if n not in moment]
            if not todo:
                return rows
    size = grid.gv.size
    row_size = max(grid.n_cells, grid.xv.size + grid.yv.size,
                   size * size if size <= ALPHA_COINCIDENCE_MAX_VALUES else size)
    funcs = [get(n, "paired").func for n in todo]

    def finalize(tables: np.ndarray) -> np.ndarray:
        tb = TableBatch(tables, grid)
        return np.column_stack([f(tb) for f in funcs])

    res = bootstrap_tables(types, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                           row_size=row_size)
    total = TableBatch(types.total(), grid)
    for j, name in enumerate(todo):
        value = float(res.value[j])
        reason = ""
        if np.isnan(value):
            why = get(name, "paired").extra.get("why")
            reason = why(total) if why else "undefined for these data"
        n_invalid = int(res.n_invalid[j]) if res.n_invalid.size and not np.isnan(value) else 0
        rows[name] = StatRow(name, value, float(res.ci_low[j]), float(res.ci_high[j]), ctx.n_units,
                             ctx.note(name, reason, n_invalid=n_invalid))
    return rows


def _analytic_row(name, x, y, ctx, confidence, why_analytic: str) -> StatRow:
    value, lo, hi, method, reason = rank_statistic(name, x, y, level=ctx.level, n_units=ctx.n_units,
                                                   confidence=confidence)
    method = f"{method} ({why_analytic}; no bootstrap)" if method else None
    if reason == "not computed":
        reason = (f"{name} ({ctx.level}) is not computed over {ctx.grid.n_cells} occupied cells "
                  f"({why_analytic}); round the scores to a coarser grid to compute it")
    return StatRow(name, float(value), float(lo), float(hi), ctx.n_units, ctx.note(name, reason, method=method))


def _is_moment(name: str, level: str) -> bool:
    return name in MOMENT_STATS and (name != "krippendorff_alpha" or level == "interval")


def _continuous_path(names, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence):
    rows: dict[str, StatRow] = {}
    moment_names = []
    why_analytic = f"{grid.n_cells} occupied cells > {MAX_TABLE_CELLS}"
    for name in names:
        spec = get(name, "paired")
        reason = _not_applicable(name, ctx.level) or (spec.extra.get("precheck") or (lambda g: None))(grid)
        if reason:
            rows[name] = _nan_row(name, ctx, reason)
        elif _is_moment(name, ctx.level):
            moment_names.append(name)
        else:
            rows[name] = _analytic_row(name, x, y, ctx, confidence, why_analytic)
    if moment_names:
        rows.update(_moment_rows(moment_names, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence,
                                 why_analytic))
    return rows


def _moment_rows(names, x, y, unit_codes, grid, ctx, n_boot, seed, ci_method, confidence, why: str, *,
                 analytic: bool = False) -> dict[str, StatRow]:
    """Moment statistics from per-unit moment sums: bootstrapped, or (``analytic``, when resampling them would
    cost more than ``ANALYTIC_ABOVE`` resamples x distinct contributions) a delta-method normal interval."""
    contrib = moment_contributions(x, y, grid.center, unit_codes, ctx.n_units)
    finalize = finalize_moments(names)
    if analytic:
        res = bootstrap_sums(contrib, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                             allow_analytic=True)
    else:
        res = bootstrap_tables(DenseUnits(contrib), finalize, n_boot=n_boot, seed=seed, method=ci_method,
                               confidence=confidence, row_size=contrib.shape[1])
    if res.method == "delta":
        method = (f"delta-method normal interval over per-unit moment sums ({why}; {ctx.n_units} units: "
                  f"B x contributions above {ANALYTIC_ABOVE:,}, resampling skipped)")
    else:
        method = f"{ctx.interval_text()} of per-unit moment sums ({why})"
    x_const, y_const = grid.xv.size == 1, grid.yv.size == 1
    rows = {}
    for j, name in enumerate(names):
        value, lo, hi = float(res.value[j]), float(res.ci_low[j]), float(res.ci_high[j])
        reason = ""
        if (name == "pearson" and (x_const or y_const) or name == "icc" and x_const and y_const
                or name == "variance_ratio" and y_const):
            value = lo = hi = np.nan
        if np.isnan(value):
            reason = ("x is constant" if x_const else "y is constant" if y_const else "no variation") + \
                f": {name} undefined"
        n_invalid = int(res.n_invalid[j]) if not np.isnan(value) else 0
        rows[name] = StatRow(name, value, lo, hi, ctx.n_units, ctx.note(name, reason, method=method,
                                                                          n_invalid=n_invalid))
    return rows
