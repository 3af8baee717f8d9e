"""One dimension's answer distributions matched by task: mean shift, Wasserstein, JS divergence, leniency, ..."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._arrays import unique as _unique
from ._registry import register
from ._result import StatRow
from ._gap_common import (MATCHED_STATISTICS, MAX_CATEGORIES, _DISTANCE_CAVEAT, _LEVELS_OF, _boot, _ci_note, _fmt,
                          _labels, _mean_std, _pairs_of, _per_group_note)


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
