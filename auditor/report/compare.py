"""A leaderboard of LLM raters (judges and simulators), and paired differences between two of them.

:func:`leaderboard` turns the audit's rows into one row per LLM rater and rubric (Eval, alpha, weighted kappa,
mean bias, leniency, ECE, outcome ECE, alt-test winning rate, n, cost and time per 1,000 conversations);
:func:`sort_leaderboard` orders it by any column; :func:`paired_difference` estimates statistic(A) - statistic(B)
on the conversations both raters and the reference rated, with a bootstrap that resamples those conversations
*jointly* (both raters' pairs move together), so the interval accounts for the raters sharing items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..audit import _fetch
from ..errors import AuditorError
from ..stats._arrays import unique as _unique
from ..stats._paired_boot import DenseUnits, bootstrap_tables, unit_types
from ..stats._paired_continuous import MAX_TABLE_CELLS, MOMENT_STATS, finalize_moments, moment_contributions
from ..stats._paired_grid import PairedGrid, tabulate_pairs
from ..stats._paired_table import ALPHA_COINCIDENCE_MAX_VALUES, TableBatch
from ..stats._registry import get
from ._format import is_num
from ._pairs import pair_up
from ._rows import CEILING, RowIndex, llm_raters

__all__ = ["ALL_COLUMNS", "CEILING_NAME", "DIFF_STATISTICS", "LEADERBOARD_COLUMNS", "METRICS",
           "POOLED_DIFF_STATISTICS", "check_sort_column", "leaderboard", "paired_difference", "sort_leaderboard"]

# key -> (audit statistic, higher is better (None: closer to 0 is better / neutral), label)
METRICS = {
    "eval": ("eval_score", True, "Eval"),
    "alpha": ("krippendorff_alpha", True, "α"),
    "kappa_w": ("weighted_kappa_quadratic", True, "κw"),
    "mean_bias": ("mean_diff", None, "mean bias"),
    "leniency": ("leniency_rate", None, "leniency"),
    "ece": ("ece", False, "ECE"),
    "outcome_ece": ("outcome_ece", False, "outcome ECE"),
    "alt_test_win": ("alt_test_winning_rate", True, "alt-test win"),
}
COST_COLUMNS = {"cost_per_1k": "$ / 1k conv.", "seconds_per_1k": "s / 1k conv."}
TEXT_COLUMNS = ["rater", "kind", "model", "rubric", "design"]
LEADERBOARD_COLUMNS = TEXT_COLUMNS + list(METRICS) + ["n"] + list(COST_COLUMNS)
ALL_COLUMNS = LEADERBOARD_COLUMNS + [f"{k}_{s}" for k in METRICS for s in ("ci_low", "ci_high", "source")]
LOWER_IS_BETTER = {"ece", "outcome_ece", "cost_per_1k", "seconds_per_1k"}
CEILING_NAME = "humans (ceiling)"
# the ceiling row shows agreement only: a human's bias against the others' consensus is not a yardstick
CEILING_METRICS = ("eval", "alpha", "kappa_w", "outcome_ece")
DIFF_STATISTICS = ("krippendorff_alpha", "weighted_kappa_quadratic", "spearman", "mae", "mean_diff")
POOLED_DIFF_STATISTICS = ("krippendorff_alpha", "pearson", "mae", "mean_diff")


# ---------------------------------------------------------------------------------------------------------
# leaderboard
# ---------------------------------------------------------------------------------------------------------

def _metric(rows: RowIndex, who: str, rubric: str, dim: str, stat: str, dims: list[str], ranges: dict,
            rescale: bool, design: str | None = None):
    """(value, ci_low, ci_high, how) of one leaderboard cell."""
    c = rows.cell(who, rubric, dim, stat, design=design)
    if c and c["value"] is not None:
        return c["value"], c["ci_low"], c["ci_high"], "pooled" if dim == "all" else dim
    if dim != "all" or stat == "eval_score":
        return np.nan, np.nan, np.nan, ""
    vals = []
    for d in dims:
        cd = rows.cell(who, rubric, d, stat, design=design)
        if cd and cd["value"] is not None:
            lo, hi = ranges.get(d, (0.0, 1.0))
            vals.append(cd["value"] / ((hi - lo) or 1.0) if rescale else cd["value"])
    if not vals:
        return np.nan, np.nan, np.nan, ""
    if len(vals) == 1 and len(dims) == 1:
        c = rows.cell(who, rubric, dims[0], stat, design=design)
        lo, hi = ranges.get(dims[0], (0.0, 1.0))
        s = ((hi - lo) or 1.0) if rescale else 1.0
        ci = [(c[k] / s) if is_num(c[k]) else np.nan for k in ("ci_low", "ci_high")]
        return vals[0], ci[0], ci[1], dims[0]
    return float(np.mean(vals)), np.nan, np.nan, f"mean over {len(vals)} dimensions"


def _store_facts(store, rubric: str) -> tuple[dict, dict]:
    """(conversations rated per rater in this rubric, {rater: (cost per 1k, seconds per 1k)} from runs)."""
    n = dict(store.con.execute(
        "SELECT rater_id, count(DISTINCT conversation_id) FROM signals WHERE rubric = ? AND status = 'ok' "
        "GROUP BY rater_id", [rubric]).fetchall())
    runs = store.con.execute("""
        WITH r AS (SELECT rater_id, run_id, cost_usd, wall_s FROM runs),
             c AS (SELECT s.rater_id, count(DISTINCT s.conversation_id) AS n_conv FROM signals s
                   WHERE s.run_id IN (SELECT run_id FROM r) AND s.rubric = ? GROUP BY s.rater_id)
        SELECT r.rater_id,
               CASE WHEN count(r.cost_usd) = count(*) THEN sum(r.cost_usd) END AS cost,
               CASE WHEN count(r.wall_s) = count(*) THEN sum(r.wall_s) END AS wall,
               any_value(c.n_conv) AS n_conv
        FROM r JOIN c USING (rater_id) GROUP BY r.rater_id""", [rubric]).fetchall()
    per = {}
    for rater, cost, wall, n_conv in runs:
        if not n_conv:
            continue
        per[rater] = (np.nan if cost is None else 1000.0 * cost / n_conv,
                      np.nan if wall is None else 1000.0 * wall / n_conv)
    return n, per


def leaderboard(store, rows: pd.DataFrame, *, dimension: str = "all", ceiling: bool = True) -> pd.DataFrame:
    """One row per LLM rater and rubric: the columns of :data:`LEADERBOARD_COLUMNS`, plus ``<metric>_ci_low``,
    ``<metric>_ci_high`` and ``<metric>_source`` for every metric.

    With ``dimension="all"``: Eval, outcome ECE and the pooled rows (alpha, mean bias and leniency over every
    dimension rescaled to [0, 1]) where the audit computed them; otherwise the mean over dimensions of the
    per-dimension values (no interval; ``mean_bias`` rescaled by each dimension's option range, so it is a share of
    the scale). ``n`` = conversations the rater rated. Cost and time per 1,000 conversations come from the stored
    judge runs (NaN when unknown). A ``humans (ceiling)`` row (rater ``human_loo`` of the audit: each human against
    the others) is added when any of its agreement values (Eval, alpha, kappa_w, outcome ECE) is defined.
    """
    from ..panel import panels

    idx = RowIndex(rows)
    raters = _fetch.raters(store)
    panel_of = {k: f"panel: {v['rule']} of {', '.join(v['members'])}" for k, v in panels(store).items()}
    out = []
    for rubric in idx.rubrics():
        rub = _fetch.load_stored_rubric(store, rubric)
        dims = [d.name for d in rub.dimensions if d.name in set(idx.dimensions(rubric))]
        ranges = {d.name: d.value_range for d in rub.dimensions}
        n_conv, costs = _store_facts(store, rubric)
        who = [(r, raters[r].kind if r in raters else "", panel_of.get(r) or (raters[r].model if r in raters else None))
               for r, rb in llm_raters(rows) if rb == rubric]
        if ceiling:
            who.append((CEILING, "human", None))
        for rater, kind, model in who:
            design = idx.design(rater, rubric)
            rec = {"rater": CEILING_NAME if rater == CEILING else rater, "kind": kind, "model": model,
                   "rubric": rubric, "design": design}
            for key, (stat, _, _) in METRICS.items():
                if rater == CEILING and key not in CEILING_METRICS:
                    rec.update({key: np.nan, f"{key}_ci_low": np.nan, f"{key}_ci_high": np.nan, f"{key}_source": ""})
                    continue
                v, lo, hi, how = _metric(idx, rater, rubric, dimension, stat, dims, ranges,
                                         rescale=(key == "mean_bias" and dimension == "all"),
                                         design=design if rater == CEILING else None)
                rec.update({key: v, f"{key}_ci_low": lo, f"{key}_ci_high": hi, f"{key}_source": how})
            if rater == CEILING:
                ns = idx.df[(idx.df["rater"] == CEILING) & (idx.df["rubric"] == rubric)]["n"]
                rec["n"] = int(ns.max()) if len(ns) and pd.notna(ns.max()) else 0
                if all(pd.isna(rec[k]) for k in METRICS):
                    continue
            else:
                rec["n"] = int(n_conv.get(rater, 0))
            cost, secs = costs.get(rater, (np.nan, np.nan))
            rec.update({"cost_per_1k": cost, "seconds_per_1k": secs})
            out.append(rec)
    return pd.DataFrame(out, columns=ALL_COLUMNS)


def check_sort_column(by: str, columns=None) -> None:
    """Raise ``LookupError`` naming the valid columns when ``by`` is not a leaderboard column."""
    cols = list(ALL_COLUMNS if columns is None else columns)
    if by not in cols:
        raise LookupError(f"unknown column '{by}' for --sort; columns are: {', '.join(cols)}")


def sort_leaderboard(df: pd.DataFrame, by: str | None = None, *, reverse: bool = False) -> pd.DataFrame:
    """Order the leaderboard by any column, best first: higher first for agreement, lower first for errors,
    costs and times, ``mean_bias`` by its distance from 0, text columns A to Z; undefined values last.
    ``reverse`` flips the order (undefined values stay last). Default: ``eval`` if defined anywhere, else ``alpha``.
    """
    if by is None:
        by = "eval" if "eval" in df and df["eval"].notna().any() else "alpha"
    check_sort_column(by, df.columns)
    key = df[by]
    if by in TEXT_COLUMNS or by.endswith("_source"):
        k = key.astype("string").str.lower()
        ascending = True
    else:
        k = pd.to_numeric(key, errors="coerce")
        base = by.removesuffix("_ci_low").removesuffix("_ci_high")
        if base == "mean_bias":
            k, ascending = k.abs(), True
        elif base in LOWER_IS_BETTER or METRICS.get(base, (None, True))[1] is False:
            ascending = True
        else:
            ascending = False
    if reverse:
        ascending = not ascending
    order = k.sort_values(ascending=ascending, na_position="last", kind="stable").index
    return df.loc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# paired difference between two raters
# ---------------------------------------------------------------------------------------------------------

def _row_size(g: PairedGrid) -> int:
    size = g.gv.size
    return max(g.n_cells, g.xv.size + g.yv.size, size * size if size <= ALPHA_COINCIDENCE_MAX_VALUES else size)


def _reading(stat: str, diff: float, lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    if lo <= 0 <= hi:
        return "no clear difference"
    hib = get(stat, "paired").higher_is_better
    if stat == "mean_diff":
        return "A rates higher than B" if diff > 0 else "B rates higher than A"
    if hib is None:
        return "A higher" if diff > 0 else "B higher"
    return "A better" if (diff > 0) == bool(hib) else "B better"


def _difference(xa, xb, y, units, *, level, option_values, names, n_boot, seed, ci_method, confidence):
    """Rows (statistic, a, b, diff, ci_low, ci_high, reason) for A's and B's pairs against the same reference."""
    n = xa.size
    ua = np.arange(n) if units is None else pd.factorize(units)[0]
    gA = tabulate_pairs(xa, y)
    gB = tabulate_pairs(xb, y)
    gridA = PairedGrid(*gA[:4], level=level, option_values=option_values)
    gridB = PairedGrid(*gB[:4], level=level, option_values=option_values)
    results: dict[str, tuple] = {}
    todo = []
    large = gridA.n_cells + gridB.n_cells > MAX_TABLE_CELLS
    for name in names:
        spec = get(name, "paired")
        reason = None
        if level not in spec.levels:
            reason = f"not defined for {level} data"
        else:
            pre = spec.extra.get("precheck")
            reason = pre and (pre(gridA) or pre(gridB))
        if not reason and large and (name not in MOMENT_STATS or name == "krippendorff_alpha" and level != "interval"):
            reason = f"not computed over {gridA.n_cells + gridB.n_cells} occupied cells (continuous scores)"
        if reason:
            results[name] = (np.nan,) * 5 + (reason,)
        else:
            todo.append(name)
    if todo and not large:
        TA = gridA.n_cells
        types = unit_types(np.concatenate([gA[4], TA + gB[4]]), TA + gridB.n_cells, np.concatenate([ua, ua]))
        funcs = [get(nm, "paired").func for nm in todo]

        def finalize(t):
            A, B = TableBatch(t[:, :TA], gridA), TableBatch(t[:, TA:], gridB)
            cols = []
            for f in funcs:
                fa, fb = f(A), f(B)
                cols += [fa, fb, fa - fb]
            return np.column_stack(cols)

        res = bootstrap_tables(types, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence,
                               row_size=_row_size(gridA) + _row_size(gridB))
    elif todo:
        center = min(gridA.center, gridB.center)
        nu = int(ua.max()) + 1
        contrib = np.hstack([moment_contributions(xa, y, center, ua, nu), moment_contributions(xb, y, center, ua, nu)])
        fin = finalize_moments(todo)

        def finalize(s):
            fa, fb = fin(s[:, :11]), fin(s[:, 11:])
            return np.column_stack([c for j in range(len(todo)) for c in (fa[:, j], fb[:, j], fa[:, j] - fb[:, j])])

        res = bootstrap_tables(DenseUnits(contrib), finalize, n_boot=n_boot, seed=seed, method=ci_method,
                               confidence=confidence, row_size=contrib.shape[1])
    for j, name in enumerate(todo):
        a, b, d = (float(res.value[3 * j + k]) for k in range(3))
        lo, hi = float(res.ci_low[3 * j + 2]), float(res.ci_high[3 * j + 2])
        reason = ""
        if not np.isfinite(d):
            why = get(name, "paired").extra.get("why")
            reason = "undefined for at least one of the raters"
            if why:
                ra = why(TableBatch(np.atleast_2d(gA[5]), gridA)) if not np.isfinite(a) else ""
                rb = why(TableBatch(np.atleast_2d(gB[5]), gridB)) if not np.isfinite(b) else ""
                reason = "; ".join(f"{w}: {r}" for w, r in (("A", ra), ("B", rb)) if r) or reason
        results[name] = (a, b, d, lo, hi, reason)
    return [(nm,) + results[nm] for nm in names]


def paired_difference(store, a: str, b: str, *, rubric: str | None = None, dimensions: list[str] | None = None,
                      statistics=None, reference: str | None = None, n_boot: int = 1000, seed: int | None = 0,
                      ci_method: str = "percentile", confidence: float = 0.95) -> pd.DataFrame:
    """statistic(A) - statistic(B) against the same reference, on the conversations both raters rated.

    The bootstrap resamples those conversations jointly: a resample draws conversations, and both raters' pairs on
    a drawn conversation go into their tables, so the interval of the difference accounts for the shared items.
    Per dimension: those of :data:`DIFF_STATISTICS` defined at its level (or every one of ``statistics``, NaN with
    the reason where undefined); dimension ``all`` pools every dimension rescaled to [0, 1]
    (:data:`POOLED_DIFF_STATISTICS`). ``reading`` says whether the interval excludes 0 and who is ahead.

    Returns columns ``rubric, dimension, level, statistic, a, b, diff, ci_low, ci_high, n, reading, note``.
    """
    raters = _fetch.raters(store)
    for r in (a, b):
        if r not in raters:
            raise AuditorError(f"unknown rater {r!r}; stored raters: {', '.join(raters) or 'none'}")
    if a == b:
        raise AuditorError(f"--vs needs two different raters (got {a!r} twice)")
    if reference and reference not in raters:
        raise AuditorError(f"unknown reference rater {reference!r}; stored raters: {', '.join(raters)}")
    ref_idx = [raters[reference].index] if reference else [i.index for i in raters.values() if i.kind == "human"]
    if not ref_idx:
        raise AuditorError("no human ratings in the store to compare with. Fix: ingest human signals with "
                           "--rater-kind human, or name a --reference rater.")
    names = list(statistics or DIFF_STATISTICS)
    for nm in names:
        get(nm, "paired")   # LookupError listing the valid names
    rubrics = [rubric] if rubric else _fetch.stored_rubrics(store)
    out = []
    ia, ib = raters[a].index, raters[b].index
    ci_text = ("BCa" if ci_method == "bca" else "percentile") + f" bootstrap, B={n_boot}"
    for rub_name in rubrics:
        rub = _fetch.load_stored_rubric(store, rub_name)
        dims = [d for d in rub.dimensions if not dimensions or d.name in dimensions]
        pooled: list[list] = [[], [], [], []]
        for dim in dims:
            sig = _fetch.dimension_signals(store, rub_name, dim.name)
            if not (np.any(sig.rater == ia) and np.any(sig.rater == ib)):
                continue
            ua_, xa_, ya_ = pair_up(sig, ia, ref_idx, dim.level)
            ub_, xb_, _ = pair_up(sig, ib, ref_idx, dim.level)
            common, ka, kb = np.intersect1d(ua_, ub_, assume_unique=True, return_indices=True)
            base = dict(rubric=rub_name, dimension=dim.name, level=dim.level, n=int(common.size))
            if common.size == 0:
                out += [dict(base, statistic=nm, a=np.nan, b=np.nan, diff=np.nan, ci_low=np.nan, ci_high=np.nan,
                             reading="", note="undefined: no conversation rated by both raters and the reference "
                                              "(--vs compares raters on the same conversations)") for nm in names]
                continue
            xa, xb, y = xa_[ka], xb_[kb], ya_[ka]
            dim_names = names if statistics else [nm for nm in names if dim.level in get(nm, "paired").levels]
            note = (f"{dim.level}; A - B on {common.size} conversations rated by both and the reference, resampled "
                    f"jointly ({ci_text})")
            for nm, va, vb, d, lo, hi, reason in _difference(
                    xa, xb, y, None, level=dim.level, option_values=dim.distinct_values, names=dim_names, n_boot=n_boot,
                    seed=seed, ci_method=ci_method, confidence=confidence):
                out.append(dict(base, statistic=nm, a=va, b=vb, diff=d, ci_low=lo, ci_high=hi,
                                reading=_reading(nm, d, lo, hi), note=note + (f"; {reason}" if reason else "")))
            lo_v, hi_v = dim.value_range
            s = (hi_v - lo_v) or 1.0
            for lst, v in zip(pooled, (common, (xa - lo_v) / s, (xb - lo_v) / s, (y - lo_v) / s)):
                lst.append(v)
        if len(pooled[0]) > 1:
            u, xa, xb, y = (np.concatenate(p) for p in pooled)
            nu = int(_unique(u).size)
            note = (f"all dimensions rescaled to [0, 1] by their option range and pooled; interval; A - B on {nu} "
                    f"conversations ({u.size} pairs each), resampled jointly ({ci_text})")
            pnames = [nm for nm in POOLED_DIFF_STATISTICS if statistics is None or nm in statistics]
            for nm, va, vb, d, lo, hi, reason in _difference(
                    xa, xb, y, u, level="interval", option_values=None, names=pnames, n_boot=n_boot, seed=seed,
                    ci_method=ci_method, confidence=confidence):
                out.append(dict(rubric=rub_name, dimension="all", level="interval", n=nu, statistic=nm, a=va, b=vb,
                                diff=d, ci_low=lo, ci_high=hi, reading=_reading(nm, d, lo, hi),
                                note=note + (f"; {reason}" if reason else "")))
    if not out:
        raise AuditorError(f"{a!r} and {b!r} share no rubric dimension. Fix: compare raters that rated the same "
                           "rubric (auditor sql \"SELECT DISTINCT rater_id, rubric FROM signals\").")
    cols = ["rubric", "dimension", "level", "statistic", "a", "b", "diff", "ci_low", "ci_high", "n", "reading", "note"]
    return pd.DataFrame(out, columns=cols)
