"""The evaluative gap between LLM users and real users (the tau-bench human study), as pure functions.

The study ("Mind the Sim2Real Gap in User Simulation for Agentic Tasks", arXiv 2603.11245) has each task done by
several human "batches" (one real user each) and by each LLM user simulator (one or more runs); after every
conversation the user answers the ``tau_usi`` survey about *its own* conversation, and the benchmark's rule-based
reward says whether the task succeeded. Humans and simulators are therefore *matched by task*, not paired by
conversation, and every interval here comes from a bootstrap over the unit (task; conversation for paired judges).

Inputs are arrays with one row per unit (task) and one column per run / human batch, NaN where missing:

- :func:`eval_unit_scores` -- per-unit Eval from long answer tables; :func:`eval_score` aggregates the (U, G)
  matrix of per-unit scores against each reference group (human batch): mean over groups +- population std.
- :func:`outcome_ece` -- difficulty-binned calibration of a simulator's success against each human batch;
  :func:`outcome_ece_between` the same between pairs of human batches (the ceiling).
- :func:`success_rate_gap` -- LLM-user success minus human success ("easy mode" inflation);
  :func:`success_rate_gap_between` the spread between pairs of human batches.
- :func:`matched_distribution_stats` -- one dimension's answer distributions matched by task (mean shift,
  Wasserstein, Jensen-Shannon, leniency / severity, variance ratio); :func:`matched_distribution_between` the
  distances between pairs of human batches (the noise floor).

References
----------
"Mind the Sim2Real Gap in User Simulation for Agentic Tasks", arXiv 2603.11245; released scorer
``agents/tau_usi/usi_metric.py`` of github.com/sunnweiwei/OdysSim (Apache-2.0), whose definitions these follow.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._arrays import unique as _unique
from ._bootstrap import bootstrap_sums
from ._registry import register
from ._result import StatRow

__all__ = ["CUT_POINTS", "MIN_POOLED_RUNS", "MAX_CATEGORIES", "difficulty_bins", "pooled_difficulty",
           "rescale_unit", "eval_unit_scores", "eval_unit_scores_codes", "eval_score", "outcome_ece",
           "outcome_ece_between",
           "success_rate_gap", "success_rate_gap_between", "matched_distribution_stats",
           "matched_distribution_between", "matched_statistics_for", "MATCHED_STATISTICS"]

CUT_POINTS = (0.2, 0.4, 0.6, 0.8)
MIN_POOLED_RUNS = 10
# a dimension with more distinct values than this is not histogrammed (Wasserstein, JS divergence, leniency)
MAX_CATEGORIES = 1000
MATCHED_STATISTICS = ("mean_diff", "wasserstein", "js_divergence", "leniency_rate", "severity_rate",
                      "variance_ratio")
NOT_NOMINAL = ("binary", "ordinal", "interval", "ratio")
ORDERED = ("ordinal", "interval", "ratio")
_LEVELS_OF = {"mean_diff": NOT_NOMINAL, "wasserstein": ORDERED, "leniency_rate": NOT_NOMINAL,
              "severity_rate": NOT_NOMINAL, "variance_ratio": ORDERED,
              "js_divergence": ("binary", "nominal", "ordinal", "interval", "ratio")}


_DISTANCE_CAVEAT = "; a distance is biased upward under resampling, so its CI can sit above the estimate"


def matched_statistics_for(level: str) -> list[str]:
    """The per-dimension matched statistics defined at a level of measurement."""
    return [s for s in MATCHED_STATISTICS if level in _LEVELS_OF[s]]


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------

def _mean_std(per: np.ndarray) -> np.ndarray:
    """(m, G) -> (m, 2): mean and population std over the defined (non-NaN) columns; NaN where none is."""
    per = np.atleast_2d(per)
    ok = ~np.isnan(per)
    k = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, per, 0.0).sum(axis=1) / k
        var = np.where(ok, (per - mean[:, None]) ** 2, 0.0).sum(axis=1) / k
    return np.column_stack([mean, np.sqrt(var)])


def _nanmean_axis(x: np.ndarray, axis: int) -> np.ndarray:
    ok = ~np.isnan(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x, 0.0).sum(axis=axis) / ok.sum(axis=axis)


def _fmt(v: float, digits: int = 4) -> str:
    return "undefined" if v is None or np.isnan(v) else f"{v:.{digits}g}"


def _per_group_note(values: np.ndarray, labels: Sequence[str], what: str) -> str:
    parts = [f"{lab}: {_fmt(v)}" for lab, v in zip(labels, values)]
    return f"per {what}: " + ", ".join(parts)


def _boot(contrib: np.ndarray, finalize: Callable, n_boot: int, seed, ci_method: str, confidence: float):
    return bootstrap_sums(contrib, finalize, n_boot=n_boot, seed=seed, method=ci_method, confidence=confidence)


def _ci_note(n_boot: int, ci_method: str, unit: str) -> str:
    return f"{ci_method} CI, {n_boot} bootstrap resamples over {unit}s" if n_boot > 0 else "no CI (bootstrap off)"


def _std_txt(res, k: int) -> str:
    return _fmt(res.value[1]) if k >= 2 else "undefined (one group)"


def _std_row(name: str, res, k: int, note: str) -> StatRow:
    """The companion row of a mean over groups: the population std over the k groups (NaN when k < 2)."""
    if k < 2:
        return StatRow(name, np.nan, n=k, note=f"undefined: {k} group(s), so no spread over groups; " + note)
    return StatRow(name, float(res.value[1]), float(res.ci_low[1]), float(res.ci_high[1]), k, note)


def _labels(groups, n: int, prefix: str) -> list[str]:
    return [str(g) for g in groups] if groups is not None else [f"{prefix}{i + 1}" for i in range(n)]


def difficulty_bins(difficulty, cut_points: Sequence[float] = CUT_POINTS) -> np.ndarray:
    """Bin index of each difficulty: the first bin whose cut point the value is below, else the last.

    NaN (no difficulty) gives -1. With the study's cut points 0.2/0.4/0.6/0.8: 0.1 -> 0, 0.2 -> 1, 1.0 -> 4.
    """
    d = np.asarray(difficulty, dtype=float)
    b = np.searchsorted(np.asarray(cut_points, dtype=float), d, side="right")
    return np.where(np.isnan(d), -1, b).astype(np.int64)


def pooled_difficulty(task, success, *, min_runs: int = MIN_POOLED_RUNS) -> dict:
    """Task difficulty = success rate pooled over every simulator run of the task (tasks with >= ``min_runs``).

    ``task`` and ``success`` (0/1) have one element per run. Returns {task: rate}.
    """
    df = pd.DataFrame({"task": np.asarray(task), "s": np.asarray(success, dtype=float)}).dropna()
    g = df.groupby("task")["s"].agg(["mean", "size"])
    g = g[g["size"] >= min_runs]
    return {k: float(v) for k, v in g["mean"].items()}


def rescale_unit(values, lo: float, hi: float) -> np.ndarray:
    """Option values rescaled to [0, 1] by the dimension's value range; a constant scale gives 1 (the study)."""
    v = np.asarray(values, dtype=float)
    if hi > lo:
        return (v - lo) / (hi - lo)
    return np.where(np.isnan(v), np.nan, 1.0)


# ---------------------------------------------------------------------------------------------------------
# Eval
# ---------------------------------------------------------------------------------------------------------

def eval_unit_scores(ref: pd.DataFrame, other: pd.DataFrame, *, nominal: Sequence = (), distinct_items: bool = False,
                     impute: Mapping[object, Sequence[float]] | None = None,
                     rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Per-unit Eval between a reference's survey answers and another rater's.

    Parameters
    ----------
    ref, other : long DataFrames with columns ``unit``, ``item``, ``dim``, ``value``. ``item`` is one answer sheet
        (a conversation, or a conversation and sample); ``value`` is the answer rescaled to [0, 1]
        (:func:`rescale_unit`), NaN when not answered. ``dim`` values sort in the rubric's order.
    nominal : dims compared by mismatch (0 same, 1 different) instead of ``|ref - other|``.
    distinct_items : compare only item pairs with ``item_ref < item_other`` (one rater set against itself, e.g.
        two humans on the same conversation).
    impute : {dim: the dim's distinct rescaled values, ascending}: a dimension the reference answered and the
        other did not gets ``rng.choice(values)`` (the released scorer's imputation; draws go in the order unit,
        reference item, other item, dim). None (default): such dimensions are left out and counted.

    Returns
    -------
    DataFrame with one row per unit: ``unit``, ``score`` = mean over (reference item, other item) pairs of
    ``100 * (1 - mean over dims the reference answered of |ref - other|)`` (NaN when no pair shares an answered
    dim), ``n_pairs``, ``n_missing`` (dims the reference answered and the other did not, before imputation).

    Examples
    --------
    >>> ref = pd.DataFrame({"unit": ["t1", "t1"], "item": ["h", "h"], "dim": [0, 1], "value": [1.0, 0.5]})
    >>> llm = pd.DataFrame({"unit": ["t1", "t1"], "item": ["s", "s"], "dim": [0, 1], "value": [0.5, 0.5]})
    >>> float(eval_unit_scores(ref, llm)["score"].iloc[0])   # 100 * (1 - (0.5 + 0) / 2)
    75.0
    """
    r = ref.loc[ref["value"].notna()]
    empty = pd.DataFrame({"unit": [], "score": [], "n_pairs": [], "n_missing": []})
    if r.empty or other.empty:
        return empty
    n_r = len(r)
    u_codes, u_labels = pd.factorize(np.concatenate([r["unit"].to_numpy(), other["unit"].to_numpy()]), sort=True)
    i_codes, i_labels = pd.factorize(np.concatenate([r["item"].to_numpy(), other["item"].to_numpy()]), sort=True)
    d_codes, d_labels = pd.factorize(np.concatenate([r["dim"].to_numpy(), other["dim"].to_numpy()]), sort=True)
    nominal_code = np.isin(np.asarray(d_labels, dtype=object), np.asarray(list(nominal), dtype=object))
    imp = None if impute is None else {j: impute[lab] for j, lab in enumerate(d_labels) if lab in impute}
    if impute is not None and len(imp) < len(d_labels):      # a dim without values: fail as before, on use
        imp = _LazyImpute(impute, d_labels)
    res = eval_unit_scores_codes(u_codes[:n_r], i_codes[:n_r], d_codes[:n_r], r["value"].to_numpy(dtype=float),
                                 u_codes[n_r:], i_codes[n_r:], d_codes[n_r:], other["value"].to_numpy(dtype=float),
                                 n_units=len(u_labels), n_items=len(i_labels), n_dims=len(d_labels),
                                 nominal=nominal_code, distinct_items=distinct_items, impute=imp, rng=rng)
    if res is None:
        return empty
    units, score, n_pairs, n_missing = res
    return pd.DataFrame({"unit": np.asarray(u_labels)[units], "score": score, "n_pairs": n_pairs,
                         "n_missing": n_missing})


class _LazyImpute:
    def __init__(self, impute, labels):
        self.impute, self.labels = impute, labels

    def __getitem__(self, j):
        return self.impute[self.labels[j]]


_DENSE_MAX = 64_000_000     # dense lookup tables up to this many cells (else sort + search)


def eval_unit_scores_codes(ur, ir, dr, vr, uo, io, do, vo, *, n_units: int, n_items: int, n_dims: int,
                           nominal=None, distinct_items: bool = False, impute=None, rng=None):
    """:func:`eval_unit_scores` on integer codes (the reference's answers ``ur, ir, dr, vr``: unit, item, dim,
    value; the other's ``uo, io, do, vo``). Codes must sort like the labels they stand for; ``nominal`` is a
    boolean mask over dim codes, ``impute`` maps dim code -> values. Reference rows with a NaN value must already
    be left out. Returns ``(unit codes, score, n_pairs, n_missing)`` over the units present, ascending, or None
    when there is no pair.
    """
    ur, ir, dr = (np.asarray(a, dtype=np.int64) for a in (ur, ir, dr))
    uo, io, do = (np.asarray(a, dtype=np.int64) for a in (uo, io, do))
    vr, vo = np.asarray(vr, dtype=float), np.asarray(vo, dtype=float)
    n_r = ur.size
    if n_r == 0 or uo.size == 0:
        return None
    U, D = int(n_units), int(n_dims)
    if float(n_items) * float(n_items) > 2.0 ** 62 or float(U) * float(n_items) > 2.0 ** 62:
        i_all, i_inv = np.unique(np.concatenate([ir, io]), return_inverse=True)
        ir, io, n_items = i_inv[:n_r], i_inv[n_r:], i_all.size
    n_items = int(n_items)
    # every (unit, other item) present, sorted by (unit, item)
    unit_item = None
    per_unit_items = False      # each other item belongs to one unit (then pairs can be numbered densely)
    if n_items <= _DENSE_MAX:
        unit_of = np.full(n_items, -1, dtype=np.int64)
        unit_of[io] = uo
        if np.array_equal(unit_of[io], uo):                 # each other item belongs to one unit
            items_p = np.flatnonzero(unit_of >= 0)
            units_p = unit_of[items_p]
            if units_p.size < 2 or np.all(units_p[1:] >= units_p[:-1]):
                unit_item = units_p * n_items + items_p
                per_unit_items = True
    if unit_item is None and U * n_items <= _DENSE_MAX:      # small key space: presence table, no sort
        present_ui = np.zeros(U * n_items, dtype=bool)
        present_ui[uo * n_items + io] = True
        unit_item = np.flatnonzero(present_ui)
        del present_ui
    if unit_item is None:
        unit_item = _unique(uo * n_items + io)
    oi_unit, oi_item = np.divmod(unit_item, n_items)
    counts = np.bincount(oi_unit, minlength=U)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if distinct_items:      # only the other's items after the reference item in the unit
        first_pos = np.searchsorted(unit_item, ur * n_items + ir, side="right")
        cnt = starts[ur] + counts[ur] - first_pos
        base = first_pos
    else:
        cnt = counts[ur]
        base = starts[ur]
    rep = np.repeat(np.arange(n_r), cnt)
    offs = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    pos_m = base[rep] + offs
    del offs
    m_io = oi_item[pos_m]
    m_u, m_ir, m_d, m_vr = ur[rep], ir[rep], dr[rep], vr[rep]
    del rep
    if m_u.size == 0:
        return None
    # the other's answer to the same dimension (NaN when not answered or absent)
    okey = io * D + do
    want = m_io * D + m_d
    if n_items * D <= _DENSE_MAX:
        tab = np.full(n_items * D, np.nan)
        tab[okey[::-1]] = vo[::-1]          # the first row wins, as a stable sort + left search would pick
        m_vo = tab[want]
        del tab
    else:
        order = np.argsort(okey, kind="stable")
        sk = okey[order]
        pos = np.minimum(np.searchsorted(sk, want), sk.size - 1)
        m_vo = np.where(sk[pos] == want, vo[order][pos], np.nan)
    del want
    missing = np.isnan(m_vo)
    if impute is not None and missing.any():
        rng = rng if rng is not None else np.random.default_rng(42)
        seq = np.lexsort((m_d, m_io, m_ir, m_u))
        for i in seq[missing[seq]]:     # sequential on purpose: the released scorer draws one value at a time
            m_vo[i] = rng.choice(list(impute[int(m_d[i])]))
    nominal_code = np.zeros(D, dtype=bool) if nominal is None else np.asarray(nominal, dtype=bool)
    with np.errstate(invalid="ignore"):
        if nominal_code.any():
            diff = np.where(nominal_code[m_d], np.where(np.isnan(m_vo), np.nan, (m_vr != m_vo).astype(float)),
                            np.abs(m_vr - m_vo))
        else:
            diff = np.abs(m_vr - m_vo)
    del m_vr, m_vo, m_d
    ok = ~np.isnan(diff)
    # pairs (reference item, other item), numbered in (item, item) order: pair = (ref item, position in unit list)
    maxc = int(counts.max()) if counts.size else 0
    if per_unit_items and n_items * maxc <= _DENSE_MAX:
        # (ref item, position in its unit's list) numbers the pairs only if each reference item is in one unit too
        unit_of_r = np.full(n_items, -1, dtype=np.int64)
        unit_of_r[ir] = ur
        per_unit_items = bool(np.array_equal(unit_of_r[ir], ur))
        del unit_of_r
    if per_unit_items and n_items * maxc <= _DENSE_MAX:
        key = m_ir * maxc + (pos_m - starts[m_u])
        used = np.zeros(n_items * maxc, dtype=bool)
        used[key] = True
        rank = np.cumsum(used) - 1
        p_inv = rank[key]
        n_p = int(used.sum())
        del used, rank, key
        p_unit = np.empty(n_p, dtype=np.int64)
        p_unit[p_inv] = m_u
    elif n_items * n_items <= _DENSE_MAX:       # few items: number the (item, item) keys with dense tables
        key = m_ir * n_items + m_io
        first_of = np.full(n_items * n_items, -1, dtype=np.int64)
        first_of[key[::-1]] = np.arange(key.size - 1, -1, -1)     # the first occurrence wins
        used = first_of >= 0
        rank = np.cumsum(used) - 1
        p_inv = rank[key]
        first = first_of[used]
        n_p = first.size
        p_unit = m_u[first]
        del key, first_of, used, rank
    else:
        _, first, p_inv = np.unique(m_ir * n_items + m_io, return_index=True, return_inverse=True)
        p_inv = p_inv.ravel()
        n_p = first.size
        p_unit = m_u[first]
    s_d = np.bincount(p_inv, weights=np.where(ok, diff, 0.0), minlength=n_p)
    c_d = np.bincount(p_inv, weights=ok.astype(float), minlength=n_p)
    miss_p = np.bincount(p_inv, weights=missing.astype(float), minlength=n_p)
    with np.errstate(invalid="ignore", divide="ignore"):
        score_p = 100.0 * (1.0 - s_d / c_d)
    defined = c_d > 0
    s_u = np.bincount(p_unit, weights=np.where(defined, score_p, 0.0), minlength=U)
    c_u = np.bincount(p_unit, weights=defined.astype(float), minlength=U)
    miss_u = np.bincount(p_unit, weights=miss_p, minlength=U)
    present = np.bincount(p_unit, minlength=U) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        score_u = s_u / c_u
    return (np.flatnonzero(present), score_u[present], c_u[present].astype(int), miss_u[present].astype(int))


def eval_sheet_scores(S: np.ndarray, present: np.ndarray, ref_slots, other_slots, *, nominal=None,
                      distinct_items: bool = False):
    """:func:`eval_unit_scores_codes` when the answer sheets of a unit sit in fixed slots: the paired design
    (unit = conversation, one slot per rater and sample), without imputation. O(units x slots^2 x dims), no sort.

    ``S`` (U, K, D): answers rescaled to [0, 1], NaN = not answered or no sheet; ``present`` (U, K): the sheet exists
    (it has a row, answered or not); slots are numbered in item order. Pairs are (reference slot, other slot) with
    a reference sheet that answered something and an existing other sheet; with ``distinct_items`` only reference
    slot < other slot. Returns ``(unit codes, score, n_pairs, n_missing)`` over the units with a pair, or None.
    """
    U, K, D = S.shape
    nominal = np.zeros(D, dtype=bool) if nominal is None else np.asarray(nominal, dtype=bool)
    answered = ~np.isnan(S)
    ref_ok = answered.any(axis=2)
    s_u, c_u, miss_u = np.zeros(U), np.zeros(U), np.zeros(U)
    has_pair = np.zeros(U, dtype=bool)
    for j in ref_slots:
        for k in other_slots:
            if distinct_items and k <= j:
                continue
            m = ref_ok[:, j] & present[:, k]
            idx = slice(None) if m.all() else np.flatnonzero(m)      # every unit: views, no gathers
            if not m.any():
                continue
            r, o = S[idx, j, :], S[idx, k, :]
            ra, oa = answered[idx, j, :], answered[idx, k, :]
            both = ra & oa
            with np.errstate(invalid="ignore"):
                diff = np.where(nominal, (r != o).astype(float), np.abs(r - o))
            c = both.sum(axis=1)
            tot = np.where(both, diff, 0.0).sum(axis=1)
            defined = c > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                score = 100.0 * (1.0 - tot / c)
            s_u[idx] += np.where(defined, score, 0.0)
            c_u[idx] += defined
            miss_u[idx] += (ra & ~oa).sum(axis=1)
            has_pair[idx] = True
    units = np.flatnonzero(has_pair)
    if units.size == 0:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        score_u = s_u[units] / c_u[units]
    return units, score_u, c_u[units].astype(int), miss_u[units].astype(int)


@register("eval_score", kind="gap", levels=("binary", "nominal", "ordinal", "interval", "ratio"), symmetric=True,
          higher_is_better=True, maximum=100.0)
def eval_score(scores: np.ndarray, *, groups: Sequence | None = None, unit: str = "task", n_boot: int = 1000,
               seed: int | None = 0, ci_method: str = "percentile", confidence: float = 0.95) -> list[StatRow]:
    """The study's Eval: survey agreement on a 0-100 scale, mean over human batches (100 = identical answers).

    Parameters
    ----------
    scores : (U, G) per-unit Eval (:func:`eval_unit_scores`) of U units (tasks) against G reference groups
        (human batches); NaN where the unit has no score against that group.
    groups : labels of the G groups (for the note).

    Returns
    -------
    ``eval_score`` (mean over groups of the group's mean over units; CI from a bootstrap over units) and
    ``eval_score_batch_std`` (population std over groups, the study's "+-").

    Notes
    -----
    Eval_g = mean over units u of score[u, g]; eval_score = mean_g Eval_g. The study reports simulators at about
    72-75 and a same-conversation human ceiling of 97.4 +- 5.0.
    """
    S = np.asarray(scores, dtype=float)
    if S.ndim == 1:
        S = S[:, None]
    S = S[~np.isnan(S).all(axis=1)]
    G = S.shape[1]
    labels = _labels(groups, G, "group ")
    if S.shape[0] == 0:
        why = f"undefined: no {unit} has a score against any reference group"
        return [StatRow("eval_score", np.nan, n=0, note=why), StatRow("eval_score_batch_std", np.nan, n=0, note=why)]
    ok = ~np.isnan(S)
    contrib = np.hstack([np.where(ok, S, 0.0), ok.astype(float)])

    def finalize(sums):
        with np.errstate(invalid="ignore", divide="ignore"):
            per = sums[:, :G] / sums[:, G:]
        return _mean_std(per)

    res = _boot(contrib, finalize, n_boot, seed, ci_method, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = contrib.sum(axis=0)[:G] / contrib.sum(axis=0)[G:]
    k = int((~np.isnan(per)).sum())
    note = (f"mean over {k} reference group(s) of the mean over {unit}s; population std over groups "
            f"{_std_txt(res, k)}; {_per_group_note(per, labels, 'group')}; {_ci_note(n_boot, ci_method, unit)}")
    return [StatRow("eval_score", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]), res.n_units, note),
            _std_row("eval_score_batch_std", res, k, f"population std over {k} reference group(s) of their Eval "
                     f"(the study's +-); " + _per_group_note(per, labels, "group"))]


register("eval_score_batch_std", kind="gap", symmetric=True, higher_is_better=None,
         doc="Population std over human batches of the Eval score (the study's +-).")(eval_score)


# ---------------------------------------------------------------------------------------------------------
# outcome ECE
# ---------------------------------------------------------------------------------------------------------

def _ece_pairs(a: np.ndarray, b: np.ndarray, bins: np.ndarray, n_bins: int):
    """Contributions and finalize for the ECE of P column pairs (a[:, p] vs b[:, p]); finalize -> (m, P)."""
    T, P = a.shape
    present = ~np.isnan(a) & ~np.isnan(b) & (bins >= 0)[:, None]
    C = np.zeros((T, P, n_bins, 3))
    t_idx, p_idx = np.nonzero(present)
    k_idx = bins[t_idx]
    C[t_idx, p_idx, k_idx, 0] = 1.0
    C[t_idx, p_idx, k_idx, 1] = a[t_idx, p_idx]
    C[t_idx, p_idx, k_idx, 2] = b[t_idx, p_idx]

    def per_pair(sums):
        s = sums.reshape(sums.shape[0], P, n_bins, 3)
        n = s[..., 0].sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(s[..., 1] - s[..., 2]).sum(axis=-1) / n     # sum_k n_k/n |a_k/n_k - b_k/n_k|

    return C.reshape(T, -1), per_pair, present


def _check_success(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (tasks, columns) array, got shape {x.shape}")
    ok = ~np.isnan(x)
    if np.any((x[ok] < 0) | (x[ok] > 1)):
        raise ValueError(f"{name}: success values must lie in [0, 1] (NaN = missing)")
    return x


@register("outcome_ece", kind="gap", levels=("binary",), symmetric=False, higher_is_better=False, maximum=0.0)
def outcome_ece(sim, human, bins, *, n_bins: int = len(CUT_POINTS) + 1, groups: Sequence | None = None,
                n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                confidence: float = 0.95) -> list[StatRow]:
    """The study's outcome-calibration ECE of an LLM user simulator (0 = calibrated, larger = worse).

    Parameters
    ----------
    sim : (T, R) task success (0/1, or a rate) of the simulator's R runs; NaN where a run lacks the task.
    human : (T, B) task success of B human batches; NaN where missing.
    bins : (T,) difficulty bin of each task (:func:`difficulty_bins`), -1 = no difficulty (left out).

    Returns
    -------
    ``outcome_ece`` and ``outcome_ece_batch_std``.

    Notes
    -----
    For run r and batch b, over the tasks both have: ECE_rb = sum_k (n_k / n) |sim rate_k - human rate_k| over
    difficulty bins k. ECE_b = mean over runs; outcome_ece = mean over batches (std over batches in the second
    row). Published: simulators 0.20-0.58, human ceiling 0.069 +- 0.022.
    """
    sim, human = _check_success(sim, "sim"), _check_success(human, "human")
    bins = np.asarray(bins, dtype=np.int64)
    if not (sim.shape[0] == human.shape[0] == bins.shape[0]):
        raise ValueError("sim, human and bins need one row per task")
    T, R = sim.shape
    B = human.shape[1]
    labels = _labels(groups, B, "batch ")
    a = np.repeat(sim, B, axis=1)              # pair p = r * B + b
    b = np.tile(human, (1, R))
    C, per_pair, present = _ece_pairs(a, b, bins, n_bins)
    used = present.any(axis=1)
    if not used.any():
        why = "undefined: no task has a simulator run, a human result and a difficulty"
        return [StatRow("outcome_ece", np.nan, n=0, note=why), StatRow("outcome_ece_batch_std", np.nan, n=0, note=why)]

    def per_batch(sums):
        return _nanmean_axis(per_pair(sums).reshape(sums.shape[0], R, B), axis=1)

    res = _boot(C[used], lambda s: _mean_std(per_batch(s)), n_boot, seed, ci_method, confidence)
    pb = per_batch(C[used].sum(axis=0)[None, :])[0]
    k = int((~np.isnan(pb)).sum())
    note = (f"{int(used.sum())} tasks, {n_bins} difficulty bins; per run against each human batch, averaged over "
            f"{R} run(s), then mean over {k} batch(es); population std over batches {_std_txt(res, k)}; "
            f"{_per_group_note(pb, labels, 'batch')}; {_ci_note(n_boot, ci_method, 'task')}")
    return [StatRow("outcome_ece", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]), res.n_units,
                    note),
            _std_row("outcome_ece_batch_std", res, k, f"population std over {k} human batch(es) of the outcome "
                     "ECE; " + _per_group_note(pb, labels, "batch"))]


register("outcome_ece_batch_std", kind="gap", levels=("binary",), symmetric=False, higher_is_better=None,
         doc="Population std over human batches of the outcome ECE (the study's +-).")(outcome_ece)


def _pairs_of(B: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(B) for j in range(i + 1, B)]


def outcome_ece_between(human, bins, *, n_bins: int = len(CUT_POINTS) + 1, groups: Sequence | None = None,
                        n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                        confidence: float = 0.95) -> list[StatRow]:
    """Outcome ECE between every pair of human batches (the study's human ceiling): mean +- std over pairs.

    ``human`` (T, B) task success of B >= 2 batches; ``bins`` as in :func:`outcome_ece`. One ``outcome_ece`` row.
    """
    human = _check_success(human, "human")
    bins = np.asarray(bins, dtype=np.int64)
    B = human.shape[1]
    labels = _labels(groups, B, "batch ")
    pairs = _pairs_of(B)
    if not pairs:
        return [StatRow("outcome_ece", np.nan, n=0, note="undefined: fewer than 2 human batches, no human ceiling")]
    a = human[:, [i for i, _ in pairs]]
    b = human[:, [j for _, j in pairs]]
    C, per_pair, present = _ece_pairs(a, b, bins, n_bins)
    used = present.any(axis=1)
    if not used.any():
        return [StatRow("outcome_ece", np.nan, n=0, note="undefined: no task has two human batches and a difficulty")]
    res = _boot(C[used], lambda s: _mean_std(per_pair(s)), n_boot, seed, ci_method, confidence)
    pp = per_pair(C[used].sum(axis=0)[None, :])[0]
    pl = [f"{labels[i]} vs {labels[j]}" for i, j in pairs]
    note = (f"human ceiling: each pair of human batches on the tasks both have ({int(used.sum())} tasks); mean "
            f"over {len(pairs)} pair(s), population std {_std_txt(res, len(pairs))}; "
            f"{_per_group_note(pp, pl, 'pair')}; "
            f"{_ci_note(n_boot, ci_method, 'task')}")
    return [StatRow("outcome_ece", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]), res.n_units,
                    note)]


# ---------------------------------------------------------------------------------------------------------
# success-rate gap
# ---------------------------------------------------------------------------------------------------------

@register("success_rate_gap", kind="gap", levels=("binary",), symmetric=False, higher_is_better=None,
          maximum=0.0)
def success_rate_gap(sim, human, *, groups: Sequence | None = None, n_boot: int = 1000, seed: int | None = 0,
                     ci_method: str = "percentile", confidence: float = 0.95) -> list[StatRow]:
    """LLM-user task success minus human task success on the same tasks (> 0: the simulator makes tasks easier).

    ``sim`` (T, R): success of R runs; ``human`` (T, B): success of B batches (NaN = missing). Per batch b, over the
    tasks both have: mean_t (mean over runs of sim[t]) - mean_t human[t, b]; mean over batches, with the std.
    Returns ``success_rate_gap`` and ``success_rate_gap_batch_std``.
    """
    sim, human = _check_success(sim, "sim"), _check_success(human, "human")
    if sim.shape[0] != human.shape[0]:
        raise ValueError("sim and human need one row per task")
    B = human.shape[1]
    labels = _labels(groups, B, "batch ")
    rate = _nanmean_axis(sim, axis=1) if sim.shape[1] else np.full(sim.shape[0], np.nan)
    present = ~np.isnan(rate)[:, None] & ~np.isnan(human)
    used = present.any(axis=1)
    if not used.any():
        why = "undefined: no task has both a simulator run and a human result"
        return [StatRow("success_rate_gap", np.nan, n=0, note=why),
                StatRow("success_rate_gap_batch_std", np.nan, n=0, note=why)]
    p = present.astype(float)
    C = np.hstack([p * np.nan_to_num(rate)[:, None], p * np.nan_to_num(human), p])[used]

    def per_batch(sums):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums[:, :B] - sums[:, B:2 * B]) / sums[:, 2 * B:]

    res = _boot(C, lambda s: _mean_std(per_batch(s)), n_boot, seed, ci_method, confidence)
    tot = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim_b, hum_b = tot[:B] / tot[2 * B:], tot[B:2 * B] / tot[2 * B:]
    pb = sim_b - hum_b
    k = int((~np.isnan(pb)).sum())
    note = (f"{int(used.sum())} tasks; LLM-user success (runs averaged per task) minus human success on the "
            f"tasks both have, mean over {k} batch(es); population std {_std_txt(res, k)}; "
            + ", ".join(f"{lab}: {_fmt(s, 3)} - {_fmt(h, 3)} = {_fmt(g, 3)}"
                        for lab, s, h, g in zip(labels, sim_b, hum_b, pb))
            + f"; {_ci_note(n_boot, ci_method, 'task')}")
    return [StatRow("success_rate_gap", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]),
                    res.n_units, note),
            _std_row("success_rate_gap_batch_std", res, k, f"population std over {k} human batch(es) of the "
                     "success-rate gap; " + _per_group_note(pb, labels, "batch"))]


register("success_rate_gap_batch_std", kind="gap", levels=("binary",), symmetric=False, higher_is_better=None,
         doc="Population std over human batches of the success-rate gap.")(success_rate_gap)


def success_rate_gap_between(human, *, groups: Sequence | None = None, n_boot: int = 1000, seed: int | None = 0,
                             ci_method: str = "percentile", confidence: float = 0.95) -> list[StatRow]:
    """Mean |success difference| between pairs of human batches on the tasks both have (a noise floor for
    ``|success_rate_gap|``). One ``success_rate_gap`` row (an absolute value, so >= 0)."""
    human = _check_success(human, "human")
    B = human.shape[1]
    labels = _labels(groups, B, "batch ")
    pairs = _pairs_of(B)
    if not pairs:
        return [StatRow("success_rate_gap", np.nan, n=0, note="undefined: fewer than 2 human batches")]
    P = len(pairs)
    a = human[:, [i for i, _ in pairs]]
    b = human[:, [j for _, j in pairs]]
    present = ~np.isnan(a) & ~np.isnan(b)
    used = present.any(axis=1)
    if not used.any():
        return [StatRow("success_rate_gap", np.nan, n=0, note="undefined: no task has two human batches")]
    p = present.astype(float)
    C = np.hstack([p * np.nan_to_num(a), p * np.nan_to_num(b), p])[used]

    def per_pair(sums):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(sums[:, :P] - sums[:, P:2 * P]) / sums[:, 2 * P:]

    res = _boot(C, lambda s: _mean_std(per_pair(s)), n_boot, seed, ci_method, confidence)
    pp = per_pair(C.sum(axis=0)[None, :])[0]
    pl = [f"{labels[i]} vs {labels[j]}" for i, j in pairs]
    note = (f"human floor: mean |success difference| between pairs of human batches on the tasks both have "
            f"(absolute, unlike the signed LLM rows); population std {_std_txt(res, len(pairs))}; "
            f"{_per_group_note(pp, pl, 'pair')}; {_ci_note(n_boot, ci_method, 'task')}")
    return [StatRow("success_rate_gap", float(res.value[0]), float(res.ci_low[0]), float(res.ci_high[0]),
                    res.n_units, note)]


# ---------------------------------------------------------------------------------------------------------
# one dimension's answer distributions, matched by task
# ---------------------------------------------------------------------------------------------------------

def _task_props(unit_codes: np.ndarray, value_idx: np.ndarray, n_units: int, K: int) -> np.ndarray:
    """(n_units, K) share of each value among a unit's answers (rows of zeros for units without answers)."""
    counts = np.bincount(unit_codes * K + value_idx, minlength=n_units * K).reshape(n_units, K).astype(float)
    tot = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, counts / tot, 0.0)


def _distribution_stats(n, Pa, Pb, Lp, Sp, v):
    """Statistics of blocks: n (...), summed per-unit shares Pa, Pb (..., K), leniency / severity sums (...)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pa, pb = Pa / n[..., None], Pb / n[..., None]
        ma, mb = pa @ v, pb @ v
        va = np.maximum(pa @ v**2 - ma**2, 0.0)
        vb = np.maximum(pb @ v**2 - mb**2, 0.0)
        cum = np.cumsum(pa - pb, axis=-1)[..., :-1]
        w1 = (np.abs(cum) * np.diff(v)).sum(axis=-1)
        mid = (pa + pb) / 2.0
        kl_a = np.where(pa > 0, pa * np.log2(pa / mid), 0.0).sum(axis=-1)
        kl_b = np.where(pb > 0, pb * np.log2(pb / mid), 0.0).sum(axis=-1)
        js = np.clip((kl_a + kl_b) / 2.0, 0.0, 1.0)
        tiny = 1e-12
        vr = np.where(vb > tiny, np.where(va > tiny, va / vb, 0.0), np.nan)
        out = {"mean_diff": ma - mb, "wasserstein": w1, "js_divergence": js, "leniency_rate": Lp / n,
               "severity_rate": Sp / n, "variance_ratio": vr}
    bad = ~(n > 0)
    return {k: np.where(bad, np.nan, x) for k, x in out.items()}


def _value_axis(values, scale_values):
    v = _unique(np.concatenate([np.asarray(scale_values if scale_values is not None else [], dtype=float),
                                  np.asarray(values, dtype=float)]))
    return v


def matched_distribution_stats(llm_unit, llm_value, ref_unit, ref_group, ref_value, *, level: str,
                               scale_values=None, groups: Sequence | None = None,
                               statistics: Sequence[str] | None = None, n_boot: int = 1000, seed: int | None = 0,
                               ci_method: str = "percentile", confidence: float = 0.95) -> list[StatRow]:
    """One dimension: the LLM's answers against each reference group's answers on the same tasks.

    Parameters
    ----------
    llm_unit, llm_value : (n_l,) task id and answer value of every LLM answer (runs and samples pooled per task).
    ref_unit, ref_group, ref_value : (n_r,) task id, group (human batch) and value of every reference answer.
    level : the dimension's level (decides which statistics apply).
    scale_values : the dimension's option values (the value axis; observed values are added).

    Returns
    -------
    One row per statistic of :data:`MATCHED_STATISTICS` that applies at ``level``; each is computed against each
    group on the tasks both have, with every task weighted equally (a task's answers become its share of each
    value), then averaged over groups; the CI is a bootstrap over tasks.

    Notes
    -----
    With p_t and q_t the LLM's and the group's shares of each value on task t, P = mean_t p_t, Q = mean_t q_t:
    ``mean_diff`` = E_P[v] - E_Q[v] (> 0: the LLM answers higher); ``wasserstein`` = sum |F_P - F_Q| dv (scale
    points); ``js_divergence`` (base 2, in [0, 1]) between P and Q; ``leniency_rate`` = mean_t P(X > Y), X ~ p_t,
    Y ~ q_t (an LLM answer above a human answer to the same task), ``severity_rate`` = mean_t P(X < Y);
    ``variance_ratio`` = Var_P / Var_Q (< 1: the LLM uses less of the scale).
    """
    names = [s for s in MATCHED_STATISTICS if level in _LEVELS_OF[s] and (not statistics or s in statistics)]
    if not names:
        return []
    llm_unit, ref_unit = np.asarray(llm_unit), np.asarray(ref_unit)
    llm_value, ref_value = np.asarray(llm_value, dtype=float), np.asarray(ref_value, dtype=float)
    ref_group = np.asarray(ref_group)
    gvals = _unique(ref_group)
    G = gvals.size
    labels = _labels(groups, G, "group ") if groups is not None else [str(g) for g in gvals]
    units = np.intersect1d(_unique(llm_unit), _unique(ref_unit))
    if units.size == 0:
        return [StatRow(s, np.nan, n=0, note="undefined: no task has answers from both the LLM and the reference")
                for s in names]
    v = _value_axis(np.concatenate([llm_value, ref_value]), scale_values)
    K = v.size
    if K > MAX_CATEGORIES:
        return [StatRow(s, np.nan, n=int(units.size), note=f"undefined: {K} distinct values (more than "
                        f"{MAX_CATEGORIES}); the matched design compares histograms of answers") for s in names]
    lm = np.isin(llm_unit, units)
    rm = np.isin(ref_unit, units)
    lu = np.searchsorted(units, llm_unit[lm])
    ru = np.searchsorted(units, ref_unit[rm])
    rg = np.searchsorted(gvals, ref_group[rm])
    U = units.size
    p = _task_props(lu, np.searchsorted(v, llm_value[lm]), U, K)                               # (U, K)
    q = _task_props(ru * G + rg, np.searchsorted(v, ref_value[rm]), U * G, K).reshape(U, G, K)
    has_l = np.bincount(lu, minlength=U) > 0
    has_g = (np.bincount(ru * G + rg, minlength=U * G) > 0).reshape(U, G)
    present = (has_l[:, None] & has_g).astype(float)                                           # (U, G)
    q_below = np.cumsum(q, axis=-1) - q                                                        # P(Y < v_k)
    q_above = 1.0 - np.cumsum(q, axis=-1)                                                      # P(Y > v_k)
    len_t = np.einsum("uk,ugk->ug", p, q_below)
    sev_t = np.einsum("uk,ugk->ug", p, q_above)
    block = np.concatenate([present[..., None], present[..., None] * p[:, None, :], present[..., None] * q,
                            (present * len_t)[..., None], (present * sev_t)[..., None]], axis=-1)   # (U, G, 2K+3)
    width = 2 * K + 3
    C = block.reshape(U, G * width)

    def stats_of(sums):
        s = sums.reshape(sums.shape[0], G, width)
        d = _distribution_stats(s[..., 0], s[..., 1:K + 1], s[..., K + 1:2 * K + 1], s[..., 2 * K + 1],
                                s[..., 2 * K + 2], v)
        return d

    def finalize(sums):
        d = stats_of(sums)
        return np.column_stack([_mean_std(d[nm])[:, 0] for nm in names])

    res = _boot(C, finalize, n_boot, seed, ci_method, confidence)
    point = stats_of(C.sum(axis=0)[None, :])
    n_common = present.sum(axis=0)
    rows = []
    for j, nm in enumerate(names):
        per = point[nm][0]
        ms = _mean_std(per[None, :])[0]
        per_group_n = ", ".join(f"{lab}: {int(c)}" for lab, c in zip(labels, n_common))
        note = (f"{level}; matched by task ({U} tasks; shared with {per_group_n}); "
                f"each task weighted equally, LLM runs pooled per task; mean over {int((~np.isnan(per)).sum())} "
                f"reference group(s), population std {_fmt(ms[1])}; {_per_group_note(per, labels, 'group')}; "
                f"{_ci_note(n_boot, ci_method, 'task')}")
        if nm == "variance_ratio" and np.isnan(res.value[j]):
            note = "undefined: the reference answers do not vary; " + note
        if nm in ("wasserstein", "js_divergence") and res.n_units > 1 and n_boot > 0:
            note += _DISTANCE_CAVEAT
        rows.append(StatRow(nm, float(res.value[j]), float(res.ci_low[j]), float(res.ci_high[j]), res.n_units, note))
    return rows


def matched_distribution_between(ref_unit, ref_group, ref_value, *, level: str, scale_values=None,
                                 groups: Sequence | None = None, statistics: Sequence[str] | None = None,
                                 n_boot: int = 1000, seed: int | None = 0, ci_method: str = "percentile",
                                 confidence: float = 0.95) -> list[StatRow]:
    """``wasserstein`` and ``js_divergence`` between every pair of reference groups (human batches) on the tasks
    both have, averaged over pairs: how far two human batches' answer distributions lie apart (a noise floor for
    the LLM's rows; signed statistics are left out since they average to ~0 over pairs)."""
    names = [s for s in ("wasserstein", "js_divergence") if level in _LEVELS_OF[s]
             and (not statistics or s in statistics)]
    ref_group = np.asarray(ref_group)
    gvals = _unique(ref_group)
    G = gvals.size
    pairs = _pairs_of(G)
    if not names or not pairs:
        return []
    labels = _labels(groups, G, "group ") if groups is not None else [str(g) for g in gvals]
    ref_unit, ref_value = np.asarray(ref_unit), np.asarray(ref_value, dtype=float)
    units = _unique(ref_unit)
    v = _value_axis(ref_value, scale_values)
    K = v.size
    if K > MAX_CATEGORIES:
        return [StatRow(s, np.nan, n=int(units.size), note=f"undefined: {K} distinct values (more than "
                        f"{MAX_CATEGORIES})") for s in names]
    U = units.size
    ru = np.searchsorted(units, ref_unit)
    rg = np.searchsorted(gvals, ref_group)
    q = _task_props(ru * G + rg, np.searchsorted(v, ref_value), U * G, K).reshape(U, G, K)
    has_g = (np.bincount(ru * G + rg, minlength=U * G) > 0).reshape(U, G)
    blocks = []
    for i, j in pairs:
        pres = (has_g[:, i] & has_g[:, j]).astype(float)[:, None]
        blocks.append(np.hstack([pres, pres * q[:, i], pres * q[:, j]]))
    C = np.stack(blocks, axis=1)                                                               # (U, P, 2K+1)
    used = C[..., 0].any(axis=1)
    if not used.any():
        return [StatRow(s, np.nan, n=0, note="undefined: no task has answers from two human batches") for s in names]
    C = C[used]
    P, width = len(pairs), 2 * K + 1
    C = C.reshape(C.shape[0], P * width)

    def stats_of(sums):
        s = sums.reshape(sums.shape[0], P, width)
        z = np.zeros(s.shape[:2])
        return _distribution_stats(s[..., 0], s[..., 1:K + 1], s[..., K + 1:], z, z, v)

    def finalize(sums):
        d = stats_of(sums)
        return np.column_stack([_mean_std(d[nm])[:, 0] for nm in names])

    res = _boot(C, finalize, n_boot, seed, ci_method, confidence)
    point = stats_of(C.sum(axis=0)[None, :])
    pl = [f"{labels[i]} vs {labels[j]}" for i, j in pairs]
    rows = []
    for j, nm in enumerate(names):
        per = point[nm][0]
        ms = _mean_std(per[None, :])[0]
        rows.append(StatRow(nm, float(res.value[j]), float(res.ci_low[j]), float(res.ci_high[j]), res.n_units,
                            f"{level}; human floor: between pairs of human batches on the tasks both have, each task "
                            f"weighted equally; mean over {len(pairs)} pair(s), population std {_fmt(ms[1])}; "
                            f"{_per_group_note(per, pl, 'pair')}; {_ci_note(n_boot, ci_method, 'task')}"
                            + (_DISTANCE_CAVEAT if res.n_units > 1 and n_boot > 0 else "")))
    return rows


# Registered as matched_<name> (rows call them <name>, design "matched"): lookups by name alone (get(name) without
# a kind) must keep finding the paired statistic of the same name.
for _name in MATCHED_STATISTICS:
    register(f"matched_{_name}", kind="matched", levels=_LEVELS_OF[_name],
             symmetric=_name in ("wasserstein", "js_divergence"),
             higher_is_better=False if _name in ("wasserstein", "js_divergence") else None,
             maximum=1.0 if _name == "variance_ratio" else 0.0, row_statistic=_name,
             doc=f"{_name} between an LLM's and humans' answers to one dimension, matched by task (rows name it "
                 f"'{_name}' with design 'matched'); see matched_distribution_stats.")(matched_distribution_stats)
