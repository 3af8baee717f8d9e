"""The report's system ranking: per rubric, each LLM rater's system-level rows (``design = system``) and the
per-system means behind them."""

from __future__ import annotations

from ._rows import RowIndex, clean

__all__ = ["system_section"]

RANK_STATS = ["system_kendall_tau_b", "system_spearman", "system_pairwise_agreement", "system_reversed_pairs",
              "system_top1_agreement", "system_top1_probability"]


def _cells(df) -> dict:
    return {r["statistic"]: {k: clean(r[k]) for k in ("value", "ci_low", "ci_high", "n", "note")}
            for r in df.to_dict("records")}


def system_section(idx: RowIndex, rubric: str, raters: list[str], dims: list[str]) -> dict:
    """``{"ranks": [{rater, dimension, cells}], "means": [{dimension, systems: [{system, human, llm: {rater:
    cell}}]}]}``; empty lists when the audit has no system rows for this rubric."""
    d = idx.df[(idx.df["rubric"] == rubric) & (idx.df["design"] == "system")]
    if d.empty:
        return {"ranks": [], "means": []}
    ranks, means = [], []
    for dim in dims:
        dd = d[d["dimension"] == dim]
        if dd.empty:
            continue
        systems: dict[str, dict] = {}
        for rater in raters:
            rr = dd[dd["rater"] == rater]
            if rr.empty:
                continue
            cells = _cells(rr)
            ranks.append({"rater": rater, "dimension": dim, "cells": {s: cells.get(s) for s in RANK_STATS}})
            for stat, c in cells.items():
                if stat.startswith("system_human_mean="):
                    systems.setdefault(stat.split("=", 1)[1], {"llm": {}})["human"] = c
                elif stat.startswith("system_llm_mean="):
                    systems.setdefault(stat.split("=", 1)[1], {"llm": {}})["llm"][rater] = c
        rows = [{"system": k, **v} for k, v in systems.items()]

        def by_human_mean(r):          # highest human mean first; systems without one last
            v = (r.get("human") or {}).get("value")
            return -v if isinstance(v, (int, float)) else float("inf")

        rows.sort(key=by_human_mean)
        means.append({"dimension": dim, "systems": rows})
    return {"ranks": ranks, "means": means}
