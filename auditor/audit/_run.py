"""``audit()``: every LLM rater against humans (or a named reference), per dimension and overall."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..stats._result import StatRow
from ..store import Store
from . import _fetch
from ._paired import human_ceiling, humans_multirater, llm_vs_reference, paired_inputs, reference_scores

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
    raters = _fetch.raters(store)
    if opts.llm:
        unknown = [r for r in opts.llm if r not in raters]
        if unknown:
            raise AuditorError(f"unknown rater(s) {unknown}; stored raters: {', '.join(raters) or 'none'}")
    if opts.reference and opts.reference not in raters:
        raise AuditorError(f"unknown reference rater {opts.reference!r}; stored raters: {', '.join(raters)}")
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
    rubrics = [opts.rubric] if opts.rubric else _fetch.stored_rubrics(store)
    out: list[dict] = []
    design_of_all: dict[str, dict[str, str]] = {}
    for rub_name in rubrics:
        rubric = _fetch.load_stored_rubric(store, rub_name)
        dims = [d for d in rubric.dimensions if not opts.dimensions or d.name in opts.dimensions]
        pooled: dict[str, list] = {}
        for dim in dims:
            sig = _fetch.dimension_signals(store, rub_name, dim.name)
            if sig.value.size == 0:
                continue
            lo, hi = dim.value_range
            scale = (hi - lo) or 1.0
            design_of = design_of_all.setdefault(rub_name, {})
            humans = reference_scores(sig, human_idx, dim.level)
            ref = humans if ref_idx == human_idx else reference_scores(sig, ref_idx, dim.level)
            for name in llm_ids:
                idx = raters[name].index
                if not np.any(sig.rater == idx):
                    continue
                inp = paired_inputs(sig, idx, ref, dim.level)
                design = opts.design or ("paired" if inp.units.size else "matched")
                design_of[name] = design
                if design == "matched":
                    from ._matched import matched_rows  # the matched design (tau-bench study)
                    out += matched_rows(store, sig, rubric, dim, name, raters, ref_idx, opts)
                    continue
                ctx = dict(rater=name, reference=ref_name, design="paired", rubric=rub_name, dimension=dim.name,
                           level=dim.level)
                if inp.units.size == 0:
                    out += _rows([StatRow(s, float("nan"), note="undefined: no conversation rated by both this "
                                          "rater and the reference") for s in (paired_stats or ["mean_diff"])], **ctx)
                    continue
                if paired_stats != []:
                    out += _rows(llm_vs_reference(inp, dim, n_boot=opts.n_boot, seed=opts.seed,
                                                  ci_method=opts.ci_method, statistics=paired_stats), **ctx)
                out += _extra_paired_rows(store, sig, rubric, dim, name, raters, ref_idx, human_idx, inp, opts, ctx)
                p = pooled.setdefault(name, [[], [], []])
                p[0].append(inp.units)
                p[1].append((inp.x - lo) / scale)
                p[2].append((inp.y - lo) / scale)
            paired_here = "paired" in design_of.values() or not llm_ids
            if opts.ceiling and not opts.reference and paired_here and len(human_idx) > 1:
                ctx = dict(reference="humans", design="paired", rubric=rub_name, dimension=dim.name, level=dim.level)
                if paired_stats != []:
                    out += _rows(human_ceiling(humans, dim, n_boot=opts.n_boot, seed=opts.seed,
                                               ci_method=opts.ci_method, statistics=paired_stats),
                                 rater="human_loo", **ctx)
                if multi_stats != []:
                    out += _rows(humans_multirater(humans, dim, n_boot=opts.n_boot, seed=opts.seed,
                                                   ci_method=opts.ci_method, statistics=multi_stats),
                                 rater="humans", **ctx)
        if opts.overall and len(dims) > 1:
            from ..stats.paired import paired_statistics

            for name, (u, x, y) in pooled.items():
                if len(u) < 2:
                    continue
                stats = [s for s in ("krippendorff_alpha", "pearson", "mae", "rmse", "mean_diff", "leniency_rate",
                                     "severity_rate") if not opts.statistics or s in opts.statistics]
                if not stats:
                    continue
                rows = paired_statistics(np.concatenate(x), np.concatenate(y), level="interval",
                                         units=np.concatenate(u), statistics=stats, n_boot=opts.n_boot,
                                         seed=opts.seed, ci_method=opts.ci_method)
                for r in rows:
                    r.note = "all dimensions rescaled to [0, 1] by their option range and pooled; " + r.note
                out += _rows(rows, rater=name, reference=ref_name, design="paired", rubric=rub_name,
                             dimension="all", level="interval")
        if opts.overall and design_of_all.get(rub_name):
            out += _gap_rows(store, rubric, design_of_all[rub_name], raters, ref_idx, human_idx, opts)
    df = pd.DataFrame(out, columns=ROW_COLUMNS)
    return df


def _gap_rows(store, rubric, design_of, raters, ref_idx, human_idx, opts) -> list[dict]:
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
