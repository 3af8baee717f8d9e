"""Agreement among all humans: the multi-rater statistics the audit computed for the human raters of one rubric."""

from __future__ import annotations

import re

from ._format import fmt_cell, is_num
from ._rows import MULTIRATER, RowIndex

__all__ = ["HUMAN_STATS", "humans_agreement"]

# (audit statistic, column label); a column is shown when the audit gave it a value on some dimension
HUMAN_STATS = [("krippendorff_alpha", "Krippendorff α"), ("fleiss_kappa", "Fleiss κ"), ("gwet_ac1", "Gwet AC1"),
               ("gwet_ac2", "Gwet AC2 (weighted)"), ("icc", "ICC"),
               ("pairwise_cohen_kappa", "mean pairwise Cohen's κ"), ("pairwise_agreement", "mean pairwise agreement")]
_EMPTY = {"value": None, "ci_low": None, "ci_high": None, "n": None, "note": None}
_ICC_FORM = re.compile(r"(ICC\(\d,\s*\w+\))")


def humans_agreement(rows: RowIndex, rubric: str, dims: list[str]) -> dict:
    """``{"columns": [{"statistic", "label"}], "rows": [{"dimension", "n", "cells", "text"}], "icc_form"}``.

    Rows are the rubric's dimensions; cells are the audit's rows of rater ``humans`` (all None where the audit has
    none). ``columns`` keeps only statistics with a value on at least one dimension, in :data:`HUMAN_STATS`
    order, so a rubric without interval-like dimensions shows no ICC column rather than a column of n/a.
    """
    out_rows = []
    for d in dims:
        cells = {s: rows.cell(MULTIRATER, rubric, d, s) or dict(_EMPTY) for s, _ in HUMAN_STATS}
        ns = [int(c["n"]) for c in cells.values() if is_num(c.get("n"))]
        out_rows.append({"dimension": d, "n": max(ns) if ns else None, "cells": cells})
    cols = [{"statistic": s, "label": lab} for s, lab in HUMAN_STATS
            if any(is_num(r["cells"][s].get("value")) for r in out_rows)]
    for r in out_rows:
        r["text"] = {c["statistic"]: fmt_cell(r["cells"][c["statistic"]], c["statistic"]) for c in cols}
    icc_form = None
    if any(c["statistic"] == "icc" for c in cols):
        note = next((r["cells"]["icc"].get("note") or "" for r in out_rows if r["cells"]["icc"].get("note")), "")
        m = _ICC_FORM.search(note)
        icc_form = m.group(1) if m else None
        for c in cols:
            if c["statistic"] == "icc" and icc_form:
                c["label"] = icc_form
    return {"columns": cols, "rows": out_rows, "icc_form": icc_form}
