"""The τ-USI score of an LLM user simulator: behavioural similarity D1–D4, Eval and outcome calibration in one number.

Definition (the study's released scorer, OdysSim ``agents/tau_usi/usi_metric.py``, Apache-2.0; README "The
evaluative gap"): for each human batch b,

- D1–D4: Dice–Sørensen similarity (×100, averaged over each dimension's features) between the simulator's pooled
  feature row (per run: mean over its conversations on the tasks it shares with batch b; then the mean over runs)
  and batch b's row (mean over its conversations on the tasks any run shares with it); features per conversation in
  :mod:`auditor.stats.usi_behaviour`;
- ECE_b: the outcome ECE against batch b (per run, then averaged over runs; :func:`auditor.stats.gap.outcome_ece`);
- USI_b = (D1 + D2 + D3 + D4 + Eval + (1 − ECE_b)·100) / 6, with Eval the simulator's Eval averaged over batches
  (the scorer uses that one mean in every batch's USI); without survey answers (no Eval) the mean of the other five.

USI = mean over batches of USI_b; each D is also reported as its mean over batches. Interval: a percentile
bootstrap over tasks that resamples all parts together (features, successes and Eval scores of a task move as one
unit), so the interval of USI accounts for the correlation between its parts. Level: interval (0–100 scores).
"""

from __future__ import annotations

import numpy as np

from ._gap_common import _boot, _ci_note
from ._gap_outcome import _ece_pairs
from ._result import StatRow
from .usi_behaviour import DIMENSIONS, FEATURES

__all__ = ["USI_STATISTICS", "usi_rows", "FEATURE_PREFIX"]

USI_STATISTICS = ["usi", "usi_d1_conv", "usi_d2_info", "usi_d3_clarif", "usi_d4_react"]
FEATURE_PREFIX = "usi_feature="
_DIM_COLS = [[FEATURES.index(f) for f in DIMENSIONS[d]] for d in USI_STATISTICS[1:]]
_DIM_FEATURES = sorted({f for d in USI_STATISTICS[1:] for f in DIMENSIONS[d]}, key=FEATURES.index)


def _dice(h: np.ndarray, m: np.ndarray) -> np.ndarray:
    h, m = np.abs(h), np.abs(m)
    s = h + m
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 2.0 * np.minimum(h, m) / s, 1.0)


def _g(v: float) -> str:
    return "n/a" if np.isnan(v) else f"{v:.3g}"


def usi_rows(model_feats: np.ndarray, human_feats: np.ndarray, sim_success: np.ndarray, human_success: np.ndarray,
             bins: np.ndarray, eval_scores: np.ndarray | None, *, n_bins: int = 5, n_boot: int = 1000, seed=0,
             ci_method: str = "percentile", confidence: float = 0.95, features: bool = True,
             per_group: bool = False) -> list[StatRow]:
    """USI and D1–D4 rows (and, with ``features``, one ``usi_feature=<name>`` row per feature: its Dice ×100).

    Parameters
    ----------
    model_feats : (T, R, F) features of run r's conversation on task t (NaN: no conversation, or no user turn).
    human_feats : (T, B, F) features of batch b's conversation on task t (NaN where none).
    sim_success, human_success : (T, R) and (T, B) task success, NaN where missing (as for ``outcome_ece``).
    bins : (T,) difficulty bin per task, -1 = none.
    eval_scores : (T, B) per-task Eval against each batch, NaN where none; None = no survey answers.
    per_group : the "simulator" differs per group: ``model_feats`` (T, R, B, F) and ``sim_success`` (T, R, B) (the
        human ceiling: group = a pair of batches, one batch in the simulator's place).
    """
    B = human_feats.shape[1]
    if not per_group:
        model_feats = np.repeat(model_feats[:, :, None, :], B, axis=2)
        sim_success = np.repeat(sim_success[:, :, None], B, axis=2)
    T, R, _, F = model_feats.shape
    has_m = ~np.isnan(model_feats).any(axis=3)              # (T, R, B)
    has_h = ~np.isnan(human_feats).any(axis=2)              # (T, B)
    run_has_task = ~np.isnan(sim_success) | has_m           # a run "has" a task when it has a conversation on it
    batch_has_task = ~np.isnan(human_success) | has_h
    both = run_has_task & batch_has_task[:, None, :]        # (T, R, B)
    mw = (both & has_m).astype(float)
    MF = np.where(mw[..., None] > 0, np.nan_to_num(model_feats), 0.0)      # (T, R, B, F)
    any_run = both.any(axis=1)                                                 # (T, B)
    hw = (any_run & has_h).astype(float)
    HF = np.where(hw[..., None] > 0, np.nan_to_num(human_feats), 0.0)          # (T, B, F)
    ece_C, per_pair, _ = _ece_pairs(sim_success.reshape(T, R * B), np.tile(human_success, (1, R)), bins, n_bins)
    parts = [MF.reshape(T, -1), mw.reshape(T, -1), HF.reshape(T, -1), hw, ece_C]
    if eval_scores is not None:
        ok = ~np.isnan(eval_scores)
        parts += [np.where(ok, eval_scores, 0.0), ok.astype(float)]
    C = np.hstack(parts)
    sizes = np.cumsum([p.shape[1] for p in parts])[:-1]

    def pooled(sums):
        """(m, B, F) pooled simulator and human feature rows per batch."""
        m = sums.shape[0]
        blocks = np.split(sums, sizes, axis=1)
        mf, mn = blocks[0].reshape(m, R, B, F), blocks[1].reshape(m, R, B)
        hf, hn = blocks[2].reshape(m, B, F), blocks[3]
        with np.errstate(invalid="ignore", divide="ignore"):
            run_rows = mf / mn[..., None]                                   # (m, R, B, F)
            cnt = (mn > 0).sum(axis=1)                                      # runs per batch
            model_row = np.where(mn[..., None] > 0, run_rows, 0.0).sum(axis=1) / cnt[..., None]      # (m, B, F)
            return model_row, hf / hn[..., None], blocks

    def finalize(sums):
        m = sums.shape[0]
        model_row, human_row, blocks = pooled(sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = _dice(human_row, model_row)                               # (m, B, F)
            sim[np.isnan(model_row) | np.isnan(human_row)] = np.nan
            dims = np.stack([sim[..., cols].mean(axis=-1) * 100 for cols in _DIM_COLS], axis=-1)   # (m, B, 4)
            ece = per_pair(blocks[4]).reshape(m, R, B)
            ece_b = np.nanmean(np.where(np.isnan(ece), np.nan, ece), axis=1) if R else np.full((m, B), np.nan)
            parts_b = [dims[..., k] for k in range(4)] + [(1 - ece_b) * 100]
            if eval_scores is not None:
                ev = blocks[5] / blocks[6]                                  # (m, B)
                ea = np.nanmean(ev, axis=1)
                parts_b.append(np.broadcast_to(ea[:, None], (m, B)))
            usi_b = np.mean(np.stack(parts_b, axis=-1), axis=-1)           # NaN where a part is missing
            out = [np.nanmean(usi_b, axis=1)] + [np.nanmean(dims[..., k], axis=1) for k in range(4)]
            if features:
                out += [np.nanmean(sim[..., FEATURES.index(f)], axis=1) * 100 for f in _DIM_FEATURES]
        return np.stack(out, axis=1)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # nanmean of an all-NaN slice: NaN, said in the note
        res = _boot(C, finalize, n_boot, seed, ci_method, confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m_row, h_row, _ = pooled(C.sum(axis=0)[None, :])
        m_mean, h_mean = np.nanmean(m_row[0], axis=0), np.nanmean(h_row[0], axis=0)      # (F,) over batches
    n_tasks = int(both.any(axis=(1, 2)).sum())
    eval_txt = "Eval averaged over batches" if eval_scores is not None else "no Eval (no survey answers): mean of 5"
    base = (f"interval (0-100); {n_tasks} tasks shared with a human batch, {R} run(s), {B} batch(es); "
            f"{_ci_note(n_boot, ci_method, 'task')} (all parts resampled together)")
    notes = [f"USI = mean over batches of (D1 + D2 + D3 + D4 + {eval_txt} + (1 - outcome ECE) x 100) / "
             f"{6 if eval_scores is not None else 5}; {base}"]
    notes += [f"Dice-Sorensen similarity x 100 of the pooled user-turn features {', '.join(DIMENSIONS[d])} "
              f"(simulator vs each human batch, mean over batches); {base}" for d in USI_STATISTICS[1:]]
    names = list(USI_STATISTICS)
    if features:
        names += [FEATURE_PREFIX + f for f in _DIM_FEATURES]
        notes += [f"Dice-Sorensen similarity x 100 of the feature {f}: simulator "
                  f"{_g(m_mean[FEATURES.index(f)])} vs humans {_g(h_mean[FEATURES.index(f)])} (pooled means, averaged "
                  f"over batches; 100 = same mean); {base}" for f in _DIM_FEATURES]
    rows = []
    for k, (name, note) in enumerate(zip(names, notes)):
        v = float(res.value[k])
        if np.isnan(v):
            note = ("undefined: no human batch shares a task with this simulator's conversations with user turns"
                    + ("" if name != "usi" else " (or no outcome ECE: rewards and a task difficulty are needed)")
                    + "; " + note)
        rows.append(StatRow(name, v, float(res.ci_low[k]), float(res.ci_high[k]), res.n_units if n_tasks else 0,
                            note))
    return rows
