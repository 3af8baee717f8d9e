"""Eval: the tau-bench study's per-unit agreement score of an LLM user's answers with the human batches'."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ._arrays import unique as _unique
from ._registry import register
from ._result import StatRow
from ._gap_common import _boot, _ci_note, _labels, _mean_std, _per_group_note, _std_row, _std_txt


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
