"""``audit()``: every LLM rater against humans (or a named reference), per dimension and overall."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..stats._result import StatRow
from ..store import Store
from . import _fetch
from ._paired import (failed_as_wrong, human_ceiling, humans_multirater, llm_vs_reference, paired_inputs,
                      reference_scores)

__all__ = ["AuditOptions", "audit", "ROW_COLUMNS", "LLM_KINDS"]

ROW_COLUMNS = ["rater", "reference", "design", "rubric", "dimension", "level", "statistic", "value", "ci_low",
               "ci_high", "n", "note"]
LLM_KINDS = ("judge", "simulator")
PAIRED_HEADLINE = ["krippendorff_alpha", "cohen_kappa", "weighted_kappa_linear", "weighted_kappa_quadratic",
                   "gwet_ac1", "icc", "pearson", "spearman", "kendall_tau_b", "exact_agreement",
                   "adjacent_agreement", "mae", "rmse", "mean_diff", "leniency_rate", "severity_rate", "wilcoxon",
                   "wasserstein", "js_divergence", "variance_ratio"]


@dataclass
class AuditOptions:
    design: str | None = None            # None = from the data; "paired" | "matched"
    llm: list[str] | None = None         # LLM raters to audit (default: every judge and simulator)
    reference: str | None = None         # a rater id, or None = the human consensus
    rubric: str | None = None
    dimensions: list[str] | None = None
    statistics: list[str] | None = None
    n_boot: int = 1000
    seed: int = 0
    ci_method: str = "percentile"
    ceiling: bool = True
    overall: bool = True
    threads: int | None = None           # dimensions audited at once; None = min(MAX_THREADS, CPUs)
    failed: str = "drop"                 # failed LLM verdicts: "drop" (left out, counted in the note) | "wrong"
    level: str = "all"                   # "conversation" rows, "system" rows (design = system), or "all"
    extra: dict = field(default_factory=dict)


def _subset(statistics: list[str] | None, kind: str) -> list[str] | None:
    """The requested statistics that exist for ``kind`` data (None = all of them; [] = none requested)."""
    if statistics is None:
        return None
    from ..stats import _registry

    if kind == "paired":
        from ..stats import paired  # noqa: F401  (registers)
    else:
        from ..stats import multirater  # noqa: F401
    have = set(_registry.names(kind))
    return [s for s in statistics if s in have]


GAP_STATISTICS = ["eval_score", "eval_score_batch_std", "outcome_ece", "outcome_ece_batch_std", "success_rate_gap",
                  "success_rate_gap_batch_std", "usi", "usi_d1_conv", "usi_d2_info", "usi_d3_clarif", "usi_d4_react"]
ICC_FORMS = ["icc1", "icc1k", "icc2", "icc2k", "icc3", "icc3k"]


def known_statistics() -> list[str]:
    """Every statistic name an audit can report (``human_mean_at_llm=<v>`` rows come from ``human_mean_at_llm``)."""
    from ..stats import _registry, multirater, paired  # noqa: F401  (register)
    from ..stats.gap import MATCHED_STATISTICS
    from ..stats.pairwise_raters import PAIRWISE_STATISTICS
    from ..stats.system_level import SYSTEM_STATISTICS
    from ._extras import EXTRA_STATISTICS
    from ._panel import PANEL_STATISTICS

    return list(dict.fromkeys([*_registry.names(), *EXTRA_STATISTICS, *MATCHED_STATISTICS, *GAP_STATISTICS,
                               *ICC_FORMS, *PAIRWISE_STATISTICS, *SYSTEM_STATISTICS, *PANEL_STATISTICS]))


def _check_names(store: Store, rubrics: list[str], opts: AuditOptions) -> None:
    """An unknown --dimension or --statistic is an error naming the valid ones (not an empty result)."""
    if opts.dimensions:
        dims = {d for r in rubrics for d in _fetch.load_stored_rubric(store, r).dimension_names}
        unknown = [d for d in opts.dimensions if d not in dims]
        if unknown:
            raise AuditorError(f"unknown dimension(s) {', '.join(map(repr, unknown))}"
                               + (f" in rubric {rubrics[0]!r}" if len(rubrics) == 1 else "")
                               + f". Fix: use one of {', '.join(sorted(dims))}.")
    if opts.statistics:
        check_statistic_names(opts.statistics)


def check_statistic_names(names) -> None:
    """Raise :class:`AuditorError` naming the first of ``names`` the audit never reports, and the valid ones."""
    import difflib

    known = known_statistics()
    prefixed = ("human_mean_at_llm", "system_human_mean", "system_llm_mean", "panel_error_correlation", "usi_feature")
    unknown = [s for s in names if s not in known and s.split("=", 1)[0] not in prefixed]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=3)
        raise AuditorError(f"unknown statistic {unknown[0]!r}"
                           + (f" (did you mean {', '.join(close)}?)" if close else "")
                           + f". Fix: use one of {', '.join(known)}.")


def _rows(rows: list[StatRow], **ctx) -> list[dict]:
    return [{**ctx, **r.to_dict()} for r in rows]


def audit(store: Store, options: AuditOptions | None = None, **kw) -> pd.DataFrame:
    """Audit LLM raters against humans. Returns one row per (rater, dimension, statistic): see ``ROW_COLUMNS``.

    ``rater`` is the LLM rater, ``human_loo`` (each human against the other humans: the ceiling) or ``humans``
    (multi-rater agreement among all humans). ``dimension`` ``all`` pools every dimension rescaled to [0, 1].
    """
    opts = options or AuditOptions(**kw)
    paired_stats = _subset(opts.statistics, "paired")
    multi_stats = _subset(opts.statistics, "multirater")
    if opts.design not in (None, "paired", "matched"):
        raise AuditorError(f"unknown design {opts.design!r}: use paired or matched")
    if opts.level not in ("all", "conversation", "system"):
        raise AuditorError(f"unknown level {opts.level!r}: use conversation, system or all")
    raters = _fetch.raters(store)
    if opts.llm:
        unknown = [r for r in opts.llm if r not in raters]
        if unknown:
            llm_names = [r for r, i in raters.items() if i.kind in LLM_KINDS]
            raise AuditorError(f"unknown LLM rater(s) {', '.join(map(repr, unknown))}. Fix: use one of "
                               f"{', '.join(llm_names) or '(none: ingest LLM signals or run a judge first)'}.")
        humans = [r for r in opts.llm if r in raters and raters[r].kind == "human"]
        if humans:
            raise AuditorError(f"{humans[0]!r} is a human rater; --llm takes judges or simulators (each human against "
                               "the other humans is the human_loo ceiling row). Fix: drop it from --llm, or compare "
                               f"with --reference {humans[0]}.")
    if opts.reference and opts.reference not in raters:
        raise AuditorError(f"unknown reference rater {opts.reference!r}. Fix: use one of {', '.join(raters)}.")
    llm_ids = opts.llm or [r for r, i in raters.items() if i.kind in LLM_KINDS]
    human_idx = [i.index for i in raters.values() if i.kind == "human"]
    ref_idx = [raters[opts.reference].index] if opts.reference else human_idx
    ref_name = opts.reference or "humans"
    if not llm_ids and len(human_idx) < 2:
        raise AuditorError("no LLM rater (judge or simulator) in the store. Fix: ingest LLM signals with "
                           "--rater-kind judge|simulator, or run `auditor judge run CONFIG`.")
    # with no LLM rater the audit reports the humans' own agreement (the ceiling rows) only
    if not ref_idx:
        raise AuditorError("no human ratings in the store to compare with. Fix: ingest human signals with "
                           "--rater-kind human, or name a --reference rater.")
    stored = _fetch.stored_rubrics(store)
    if opts.rubric and opts.rubric not in stored:
        raise AuditorError(f"no ratings for rubric {opts.rubric!r} in this store. Fix: use one of "
                           f"{', '.join(stored) or '(none yet)'}, or ingest ratings on it first.")
    rubrics = [opts.rubric] if opts.rubric else stored
    _check_names(store, rubrics, opts)
    out: list[dict] = []
    from ..panel import panels
    from ._systems import wants_system_rows

    ctx = _Loop(raters, llm_ids, human_idx, ref_idx, ref_name, paired_stats, multi_stats, opts,
                wants_system_rows(opts.statistics), panels(store))
    for rub_name in rubrics:
        rubric = _fetch.load_stored_rubric(store, rub_name)
        dims = [d for d in rubric.dimensions if not opts.dimensions or d.name in opts.dimensions]
        pooled: dict[str, list] = {}
        design_of: dict[str, str] = {}     # LLM rater -> design (its last dimension's)
        per_dim = [partial(_dimension, rubric=rubric, dim=dim, ctx=ctx) for dim in dims]
        for res in _concurrently(store, per_dim, opts.threads):
            out += res.rows
            design_of.update(res.design_of)
            for name, (u, x, y) in res.pooled.items():
                p = pooled.setdefault(name, [[], [], []])
                p[0].append(u)
                p[1].append(x)
                p[2].append(y)
        # the pooled 'all' rows and the rubric-level gap rows are independent: run them side by side
        tasks = []
        if opts.overall and len(dims) > 1 and opts.level != "system":
            tasks.append(partial(_pooled_rows, pooled=pooled, rub_name=rub_name, ref_name=ref_name, opts=opts))
        if opts.overall and design_of and opts.level != "system":
            tasks.append(partial(_gap_rows, rubric=rubric, design_of=design_of, raters=raters, ref_idx=ref_idx,
                                 human_idx=human_idx, opts=opts))
        for rows in _concurrently(store, tasks, opts.threads):
            out += rows
    df = pd.DataFrame(out, columns=ROW_COLUMNS)
    _flag_in_sample(store, df)
    return df


IN_SAMPLE_NOTE = ("IN-SAMPLE CALIBRATION: {n} of this rater's {dim} values come from a model fitted on those "
                  "conversations' own human answers (calibrate apply --include-training), so this agreement is "
                  "optimistic. Fix: rerun `auditor calibrate` (cross-fitted) for an honest audit. ")


def _flag_in_sample(store: Store, df: pd.DataFrame) -> None:
    """Prefix the note of every row of a calibrated rater whose values are partly in-sample fits (the rater's
    provenance counts them): such agreement flatters the calibration."""
    rows = store.con.execute(
        "SELECT rater_id, metadata::VARCHAR FROM raters WHERE json_exists(metadata, '$.calibration')").fetchall()
    if not rows or df.empty:
        return
    import json

    for rater, meta in rows:
        for key, prov in (json.loads(meta).get("calibration") or {}).items():
            n = int(prov.get("in_sample_conversations") or 0)
            if not n:
                continue
            rubric, _, dim = key.partition("/")
            hit = (df["rater"] == rater) & (df["rubric"] == rubric) & df["dimension"].isin([dim, "all"])
            df.loc[hit, "note"] = IN_SAMPLE_NOTE.format(n=n, dim=dim) + df.loc[hit, "note"].astype(str)


def _pooled_rows(store, *, pooled, rub_name, ref_name, opts) -> list[dict]:
    """Dimension ``all``: each LLM rater's pairs of every dimension, rescaled to [0, 1] and pooled."""
    from ..stats.paired import paired_statistics

    out = []
    for name, (u, x, y) in pooled.items():
        if len(u) < 2:
            continue
        stats = [s for s in ("krippendorff_alpha", "pearson", "mae", "rmse", "mean_diff", "leniency_rate",
                             "severity_rate") if not opts.statistics or s in opts.statistics]
        if not stats:
            continue
        rows = paired_statistics(np.concatenate(x), np.concatenate(y), level="interval", units=np.concatenate(u),
                                 statistics=stats, n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method)
        for r in rows:
            r.note = "all dimensions rescaled to [0, 1] by their option range and pooled; " + r.note
        out += _rows(rows, rater=name, reference=ref_name, design="paired", rubric=rub_name, dimension="all",
                     level="interval")
    return out


def _gap_rows(store, *, rubric, design_of, raters, ref_idx, human_idx, opts) -> list[dict]:
    """The tau-bench study's evaluative-gap measures over a whole rubric (Eval, outcome ECE, success-rate gap),
    for paired and matched raters; they live in ``auditor.audit._matched``."""
    try:
        from ._matched import overall_rows
    except ImportError:
        return []
    return overall_rows(store, rubric, design_of, raters, ref_idx, human_idx, opts)


def _extra_paired_rows(store, sig, rubric, dim, name, raters, ref_idx, human_idx, inp, opts, ctx) -> list[dict]:
    """Measures beyond agreement and bias (calibration, alt-test, corrected estimates, stability, confounds).

    They live in ``auditor.audit._extras`` (one hook, so new measures plug in without touching this loop).
    """
    try:
        from ._extras import extra_paired_rows
    except ImportError:
        return []
    return extra_paired_rows(store, sig, rubric, dim, name, raters, ref_idx, human_idx, inp, opts, ctx)


@dataclass
class _Loop:
    """What every dimension of the audit loop needs (read-only)."""

    raters: dict
    llm_ids: list
    human_idx: list
    ref_idx: list
    ref_name: str
    paired_stats: list | None
    multi_stats: list | None
    opts: AuditOptions
    system_stats: list | None = None
    panels: dict = field(default_factory=dict)   # panel rater -> {"members": [...], "rule": ...}
    shared: dict = field(default_factory=dict)   # rubric-level reads, done once for all dimensions


@dataclass
class _DimResult:
    rows: list
    design_of: dict
    pooled: dict       # LLM rater -> (units, x, y) rescaled to [0, 1], for the pooled 'all' rows


# dimensions are audited concurrently on this many threads (numpy and DuckDB release the GIL in the heavy parts);
# each thread reads the store through its own cursor
MAX_THREADS = 2


class _StoreCursor:
    """The store seen through its own DuckDB cursor (one per thread), for reads."""

    def __init__(self, store: Store):
        self._store, self.con = store, store.con.cursor()

    def __getattr__(self, name):
        return getattr(self._store, name)


def _concurrently(store: Store, tasks: list, threads: int | None = None) -> list:
    """``[task(store) for task in tasks]``, on up to ``threads`` (default ``min(MAX_THREADS, CPUs)``) threads, each
    with its own cursor. Every task seeds its own random generator, so the results do not depend on ``threads``."""
    workers = max(1, min(threads or MAX_THREADS, len(tasks), os.cpu_count() or 1))
    if workers == 1:
        return [task(store) for task in tasks]
    local = threading.local()
    cursors: list[_StoreCursor] = []

    def run(task):
        if not hasattr(local, "store"):
            local.store = _StoreCursor(store)
            cursors.append(local.store)
        return task(local.store)

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(run, tasks))
    finally:
        for c in cursors:
            c.con.close()


def _with_failed(store, rows, inp, ref, rub_name, dim, idx, opts, paired_stats, shared=None):
    """Failed verdicts of this rater on conversations the reference rated: left out and counted in the note
    (``drop``), or counted as disagreements in exact agreement and kappa (``wrong``)."""
    fu = _fetch.failed_units(store, rub_name, dim.name, shared).get(idx)
    if fu is None:
        return rows
    wrong, n = [], int(np.setdiff1d(np.intersect1d(fu, ref[0]), inp.units).size)
    if opts.failed == "wrong":
        wrong, n = failed_as_wrong(inp, fu, ref, dim, n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method,
                                   statistics=paired_stats)
    if n == 0:
        return rows
    by_name = {r.statistic: r for r in wrong}
    out = []
    for r in rows:
        if r.statistic in by_name:
            r = by_name[r.statistic]
            add = f"{n} failed verdict(s) counted as disagreements (--failed wrong)"
        else:
            add = f"{n} failed verdict(s) left out" + ("" if opts.failed == "wrong" else
                                                      " (--failed wrong counts them as disagreements)")
        r.note = f"{r.note}; {add}" if r.note else add
        out.append(r)
    return out


def _dimension(store, *, rubric, dim, ctx: _Loop) -> _DimResult:
    """Every row of one dimension: each LLM rater against the reference, its extra measures, and the human
    ceiling (``human_loo``, ``humans``)."""
    opts, raters, rub_name = ctx.opts, ctx.raters, rubric.name
    paired_stats, multi_stats = ctx.paired_stats, ctx.multi_stats
    res = _DimResult([], {}, {})
    out = res.rows
    sig = _fetch.dimension_signals(store, rub_name, dim.name)
    if sig.value.size == 0:
        return res
    sig.shared = ctx.shared
    lo, hi = dim.value_range
    scale = (hi - lo) or 1.0
    humans = reference_scores(sig, ctx.human_idx, dim.level)
    ref = humans if ctx.ref_idx == ctx.human_idx else reference_scores(sig, ctx.ref_idx, dim.level)
    for name in ctx.llm_ids:
        idx = raters[name].index
        if not np.any(sig.rater == idx):
            continue
        inp = paired_inputs(sig, idx, ref, dim.level)
        design = opts.design or ("paired" if inp.units.size else "matched")
        res.design_of[name] = design
        if opts.level != "conversation" and ctx.system_stats != []:
            from ._systems import system_rows

            out += _rows(system_rows(store, sig, dim, idx, ctx.ref_idx, design, opts, ctx.system_stats),
                         rater=name, reference=ctx.ref_name, design="system", rubric=rub_name, dimension=dim.name,
                         level=dim.level)
        if opts.level == "system":
            continue
        if design == "matched":
            from ._matched import matched_rows  # the matched design (tau-bench study)
            out += matched_rows(store, sig, rubric, dim, name, raters, ctx.ref_idx, opts)
            continue
        rctx = dict(rater=name, reference=ctx.ref_name, design="paired", rubric=rub_name, dimension=dim.name,
                    level=dim.level)
        if inp.units.size == 0:
            out += _rows([StatRow(s, float("nan"), note="undefined: no conversation rated by both this "
                                  "rater and the reference") for s in (paired_stats or ["mean_diff"])], **rctx)
            continue
        n_sel, chosen_by = _fetch.selected_among(store, sig, rub_name, inp.units)
        if paired_stats != []:
            rows = llm_vs_reference(inp, dim, n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method,
                                    statistics=paired_stats)
            rows = _with_failed(store, rows, inp, ref, rub_name, dim, idx, opts, paired_stats, ctx.shared)
            if n_sel:
                for r in rows:
                    r.note = f"{r.note}; {_fetch.selection_note(n_sel, chosen_by)}" if r.note else \
                        _fetch.selection_note(n_sel, chosen_by)
            out += _rows(rows, **rctx)
        out += _extra_paired_rows(store, sig, rubric, dim, name, raters, ctx.ref_idx, ctx.human_idx, inp, opts,
                                  rctx)
        if name in ctx.panels:
            from ._panel import panel_rows

            out += _rows(panel_rows(sig, dim, ctx.panels[name]["members"], raters, ctx.ref_idx, opts,
                                    opts.statistics), **rctx)
        res.pooled[name] = (inp.units, (inp.x - lo) / scale, (inp.y - lo) / scale)
    paired_here = "paired" in res.design_of.values() or not res.design_of     # or no LLM rated this dimension
    if opts.level == "system":
        return res
    if opts.ceiling and not opts.reference and paired_here and len(ctx.human_idx) > 1:
        cctx = dict(reference="humans", design="paired", rubric=rub_name, dimension=dim.name, level=dim.level)
        if paired_stats != []:
            out += _rows(human_ceiling(humans, dim, n_boot=opts.n_boot, seed=opts.seed, ci_method=opts.ci_method,
                                       statistics=paired_stats), rater="human_loo", **cctx)
        if multi_stats != []:
            out += _rows(humans_multirater(humans, dim, n_boot=opts.n_boot, seed=opts.seed,
                                           ci_method=opts.ci_method, statistics=multi_stats),
                         rater="humans", **cctx)
        from ..stats.pairwise_raters import pairwise_rater_statistics

        conv, rat, val = humans[3]
        out += _rows(pairwise_rater_statistics(conv, rat, val, level=dim.level, n_boot=opts.n_boot, seed=opts.seed,
                                               ci_method=opts.ci_method, statistics=opts.statistics),
                     rater="humans", **cctx)
    return res
