"""Outcome calibration (ECE by task difficulty) and the success-rate gap between LLM users and human batches."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._registry import register
from ._result import StatRow
from ._gap_common import (CUT_POINTS, _boot, _ci_note, _fmt, _labels, _mean_std, _nanmean_axis, _pairs_of,
                          _per_group_note, _std_row, _std_txt)


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
