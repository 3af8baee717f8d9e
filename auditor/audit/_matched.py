"""The matched design (same task, different conversations) and the tau-bench study's evaluative-gap rows.

Two hooks of the audit loop (:mod:`auditor.audit._run`):

- :func:`matched_rows` -- per dimension, an LLM user's answers about its own conversations against the humans'
  answers about theirs, grouped by task (and human batch); unit of resampling = task.
- :func:`overall_rows` -- per rubric (dimension ``all``): ``eval_score`` for matched raters (per task) and paired
  raters (per conversation), ``outcome_ece`` and ``success_rate_gap`` for matched raters, and the human ceilings
  (rater ``human_loo``): Eval / outcome ECE / |success gap| between pairs of human batches, the per-dimension
  Wasserstein and JS divergence between pairs of batches, and, for paired data, Eval between two humans on the
  same conversation.

Conventions (README "The evaluative gap"):
- conversations with ``keep`` false are left out everywhere (both sides);
- a missing answer (status ``not_answered`` or ``failed``) is left out and counted in the note, never imputed,
  unless ``AuditOptions.extra["eval_impute"]`` is true: then Eval draws a random valid value per missing answer
  (``numpy.random.default_rng(extra.get("eval_impute_seed", 42))``, one draw at a time in the order human batch,
  task id, run, dimension), as the study's released scorer does;
- a simulator's runs: ``metadata.run`` (tau-usi ingest) or ``metadata.trial`` (tau-bench ingest), else the rank of
  the conversation id within the task; success = reward > 0 (as the released scorer);
- task difficulty: ``AuditOptions.extra["difficulty_file"]`` (a frozen map such as the study's
  ``tau_usi_difficulty.json``) if given, else the success rate pooled over every simulator run in the store
  (tasks with >= ``extra.get("difficulty_min_runs", 10)`` runs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import gap
from ..stats._arrays import unique as _unique
from ..stats._result import StatRow
from . import _fetch
from ._matched_data import (DIFFICULTY_KEY, _answers, _as_dicts, _batch_label, _boot_kw, _excluded_conv_keys,
                            _keep_wanted, _names_of, _nan_rows, _not_answered, _outcomes, _ref_name, _want,
                            load_difficulty_file)
from ._matched_eval import _eval_ceiling_matched, _eval_ceiling_paired, _eval_matched, _eval_paired

__all__ = ["matched_rows", "overall_rows", "load_difficulty_file", "DIFFICULTY_KEY"]


# ---------------------------------------------------------------------------------------------------------
# per dimension
# ---------------------------------------------------------------------------------------------------------

def matched_rows(store, sig, rubric, dim, name, raters, ref_idx, opts) -> list[dict]:
    """One dimension, one LLM rater, matched by task: ``mean_diff``, ``wasserstein``, ``js_divergence``,
    ``leniency_rate``, ``severity_rate``, ``variance_ratio`` (those that apply at the level), each computed against
    each human batch on the tasks both have and averaged over batches (see :func:`gap.matched_distribution_stats`).
    """
    idx = raters[name].index
    lm = sig.rater == idx
    if not lm.any():
        return []
    names = [s for s in gap.matched_statistics_for(dim.level) if _want(opts, s)]
    if not names:
        return []
    ctx = dict(rater=name, reference=_ref_name(opts), design="matched", rubric=rubric.name, dimension=dim.name,
               level=dim.level)
    drop = np.isin(sig.conv, _excluded_conv_keys(store))
    rm = np.isin(sig.rater, ref_idx) & (sig.rater != idx) & ~drop & (sig.task >= 0)
    lm &= ~drop
    if not (lm & (sig.task >= 0)).any():
        return _as_dicts(_nan_rows(names, "none of this rater's answers is on a conversation tied to a task (the "
                                   "matched design compares answers task by task). Fix: load conversations with "
                                   "task ids (auditor ingest tau-usi / tau-bench / conversations)"), **ctx)
    lm &= sig.task >= 0
    if not rm.any():
        return _as_dicts(_nan_rows(names, "no reference answer on a conversation tied to a task"), **ctx)
    gvals = _unique(sig.batch[rm])
    rows = gap.matched_distribution_stats(sig.task[lm], sig.value[lm], sig.task[rm], sig.batch[rm],
                                          sig.value[rm], level=dim.level, scale_values=dim.distinct_values,
                                          groups=[_batch_label(int(b)) for b in gvals], statistics=names,
                                          **_boot_kw(opts))
    miss, tot = _not_answered(store, rubric.name, dim.name, name)
    prefix = f"{miss} of {tot} answers of this rater not answered (left out, never imputed); " if miss else ""
    return _as_dicts(rows, prefix, **ctx)


# ---------------------------------------------------------------------------------------------------------
# outcome ECE and success-rate gap
# ---------------------------------------------------------------------------------------------------------

def _success_matrix(convs: pd.DataFrame, col: str, index) -> tuple[np.ndarray, list]:
    if convs.empty:
        return np.full((len(index), 0), np.nan), []
    t = convs.assign(s=(convs["reward"] > 0).astype(float)).pivot_table(index="task", columns=col, values="s",
                                                                          aggfunc="mean")
    t = t.reindex(index=index)
    return t.to_numpy(dtype=float), list(t.columns)


def _with_runs(sim: pd.DataFrame) -> pd.DataFrame:
    sim = sim.sort_values(["task", "conv"]).copy()
    rank = sim.groupby("task").cumcount() + 1
    sim["run"] = sim["run"].astype("Float64").fillna(rank.astype("Float64")).astype(float)
    return sim


def _difficulty(store, convs, rated, raters, opts) -> tuple[dict, str]:
    path = opts.extra.get(DIFFICULTY_KEY)
    if path:
        d = load_difficulty_file(path)
        return d, f"difficulty: frozen map {Path(path).name} ({len(d)} tasks)"
    min_runs = int(opts.extra.get("difficulty_min_runs", gap.MIN_POOLED_RUNS))
    sim_raters = [n for n, i in raters.items() if i.kind == "simulator"]
    sim_convs = set(rated.loc[rated["rater"].isin(sim_raters), "conv"])
    is_sim = (convs["user_kind"].notna() & (convs["user_kind"] != "human")) | convs["conv"].isin(sim_convs)
    pool = convs[is_sim & (convs["user_kind"].fillna("") != "human") & convs["keep"] & convs["reward"].notna()]
    d = gap.pooled_difficulty(pool["task"], (pool["reward"] > 0).astype(float), min_runs=min_runs)
    n_users = pool["user_kind"].nunique()
    return d, (f"difficulty: success pooled over the {len(pool)} simulator runs in the store ({n_users} simulator(s)); "
               f"{len(d)} of {pool['task'].nunique()} tasks have >= {min_runs} runs")


def _outcome_rows(store, rubric, name, ref_names, raters, opts, convs, rated, difficulty, diff_note):
    want_ece, want_gap = _want(opts, "outcome_ece"), _want(opts, "success_rate_gap")
    rater_convs = set(rated.loc[rated["rater"] == name, "conv"]) | set(convs.loc[convs["user_kind"] == name, "conv"])
    own = convs["conv"].isin(rater_convs) & (convs["user_kind"].fillna("") != "human")
    rater_convs = set(convs.loc[own, "conv"])
    sim = convs[own & convs["keep"] & convs["reward"].notna()]
    ref_convs = set(rated.loc[rated["rater"].isin(ref_names), "conv"])
    if not opts.reference:
        ref_convs |= set(convs.loc[convs["user_kind"] == "human", "conv"])
    hum = convs[convs["conv"].isin(ref_convs - rater_convs) & convs["keep"] & convs["reward"].notna()]
    names = (["outcome_ece", "outcome_ece_batch_std"] if want_ece else []) + \
            (["success_rate_gap", "success_rate_gap_batch_std"] if want_gap else [])
    if sim.empty:
        return _nan_rows(names, "none of this rater's own conversations (as the user; user_kind not 'human') has "
                         "a task and a reward. Fix: load its runs with their rewards (auditor ingest tau-usi / "
                         "tau-bench)")
    if hum.empty:
        return _nan_rows(names, "no human conversation has a task and a reward")
    tasks = sorted(set(sim["task"]) | set(hum["task"]))
    S, runs = _success_matrix(_with_runs(sim), "run", tasks)
    H, batches = _success_matrix(hum, "batch", tasks)
    labels = [_batch_label(int(b)) for b in batches]
    out = []
    if want_ece:
        d = np.array([difficulty.get(t, np.nan) for t in tasks])
        bins = gap.difficulty_bins(d)
        n_nodiff = int(np.sum(np.isnan(d) & ~np.isnan(S).all(axis=1) & ~np.isnan(H).all(axis=1)))
        if not difficulty:
            out += _nan_rows(["outcome_ece", "outcome_ece_batch_std"], f"no task difficulty ({diff_note}). Fix: "
                             "load more simulator runs, or pass a frozen difficulty map (CLI --difficulty FILE, "
                             f"AuditOptions.extra['{DIFFICULTY_KEY}'])")
        else:
            prefix = (f"{diff_note}; bins by cut points 0.2/0.4/0.6/0.8; "
                      + (f"{n_nodiff} shared task(s) without a difficulty left out; " if n_nodiff else "")
                      + "success = reward > 0; keep=false conversations left out; ")
            rows = gap.outcome_ece(S, H, bins, groups=labels, **_boot_kw(opts))
            out += [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, prefix + r.note) for r in rows]
    if want_gap:
        out += gap.success_rate_gap(S, H, groups=labels, **_boot_kw(opts))
    return out


def _outcome_ceiling(convs, rated, human_names, difficulty, diff_note, opts) -> list[StatRow]:
    hconvs = set(rated.loc[rated["rater"].isin(human_names), "conv"]) | set(convs.loc[convs["user_kind"] == "human",
                                                                                     "conv"])
    hum = convs[convs["conv"].isin(hconvs) & convs["keep"] & convs["reward"].notna()]
    if hum["batch"].nunique() < 2:
        return []
    tasks = sorted(set(hum["task"]))
    H, batches = _success_matrix(hum, "batch", tasks)
    labels = [_batch_label(int(b)) for b in batches]
    out = []
    if _want(opts, "outcome_ece"):
        if difficulty:
            bins = gap.difficulty_bins(np.array([difficulty.get(t, np.nan) for t in tasks]))
            out += [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, f"{diff_note}; " + r.note)
                    for r in gap.outcome_ece_between(H, bins, groups=labels, **_boot_kw(opts))]
        else:
            out += _nan_rows(["outcome_ece"], f"no task difficulty ({diff_note})")
    if _want(opts, "success_rate_gap"):
        out += gap.success_rate_gap_between(H, groups=labels, **_boot_kw(opts))
    return out


# ---------------------------------------------------------------------------------------------------------
# per rubric
# ---------------------------------------------------------------------------------------------------------

def _dimension_ceilings(store, rubric, dims, human_idx, opts) -> list[dict]:
    out = []
    drop = _excluded_conv_keys(store)
    for dim in dims:
        sig = _fetch.dimension_signals(store, rubric.name, dim.name)
        m = np.isin(sig.rater, human_idx) & ~np.isin(sig.conv, drop) & (sig.task >= 0)
        if not m.any():
            continue
        gvals = _unique(sig.batch[m])
        rows = gap.matched_distribution_between(sig.task[m], sig.batch[m], sig.value[m], level=dim.level,
                                                scale_values=dim.distinct_values,
                                                groups=[_batch_label(int(b)) for b in gvals],
                                                statistics=opts.statistics, **_boot_kw(opts))
        out += _as_dicts(rows, rater="human_loo", reference="humans", design="matched", rubric=rubric.name,
                         dimension=dim.name, level=dim.level)
    return out


def overall_rows(store, rubric, design_of: dict[str, str], raters, ref_idx, human_idx, opts) -> list[dict]:
    """The rubric-level rows (dimension ``all``): Eval for every audited rater, outcome ECE and success-rate gap for
    matched raters, and the human ceilings (rater ``human_loo``) when the reference is the humans."""
    if not design_of:
        return []
    dims = [d for d in rubric.dimensions if not opts.dimensions or d.name in opts.dimensions]
    matched = [n for n, d in design_of.items() if d == "matched"]
    paired = [n for n, d in design_of.items() if d == "paired"]
    ref_names = _names_of(raters, ref_idx)
    human_names = _names_of(raters, human_idx)
    ceiling = opts.ceiling and not opts.reference
    base = dict(reference=_ref_name(opts), rubric=rubric.name, dimension="all")
    out: list[dict] = []
    if _want(opts, "eval_score") and dims:
        ans = _answers(store, rubric, dims)
        for name in matched:
            rows = _keep_wanted(_eval_matched(ans, name, ref_names, dims, rubric, opts, store, raters), opts)
            out += _as_dicts(rows, rater=name, design="matched", level="interval", **base)
        for name in paired:
            rows = _keep_wanted(_eval_paired(ans, name, ref_names, dims, rubric, opts, store, raters), opts)
            out += _as_dicts(rows, rater=name, design="paired", level="interval", **base)
        if ceiling and matched:
            out += _as_dicts(_keep_wanted(_eval_ceiling_matched(ans, human_names, dims, rubric, opts, raters),
                                            opts),
                             rater="human_loo", design="matched", level="interval", **base)
        if ceiling and paired:
            out += _as_dicts(_keep_wanted(_eval_ceiling_paired(ans, human_names, dims, rubric, opts, raters),
                                            opts),
                             rater="human_loo", design="paired", level="interval", **base)
    if matched and (_want(opts, "outcome_ece") or _want(opts, "success_rate_gap")):
        convs, rated = _outcomes(store, rubric.name)
        difficulty, diff_note = ({}, "not needed") if not _want(opts, "outcome_ece") else \
            _difficulty(store, convs, rated, raters, opts)
        for name in matched:
            rows = _outcome_rows(store, rubric, name, ref_names, raters, opts, convs, rated, difficulty, diff_note)
            out += _as_dicts(_keep_wanted(rows, opts), rater=name, design="matched", level="binary", **base)
        if ceiling:
            out += _as_dicts(_keep_wanted(_outcome_ceiling(convs, rated, human_names, difficulty, diff_note, opts),
                                          opts), rater="human_loo", design="matched", level="binary", **base)
    if matched and _wants_usi(opts):
        from ._usi import usi_rows_for

        convs, rated = _outcomes(store, rubric.name)
        difficulty, diff_note = _difficulty(store, convs, rated, raters, opts)
        ans = _answers(store, rubric, dims) if dims else None
        for name in matched:
            rows = usi_rows_for(store, rubric, name, ref_names, raters, opts, convs, rated, difficulty, diff_note,
                                ans, dims)
            out += _as_dicts(rows, rater=name, design="matched", level="interval", **base)
        if ceiling:
            from ._usi import usi_ceiling_rows

            out += _as_dicts(usi_ceiling_rows(store, human_names, opts, convs, rated, difficulty, diff_note, ans,
                                              dims), rater="human_loo", design="matched", level="interval", **base)
    if ceiling and matched:
        out += _dimension_ceilings(store, rubric, dims, human_idx, opts)
    return out



def _wants_usi(opts) -> bool:
    """(:func:`auditor.audit._usi.wants_usi` without importing the feature definitions for a paired audit)."""
    return not opts.statistics or any(s.startswith("usi") for s in opts.statistics)
