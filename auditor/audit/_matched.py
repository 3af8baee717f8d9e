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

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..stats import gap
from ..stats._arrays import unique as _unique
from ..stats._result import StatRow
from . import _fetch

__all__ = ["matched_rows", "overall_rows", "load_difficulty_file", "DIFFICULTY_KEY"]

DIFFICULTY_KEY = "difficulty_file"
_SEP = "\x1f"


# ---------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------

def load_difficulty_file(path) -> dict[str, float]:
    """Read a difficulty map: ``{"difficulty": {task_id: rate}, ...}`` (the study's frozen file) or a flat
    ``{task_id: rate}``. Raises :class:`AuditorError` naming the file and the fix."""
    p = Path(path)
    if not p.is_file():
        raise AuditorError(f"{path}: difficulty file not found. Fix: pass the path of a JSON map of task id to "
                           "pooled success rate, e.g. the study's tau_usi_difficulty.json.")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AuditorError(f"{path}: not valid JSON ({e}). Fix: pass a JSON map of task id to difficulty.") from None
    raw = data["difficulty"] if isinstance(data, dict) and isinstance(data.get("difficulty"), dict) else data
    if not isinstance(raw, dict) or not raw:
        raise AuditorError(f"{path}: expected a JSON object {{task_id: rate}} or {{\"difficulty\": {{...}}}}. "
                           "Fix: write the map as JSON.")
    out = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise AuditorError(f"{path}: difficulty of task {k!r} is {v!r}, not a rate in [0, 1]. Fix: write each "
                               "task's pooled success rate as a number between 0 and 1.")
        out[str(k)] = float(v)
    return out


def _excluded_conv_keys(store) -> np.ndarray:
    rows = store.con.execute("SELECT conv_key FROM conversations WHERE keep = false").fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def _not_answered(store, rubric: str, dimension: str | None, rater: str) -> tuple[int, int]:
    """(missing, total) signals of one rater (dimension None = all) on conversations that are kept."""
    q = ("SELECT count(*) FILTER (WHERE s.status <> 'ok' OR s.value IS NULL), count(*) FROM signals s "
         "LEFT JOIN conversations c USING (conversation_id) WHERE s.rubric = ? AND s.rater_id = ? "
         "AND coalesce(c.keep, true)")
    params = [rubric, rater]
    if dimension is not None:
        q += " AND s.dimension = ?"
        params.append(dimension)
    miss, tot = store.con.execute(q, params).fetchall()[0]
    return int(miss), int(tot)


def _answers(store, rubric, dims) -> dict:
    """Every signal of the rubric on kept conversations, as integer-coded numpy arrays: ``conv`` (rank of the
    conversation id), ``task`` (rank of the task id, -1 = none), ``batch``, ``rater`` (rater index, as
    :func:`_fetch.raters`), ``dim`` (position in ``dims``), ``sample``, ``item`` (one answer sheet: conversation,
    rater, sample; codes sort like the ids) and ``value`` rescaled to [0, 1], NaN when not answered."""
    # the conversations' codes, looked up by conv_key
    cq = """
    WITH t AS (SELECT task_id, (row_number() OVER (ORDER BY task_id) - 1)::INTEGER AS tk
               FROM (SELECT DISTINCT task_id FROM conversations WHERE task_id IS NOT NULL))
    SELECT c.conv_key AS key, (row_number() OVER (ORDER BY c.conversation_id) - 1)::INTEGER AS ck,
           coalesce(t.tk, -1)::INTEGER AS task, coalesce(try_cast(c.human_batch AS INTEGER), -1)::INTEGER AS batch
    FROM conversations c LEFT JOIN t ON t.task_id = c.task_id
    """
    cv = store.con.execute(cq).fetchnumpy()
    key = np.asarray(cv["key"], dtype=np.int64)
    n_key = int(key.max()) + 1 if key.size else 1
    rater_ids = [r[0] for r in store.con.execute("SELECT rater_id FROM raters ORDER BY rater_id").fetchall()]
    names = [d.name for d in dims]
    q = ("SELECT c.conv_key AS key, (list_position(?, s.rater_id) - 1)::SMALLINT AS rater, "
         "(list_position(?, s.dimension) - 1)::SMALLINT AS dim, s.sample::INTEGER AS sample, "
         "CASE WHEN s.status = 'ok' THEN s.value END AS value, s.rowid AS rid FROM signals s JOIN conversations c "
         "USING (conversation_id) WHERE s.rubric = ? AND coalesce(c.keep, true) AND list_contains(?, s.dimension)")
    d = store.con.execute(q, [rater_ids, names, rubric.name, names]).fetchnumpy()
    A = {"rid": np.asarray(d.pop("rid"))}      # put in the store's row order only if a pair-by-pair path needs it
    k = np.asarray(d.pop("key"), dtype=np.int64)
    for col in ("ck", "task", "batch"):
        lut = np.full(n_key, -1, dtype=np.int32)
        lut[key] = np.asarray(cv[col], dtype=np.int32)
        A["conv" if col == "ck" else col] = lut[k]
    del k, cv, key
    for col in ("rater", "dim", "sample"):
        A[col] = np.asarray(np.ma.filled(np.ma.asarray(d[col]), -1))
    value = d.pop("value")
    value = np.ma.filled(value.astype(float), np.nan) if np.ma.isMaskedArray(value) else value.astype(float)
    del d
    # as gap.rescale_unit per dimension: (v - lo) / (hi - lo), and 1 (answered) on a constant scale
    lo = np.array([x.value_range[0] for x in dims], dtype=float)
    hi = np.array([x.value_range[1] for x in dims], dtype=float)
    const = ~(hi > lo)
    span = np.where(const, 1.0, hi - lo)
    dm = A["dim"].astype(np.intp)
    value -= lo[dm]
    value /= span[dm]
    if const.any():
        c = const[dm] & ~np.isnan(value)
        value[c] = 1.0
    del dm
    A["value"] = value
    # item = (conversation, rater, str(sample)) in string order
    us = _unique(A["sample"])
    srank = np.empty(us.size, dtype=np.int64)
    srank[sorted(range(us.size), key=lambda i: str(us[i]))] = np.arange(us.size)
    sample = A.pop("sample")
    A["srank"] = (np.zeros(sample.size, dtype=np.int32) if us.size <= 1 else
                  srank[np.searchsorted(us, sample)].astype(np.int32))
    A["n_samples"] = max(int(us.size), 1)
    A["n_raters"] = int(A["rater"].max()) + 1 if A["rater"].size else 1
    A["item"] = (A["conv"].astype(np.int64) * A["n_raters"] + A["rater"]) * A["n_samples"] + A["srank"]
    return A


_COLS = ("conv", "task", "batch", "rater", "dim", "item", "value", "srank", "sheet")


def _store_order(A: dict) -> None:
    """Put the answers of :func:`_answers` in the store's row order, in place (once): the pair-by-pair sums run in
    row order, so their last bits do not depend on the order DuckDB's threads returned the rows in."""
    rid = A.pop("rid", None)
    if rid is None or rid.size < 2 or np.all(rid[1:] > rid[:-1]):
        return
    order = np.argsort(rid, kind="stable")
    for c in _COLS:
        if c in A:          # one column at a time (peak memory: one extra column)
            A[c] = A.pop(c)[order]


def _sel(A: dict, mask) -> dict:
    _store_order(A)
    return {k: (A[k][mask] if k in _COLS else A[k]) for k in A if k != "sheets"}


def _outcomes(store, rubric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(conversations with a task: reward, batch, user kind, run, keep; which raters rated each, this rubric)."""
    convs = store.con.execute(
        "SELECT conversation_id AS conv, task_id AS task, user_kind, coalesce(try_cast(human_batch AS INTEGER), -1) "
        "AS batch, reward, coalesce(keep, true) AS keep, coalesce(try_cast(json_extract_string(metadata, '$.run') "
        "AS INTEGER), try_cast(json_extract_string(metadata, '$.trial') AS INTEGER)) AS run FROM conversations "
        "WHERE task_id IS NOT NULL").fetchdf()
    rated = store.con.execute("SELECT DISTINCT conversation_id AS conv, rater_id AS rater FROM signals "
                              "WHERE rubric = ?", [rubric]).fetchdf()
    return convs, rated


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------

def _want(opts, name: str) -> bool:
    return not opts.statistics or name in opts.statistics


def _keep_wanted(rows: list[StatRow], opts) -> list[StatRow]:
    if not opts.statistics:
        return rows
    return [r for r in rows if r.statistic in opts.statistics
            or r.statistic.removesuffix("_batch_std") in opts.statistics]


def _as_dicts(rows: list[StatRow], prefix: str = "", **ctx) -> list[dict]:
    out = []
    for r in rows:
        d = r.to_dict()
        if prefix:
            d["note"] = prefix + d["note"] if not d["note"].startswith("undefined") else d["note"] + "; " + prefix
        out.append({**ctx, **d})
    return out


def _nan_rows(names, reason: str) -> list[StatRow]:
    return [StatRow(s, float("nan"), n=0, note=f"undefined: {reason}") for s in names]


def _batch_label(b: int) -> str:
    return f"batch {b}" if b >= 0 else "unbatched"


def _boot_kw(opts) -> dict:
    return dict(n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)


def _span(counts: pd.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _ref_name(opts) -> str:
    return opts.reference or "humans"


def _names_of(raters, idx) -> list[str]:
    by_index = {i.index: n for n, i in raters.items()}
    return [by_index[i] for i in idx if i in by_index]


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


def _eval_ceiling_matched(ans, human_names, dims, rubric, opts, raters) -> list[StatRow]:
    hum = _sel(ans, np.isin(ans["rater"], [raters[n].index for n in human_names]) & (ans["task"] >= 0))
    batches = sorted(_unique(hum["batch"]).tolist())
    if len(batches) < 2:
        return []
    nominal = [i for i, d in enumerate(dims) if d.level == "nominal"]
    cols, labels = {}, []
    for i, bi in enumerate(batches):
        for bj in batches[i + 1:]:
            cols[(bi, bj)] = _series(_unit_scores(_sel(hum, hum["batch"] == bi), _sel(hum, hum["batch"] == bj),
                                                  "task", "task", nominal=nominal))
            labels.append(f"{_batch_label(int(bi))} vs {_batch_label(int(bj))}")
    M = pd.DataFrame(cols)
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
    if ceiling and matched:
        out += _dimension_ceilings(store, rubric, dims, human_idx, opts)
    return out
