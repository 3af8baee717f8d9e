"""Assemble everything a report shows from the store and the audit rows: one plain dict (also the JSON report)."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from ..audit import _fetch
from ._disagreements import largest_disagreements
from ._format import is_num
from ._humans import humans_agreement
from ._pairs import SignalCache
from ._plotdata import confusion_matrices, option_distributions, outcome_calibration, reliability
from ._provenance import provenance
from ._rows import CEILING, RowIndex, clean, llm_raters
from ._systems import system_section
from ._verdict import agreement_table, same_columns, verdict
from .compare import COST_COLUMNS, METRICS, leaderboard, sort_leaderboard

__all__ = ["build_report_data", "HUMAN_COLOR", "LLM_COLORS", "GAP_PREFIXES"]

LEADERBOARD_METRICS = list(METRICS) + list(COST_COLUMNS)

HUMAN_COLOR = "#2f6db5"          # humans: the same blue in every plot
LLM_COLORS = ["#d9622b", "#8e44ad", "#c0396b", "#2e8b57", "#b8860b", "#6b7b8c", "#a0522d", "#008b8b"]
# the evaluative-gap, calibration, alt-test, corrected-estimate, stability and confound measures (issue "gap")
GAP_PREFIXES = ("eval_score", "outcome_ece", "success_rate_gap", "ece", "brier", "human_mean_at_llm", "alt_test",
                "naive_llm_mean", "ppi_mean", "rogan_gladen", "test_retest", "flip_rate", "position_consistency",
                "confound_slope", "panel_", "usi")


_EMPTY = {"value": None, "ci_low": None, "ci_high": None, "n": None, "note": None}


def _cell(rows: RowIndex, *key, design: str | None = None) -> dict:
    return rows.cell(*key, design=design) or dict(_EMPTY)


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def _gap_rows(rows: RowIndex, rater: str, rubric: str, dims: list[str]) -> list[dict]:
    order = {d: i for i, d in enumerate(["all"] + dims)}
    d = rows.df[(rows.df["rater"] == rater) & (rows.df["rubric"] == rubric)
                & rows.df["statistic"].astype(str).str.startswith(GAP_PREFIXES)]
    recs = _records(d)
    recs.sort(key=lambda r: (order.get(r["dimension"], 99), r["statistic"]))
    return recs


class _Context:
    """What every section of one report shares: the rows, the store's raters, the signal cache, options."""

    def __init__(self, store, rows: pd.DataFrame, *, top: int, difficulty_file: str | None):
        self.store, self.rows, self.idx = store, rows, RowIndex(rows)
        self.raters = _fetch.raters(store)
        self.human_idx = [i.index for i in self.raters.values() if i.kind == "human"]
        self.pairs = llm_raters(rows)
        self.sigs = SignalCache(store)
        self.top, self.difficulty_file = top, difficulty_file
        self.colors = {r: LLM_COLORS[i % len(LLM_COLORS)]
                       for i, r in enumerate(dict.fromkeys(r for r, _ in self.pairs))}

    def ref_idx(self, reference: str) -> list[int]:
        return [self.raters[reference].index] if reference in self.raters else self.human_idx


def _rater_section(ctx: _Context, rater: str, rub, dims: list) -> dict:
    """One LLM rater on one rubric: verdict, agreement table, gap rows, disagreements and plot data."""
    idx, name = ctx.idx, rub.name
    design = idx.design(rater, name) or "paired"
    dim_names = [d.name for d in dims if d.name in set(idx.dimensions(name, rater))]
    ri = ctx.raters.get(rater)
    ns = ctx.rows[(ctx.rows["rater"] == rater) & (ctx.rows["rubric"] == name)]["n"].dropna()
    info = {"kind": ri.kind if ri else "", "model": ri.model if ri else None,
            "config_hash": ri.config_hash if ri else None, "design": design,
            "reference": idx.reference(rater, name), "color": ctx.colors[rater],
            "n": int(ns.max()) if len(ns) else 0}
    ranges = {d.name: d.value_range for d in dims}
    sec = {"rater": rater, "design": design, "info": info,
           "verdict": verdict(idx, rater, name, dim_names, design, info=info, ranges=ranges),
           "agreement": agreement_table(idx, rater, name, dim_names, design, {d.name: d.question for d in dims}),
           "gap_rows": _gap_rows(idx, rater, name, dim_names),
           "disagreements": largest_disagreements(ctx.store, rater, rub, design, reference=info["reference"],
                                                  top=ctx.top, raters=ctx.raters, sigs=ctx.sigs),
           "confusion": [], "reliability": None, "outcome": None}
    ref_idx = ctx.ref_idx(info["reference"])
    if design == "paired":
        sec["confusion"] = confusion_matrices(ctx.store, rub, rater, ctx.raters, ref_idx, ctx.sigs)
        sec["reliability"] = reliability(ctx.store, rub, rater, ctx.raters, ref_idx, sigs=ctx.sigs)
        for p in (sec["reliability"] or {}).get("dimensions", []):
            p["audit_ece"] = idx.cell(rater, name, p["dimension"], "ece")
    else:
        oc = outcome_calibration(ctx.store, rater, difficulty_file=ctx.difficulty_file)
        if oc is not None:
            oc["audit_outcome_ece"] = idx.cell(rater, name, "all", "outcome_ece")
            oc["ceiling_outcome_ece"] = idx.cell(CEILING, name, "all", "outcome_ece", design="matched")
        sec["outcome"] = oc
    return sec


def _share_reliability(sections: list[dict]) -> None:
    """Raters whose reliability data are identical (e.g. the argmax and the expected value of one judge's option
    probabilities) get one diagram: the first keeps it with ``reliability_covers`` naming them all, the others get
    ``reliability_same_as`` = the first rater."""
    for sec in sections:
        sec["reliability_covers"], sec["reliability_same_as"] = [sec["rater"]], None
    for j, sec in enumerate(sections):
        rel = sec["reliability"]
        if not rel:
            continue
        key = {k: v for k, v in rel.items() if k != "rater"}
        first = next((o for o in sections[:j] if o["reliability"] and o["reliability_same_as"] is None
                      and {k: v for k, v in o["reliability"].items() if k != "rater"} == key), None)
        if first is not None:
            sec["reliability_same_as"] = first["rater"]
            first["reliability_covers"].append(sec["rater"])


def _rubric_section(ctx: _Context, rub_name: str) -> dict:
    """One rubric: its dimensions, a section per LLM rater, and the data of the rubric-wide plots."""
    idx = ctx.idx
    rub = _fetch.load_stored_rubric(ctx.store, rub_name)
    present = set(idx.dimensions(rub_name))
    dims = [d for d in rub.dimensions if d.name in present]
    llm_here = [r for r, rb in ctx.pairs if rb == rub_name]
    reference = idx.reference(llm_here[0], rub_name) if llm_here else "humans"
    sections = [_rater_section(ctx, rater, rub, dims) for rater in llm_here]
    same_columns([s["agreement"] for s in sections])
    _share_reliability(sections)
    paired = any(s["design"] == "paired" for s in sections)
    alpha = [{"who": r, "dimension": d.name,
              **_cell(idx, r, rub_name, d.name, "krippendorff_alpha", design="paired" if r == CEILING else None)}
             for r in llm_here + ([CEILING] if paired else []) for d in dims]
    return {
        "name": rub_name, "version": rub.version, "description": rub.description, "reference": reference,
        "dimensions": [{"name": d.name, "question": d.question, "level": d.level, "range": list(d.value_range),
                        "options": [{"label": o.label, "value": o.value} for o in d.options]} for d in dims],
        "raters": sections,
        "bias": [{"rater": r, "dimension": d.name, "range": list(d.value_range),
                  **_cell(idx, r, rub_name, d.name, "mean_diff")} for r in llm_here for d in dims],
        "alpha": alpha,
        "humans": humans_agreement(idx, rub_name, [d.name for d in dims]),
        "systems": system_section(idx, rub_name, llm_here, [d.name for d in dims]),
        "has_ceiling": any(is_num(a.get("value")) for a in alpha if a["who"] == CEILING),
        "has_floor": any(is_num(_cell(idx, CEILING, rub_name, d.name, "wasserstein", design="matched")["value"])
                         for d in dims),
        "designs": sorted({s["design"] for s in sections}),
        "distributions": option_distributions(ctx.store, rub, llm_here, ctx.raters, reference=reference),
    }


def build_report_data(store, rows: pd.DataFrame, *, settings: dict, title: str | None = None, top: int = 10,
                      difficulty_file: str | None = None, created_at: datetime | None = None,
                      plan_halfwidth: float | None = None) -> dict:
    """Everything the templates render and the JSON report holds (the plots are drawn from it).

    ``rows`` are :func:`auditor.audit.audit`'s rows; ``settings`` (bootstrap size, seed, CI method, ...) are
    recorded as given. Keys: ``title``, ``created_at``, ``settings``, ``colors``, ``rubrics`` (per rubric: the
    dimensions, one section per LLM rater with its verdict, agreement table, gap rows, largest disagreements,
    confusion matrices, reliability bins and outcome calibration, and the plot data), ``leaderboard``,
    ``provenance`` and ``rows``.
    """
    created_at = created_at or datetime.now(timezone.utc)
    ctx = _Context(store, rows, top=top, difficulty_file=difficulty_file)
    rubrics = [_rubric_section(ctx, name) for name in ctx.idx.rubrics()]
    for rub in rubrics:
        rub["plan"] = []
        if plan_halfwidth:
            from ._plan import plan_section

            paired = [s["rater"] for s in rub["raters"] if s["design"] == "paired"]
            rub["plan"] = plan_section(store, _fetch.load_stored_rubric(store, rub["name"]), paired, plan_halfwidth,
                                       seed=int(settings.get("seed") or 0))
    board = sort_leaderboard(leaderboard(store, rows)) if ctx.pairs else pd.DataFrame()
    shown = [k for k in LEADERBOARD_METRICS if not board.empty and board[k].notna().any()]
    settings = dict(settings)
    kinds = [i.kind for i in ctx.raters.values()]
    return {
        "no_llm": None if ctx.pairs else {"n_humans": kinds.count("human"), "n_llm_stored": len(kinds) - kinds.count(
            "human"), "rubrics": [r["name"] for r in rubrics]},
        "title": title or "Agreement report",
        "created_at": created_at.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "colors": {"humans": HUMAN_COLOR, **ctx.colors},
        "rubrics": rubrics,
        "leaderboard": _records(board),
        "leaderboard_columns": shown,
        "leaderboard_absent": [k for k in LEADERBOARD_METRICS if k not in shown],
        "provenance": provenance(store, settings=settings, created_at=created_at),
        "rows": _records(rows),
    }
