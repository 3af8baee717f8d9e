"""Eval rows of the matched and paired designs (the tau-bench study's agreement score) and their human ceilings."""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..stats import gap
from ..stats._arrays import unique as _unique
from ..stats._result import StatRow
from ._matched_data import _batch_label, _boot_kw, _nan_rows, _not_answered, _sel, _span


# ---------------------------------------------------------------------------------------------------------
# Eval
# ---------------------------------------------------------------------------------------------------------

def _unit_scores(ref: dict, other: dict, ref_unit: str, other_unit: str, *, nominal, impute=None, rng=None,
                 distinct_items=False, item_key="item"):
    """:func:`gap.eval_unit_scores_codes` on two answer subsets; returns (unit codes, score, n_pairs, n_missing)."""
    ok = ~np.isnan(ref["value"])
    if not ok.any() or other["value"].size == 0:
        return None
    ur = ref[ref_unit][ok]
    uo = other[other_unit]
    n_units = int(max(ur.max(), uo.max())) + 1
    ir, io = ref[item_key][ok], other[item_key]
    n_items = int(max(ir.max(), io.max())) + 1
    n_dims = int(max(ref["dim"].max(), other["dim"].max())) + 1
    nom = np.zeros(n_dims, dtype=bool)
    nom[[i for i in nominal if i < n_dims]] = True
    return gap.eval_unit_scores_codes(ur, ir, ref["dim"][ok], ref["value"][ok], uo, io, other["dim"],
                                      other["value"], n_units=n_units, n_items=n_items, n_dims=n_dims, nominal=nom,
                                      distinct_items=distinct_items, impute=impute, rng=rng)


def _series(res) -> pd.Series:
    if res is None:
        return pd.Series([], dtype=float)
    return pd.Series(res[1], index=res[0])


def _eval_matrix(ref: dict, other: dict, unit: str, groups, *, nominal, impute, rng) -> pd.DataFrame:
    """(units x groups) per-unit Eval of ``other`` against each human batch of ``ref``."""
    cols = {}
    missing = 0
    for g in groups:
        res = _unit_scores(_sel(ref, ref["batch"] == g), other, unit, unit, nominal=nominal, impute=impute, rng=rng)
        cols[g] = _series(res)
        missing += int(res[3].sum()) if res is not None else 0
    M = pd.DataFrame(cols)
    M.attrs["n_missing_pairs"] = missing
    return M


_DENSE_SHEET_CELLS = 64_000_000     # conversations x sheet slots x dimensions held densely (8 bytes each)


def _sheets(ans: dict, n_dims: int):
    """Every rater's answer sheets per conversation, densely (computed once per :func:`_answers`): ``S``
    (conversations, slots, dims) rescaled answers (NaN = none), ``present`` (conversations, slots), each rater's
    slots and each conversation's batch; slot = (rater, sample) in item order. None when the dense array would
    exceed ``_DENSE_SHEET_CELLS``. Row order does not matter here (each answer has its own cell)."""
    if "sheets" in ans:
        return ans["sheets"]
    n_s, n_r = ans["n_samples"], ans["n_raters"]
    U = int(ans["conv"].max()) + 1 if ans["conv"].size else 0
    K = n_r * n_s
    if U == 0 or U * K * n_dims > _DENSE_SHEET_CELLS:
        ans["sheets"] = None
        return None
    slot = ans["rater"].astype(np.int64) * n_s + ans["srank"]
    S = np.full((U, K, n_dims), np.nan)
    S[ans["conv"], slot, ans["dim"]] = ans["value"]
    present = np.zeros((U, K), dtype=bool)
    present[ans["conv"], slot] = True
    slots = {r: list(range(r * n_s, (r + 1) * n_s)) for r in range(n_r)}
    batch = np.full(U, -1, dtype=np.int64)          # each conversation's human batch
    batch[ans["conv"]] = ans["batch"]
    ans["sheets"] = (S, present, slots, batch)
    return ans["sheets"]


def _sheet_matrix(ans, ref_idx, other_idx, n_dims, nominal, *, distinct_items=False, min_answered=0):
    """(conversations x human batches) per-conversation Eval from :func:`_sheets` (paired design, no imputation):
    the same matrix as :func:`_eval_matrix` builds pair by pair. ``min_answered`` keeps only conversations with at
    least that many answered reference sheets. None when the sheets are too large to hold densely."""
    sh = _sheets(ans, n_dims)
    if sh is None:
        return None
    S, present, slots, batch = sh
    ref_slots = [k for r in sorted(set(ref_idx)) for k in slots.get(r, [])]
    other_slots = [k for r in sorted(set(other_idx)) for k in slots.get(r, [])]
    nom = np.zeros(n_dims, dtype=bool)
    nom[list(nominal)] = True
    res = gap.eval_sheet_scores(S, present, ref_slots, other_slots, nominal=nom, distinct_items=distinct_items)
    keep = np.ones(S.shape[0], dtype=bool)
    if min_answered:
        keep = (~np.isnan(S[:, ref_slots, :])).any(axis=2).sum(axis=1) >= min_answered
        groups = sorted(_unique(batch[keep]).tolist()) if keep.any() else []
    else:       # the batches of conversations with a reference sheet and another sheet (as the pair path)
        both = present[:, ref_slots].any(axis=1) & present[:, other_slots].any(axis=1)
        groups = sorted(_unique(batch[both]).tolist())
    del S, present
    cols = {}
    for g in groups:
        if res is None:
            cols[g] = pd.Series([], dtype=float)
            continue
        units, score = res[0], res[1]
        m = (batch[units] == g) & keep[units]
        cols[g] = pd.Series(score[m], index=units[m])
    return pd.DataFrame(cols)


def _impute_spec(rubric_dims, opts):
    if not opts.extra.get("eval_impute"):
        return None, None
    spec = {}
    for i, d in enumerate(rubric_dims):
        lo, hi = d.value_range
        spec[i] = list(gap.rescale_unit(np.array(d.distinct_values), lo, hi))
    return spec, np.random.default_rng(int(opts.extra.get("eval_impute_seed", 42)))


_EVAL_DEF = ("Eval = 100*(1 - mean |human - LLM|) over the dimensions the human answered, each answer rescaled to "
             "[0, 1] by its dimension's option values")


def _dims_note(dims, rubric) -> str:
    return "" if len(dims) == len(rubric.dimensions) else f"over dimensions {', '.join(d.name for d in dims)} only; "


def _eval_matched(ans, name, ref_names, dims, rubric, opts, store, raters) -> list[StatRow]:
    idx = raters[name].index
    ref_idx = [raters[n].index for n in ref_names]
    tasked = ans["task"] >= 0
    llm = _sel(ans, (ans["rater"] == idx) & tasked)
    ref = _sel(ans, np.isin(ans["rater"], ref_idx) & (ans["rater"] != idx) & tasked)
    names = ["eval_score", "eval_score_batch_std"]
    if llm["value"].size == 0:
        return _nan_rows(names, "none of this rater's answers is on a conversation tied to a task")
    if (~np.isnan(ref["value"])).sum() == 0:
        return _nan_rows(names, "no reference answer on a conversation tied to a task")
    groups = sorted(_unique(ref["batch"]).tolist())
    impute, rng = _impute_spec(dims, opts)
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    M = _eval_matrix(ref, llm, "task", groups, nominal=nominal, impute=impute, rng=rng)
    tc = _unique(llm["task"].astype(np.int64) * (int(llm["conv"].max()) + 1) + llm["conv"])
    runs = pd.Series(np.unique(tc // (int(llm["conv"].max()) + 1), return_counts=True)[1])
    miss, tot = _not_answered(store, rubric.name, None, name)
    miss_note = (f"{miss} of {tot} answers of this rater not answered: "
                 + ("imputed with a random valid value (the released scorer's rule, extra eval_impute)" if impute
                    else "left out, never imputed (extra eval_impute=True imitates the released scorer)")
                 if miss else "no answer missing")
    prefix = (f"matched by task: the LLM's answers about its own conversations against each human batch's answers "
              f"about theirs; {_EVAL_DEF}; per task averaged over the LLM's runs ({_span(runs)} per task); "
              f"conversations with keep=false left out; {_dims_note(dims, rubric)}"
              f"{miss_note}; ")
    rows = gap.eval_score(M.to_numpy(dtype=float), groups=[_batch_label(int(g)) for g in M.columns], unit="task",
                          **_boot_kw(opts))
    return [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, prefix + r.note) for r in rows]


def _eval_paired(ans, name, ref_names, dims, rubric, opts, store, raters) -> list[StatRow]:
    idx = raters[name].index
    ref_idx = [raters[n].index for n in ref_names]
    names = ["eval_score", "eval_score_batch_std"]
    impute, rng = _impute_spec(dims, opts)
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    M = None if impute else _sheet_matrix(ans, [r for r in ref_idx if r != idx], [idx], len(dims), nominal)
    if M is None:
        is_llm = ans["rater"] == idx
        llm = _sel(ans, is_llm)
        rated = np.zeros(int(ans["conv"].max()) + 1 if ans["conv"].size else 0, dtype=bool)
        rated[llm["conv"]] = True
        ref = _sel(ans, np.isin(ans["rater"], ref_idx) & ~is_llm & rated[ans["conv"]])
        if (~np.isnan(ref["value"])).sum() == 0:
            return _nan_rows(names, "no conversation rated by both this rater and the reference")
        groups = sorted(_unique(ref["batch"]).tolist())
        M = _eval_matrix(ref, llm, "conv", groups, nominal=nominal, impute=impute, rng=rng)
    if M.empty or not np.isfinite(M.to_numpy(dtype=float)).any():
        return _nan_rows(names, "no conversation rated by both this rater and the reference")
    miss, tot = _not_answered(store, rubric.name, None, name)
    prefix = (f"paired: the LLM and the human on the same conversation; {_EVAL_DEF}; per conversation averaged "
              f"over the LLM's samples and the humans who rated it; groups = the conversations' human batches; "
              f"{_dims_note(dims, rubric)}"
              + (f"{miss} of {tot} answers of this rater not answered ("
                 + ("imputed" if impute else "left out") + "); " if miss else ""))
    rows = gap.eval_score(M.to_numpy(dtype=float), groups=[_batch_label(int(g)) for g in M.columns],
                          unit="conversation", **_boot_kw(opts))
    return [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, prefix + r.note) for r in rows]


def ceiling_matrix(ans, human_names, dims, raters) -> tuple[pd.DataFrame, list[str]] | None:
    """(tasks x batch pairs) per-task Eval of one human batch against another, and the pairs' labels; None with
    fewer than two batches."""
    hum = _sel(ans, np.isin(ans["rater"], [raters[n].index for n in human_names]) & (ans["task"] >= 0))
    batches = sorted(_unique(hum["batch"]).tolist())
    if len(batches) < 2:
        return None
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    cols, labels = {}, []
    for i, bi in enumerate(batches):
        for bj in batches[i + 1:]:
            cols[(bi, bj)] = _series(_unit_scores(_sel(hum, hum["batch"] == bi), _sel(hum, hum["batch"] == bj),
                                                  "task", "task", nominal=nominal))
            labels.append(f"{_batch_label(int(bi))} vs {_batch_label(int(bj))}")
    return pd.DataFrame(cols), labels


def _eval_ceiling_matched(ans, human_names, dims, rubric, opts, raters) -> list[StatRow]:
    got = ceiling_matrix(ans, human_names, dims, raters)
    if got is None:
        return []
    M, labels = got
    rows = gap.eval_score(M.to_numpy(dtype=float), groups=labels, unit="task", **_boot_kw(opts))
    prefix = (f"human ceiling, matched: one human batch's answers against another's on the same task (different "
              f"users and conversations), mean +- std over pairs of batches; {_EVAL_DEF}; "
              f"{_dims_note(dims, rubric)}not the study's published 97.4 +- 5.0, which compares two humans rating "
              f"the same conversation; ")
    return [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, prefix + r.note.replace("reference group",
                    "batch pair").replace("per group", "per pair")) for r in rows]


def _eval_ceiling_paired(ans, human_names, dims, rubric, opts, raters) -> list[StatRow]:
    human_idx = [raters[n].index for n in human_names]
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    M = _sheet_matrix(ans, human_idx, human_idx, len(dims), nominal, distinct_items=True, min_answered=2)
    if M is None:
        M = _eval_ceiling_pairs(ans, human_idx, nominal)
    if M is None or M.empty:
        return _nan_rows(["eval_score"], "no conversation has answers from two humans, so there is no "
                         "same-conversation human ceiling")
    vals = M.to_numpy(dtype=float)
    conv_scores = vals[~np.isnan(vals)]
    rows = gap.eval_score(vals, groups=[_batch_label(int(g)) for g in M.columns], unit="conversation",
                          **_boot_kw(opts))
    prefix = (f"human ceiling, paired: every pair of humans who rated the same conversation (the study's "
              f"definition, published 97.4 +- 5.0 with the std over conversations; here that std is "
              f"{np.std(conv_scores):.3g}); {_EVAL_DEF}; {_dims_note(dims, rubric)}")
    return [StatRow(r.statistic, r.value, r.ci_low, r.ci_high, r.n, prefix + r.note) for r in rows]


def _eval_ceiling_pairs(ans, human_idx, nominal) -> pd.DataFrame | None:
    """The paired ceiling's matrix pair by pair (when the sheets are too large to hold densely)."""
    hum = _sel(ans, np.isin(ans["rater"], human_idx))
    # an answer sheet here = (rater, sample), not tied to the conversation (as the string items were)
    hum["sheet"] = hum["rater"].astype(np.int64) * ans["n_samples"] + hum["srank"]
    n_sheets = int(hum["sheet"].max()) + 1 if hum["sheet"].size else 1
    ok = ~np.isnan(hum["value"])
    cs = _unique(hum["conv"][ok].astype(np.int64) * n_sheets + hum["sheet"][ok])
    conv_u, per_conv = np.unique(cs // n_sheets, return_counts=True)
    shared = conv_u[per_conv >= 2]
    if shared.size == 0:
        return None
    hum = _sel(hum, np.isin(hum["conv"], shared))
    groups = sorted(_unique(hum["batch"]).tolist())
    cols = {}
    for g in groups:
        part = _sel(hum, hum["batch"] == g)
        cols[g] = _series(_unit_scores(part, part, "conv", "conv", nominal=nominal, distinct_items=True,
                                       item_key="item"))
    return pd.DataFrame(cols)
