"""Verdict cards and the per-dimension agreement table, from the audit rows.

Rules (README "Reports"):

- paired design, human ceiling available (rater ``human_loo`` has a defined alpha, or the alternative annotator
  test was computed): a dimension is *within the human ceiling* when the alt-test passed (winning rate >= 0.5) or
  the LLM's alpha reaches the lower end of the human-vs-human interval (:data:`CEILING_RULE` = ``any``; set it to
  ``all`` to require every available criterion). The reason always lists each criterion's outcome.
- paired design, no ceiling (e.g. one human per conversation): Krippendorff's conventional thresholds, labelled as
  such: alpha >= 0.800 reliable, >= 0.667 tentative, below that not reliable.
- matched design: the LLM's answer distribution (Wasserstein distance to the humans', by task) is within the
  distance between human batches (its upper CI), when there are two or more batches.
- a dimension whose statistic is undefined is "cannot say", with the audit's reason.
"""

from __future__ import annotations

from ._format import fmt, fmt_ci, fmt_cell, is_num, plural
from ._rows import CEILING, RowIndex

__all__ = ["ALPHA_RELIABLE", "ALPHA_TENTATIVE", "STATUS_LABELS", "STATUS_SHORT", "dimension_status",
           "agreement_table", "same_columns", "verdict"]

ALPHA_RELIABLE = 0.800
ALPHA_TENTATIVE = 0.667
STATUS_LABELS = {
    "within": "within the human ceiling",
    "below": "below the human ceiling",
    "reliable": "reliable (α ≥ 0.800, conventional)",
    "tentative": "tentative (0.667 ≤ α < 0.800, conventional)",
    "low": "not reliable (α < 0.667, conventional)",
    "undefined": "cannot say",
}
STATUS_SHORT = {"within": "within ceiling", "below": "below ceiling", "reliable": "reliable",
                "tentative": "tentative", "low": "not reliable", "undefined": "cannot say"}
GOOD = ("within", "reliable")
CEILING_RULE = any      # how the available ceiling criteria (alt-test, alpha vs the human CI) combine

# (key, column label, statistic, whose row: "llm" | "ceiling", signed)
PAIRED_COLUMNS = [
    ("alpha", "Krippendorff α", "krippendorff_alpha", "llm", False),
    ("ceiling_alpha", "human ceiling α", "krippendorff_alpha", "ceiling", False),
    ("alt_win", "alt-test win rate", "alt_test_winning_rate", "llm", False),
    ("kappa_w", "κw quadratic", "weighted_kappa_quadratic", "llm", False),
    ("mae", "MAE", "mae", "llm", False),
    ("mean_bias", "mean bias (LLM − human)", "mean_diff", "llm", True),
    ("ece", "ECE", "ece", "llm", False),
]
MATCHED_COLUMNS = [
    ("mean_bias", "mean shift (LLM − human)", "mean_diff", "llm", True),
    ("wasserstein", "Wasserstein", "wasserstein", "llm", False),
    ("floor_wasserstein", "between human batches", "wasserstein", "ceiling", False),
    ("js", "JS divergence", "js_divergence", "llm", False),
    ("leniency", "P(LLM > human)", "leniency_rate", "llm", False),
]


def _valid(cell: dict | None) -> bool:
    return bool(cell) and is_num(cell.get("value"))


def dimension_status(rows: RowIndex, rater: str, rubric: str, dim: str, design: str) -> tuple[str, str]:
    """(status, plain-words reason) of one dimension; status is a key of :data:`STATUS_LABELS`."""
    if design == "matched":
        w = rows.cell(rater, rubric, dim, "wasserstein")
        floor = rows.cell(CEILING, rubric, dim, "wasserstein", design="matched")
        if not _valid(w):
            return "undefined", (w or {}).get("note") or "no Wasserstein distance computed for this dimension"
        if not _valid(floor):
            return "undefined", ("no human floor: the distance between human batches needs two or more batches "
                                 f"on the same tasks (LLM vs humans: Wasserstein {fmt(w['value'])})")
        top = floor["ci_high"] if is_num(floor.get("ci_high")) else floor["value"]
        ok = float(w["value"]) <= float(top)
        rel = "within" if ok else "beyond"
        return ("within" if ok else "below"), (
            f"answer distribution {rel} the spread between human batches: Wasserstein {fmt(w['value'])} vs "
            f"{fmt(floor['value'])} {fmt_ci(floor.get('ci_low'), floor.get('ci_high'))} between batches")
    alpha = rows.cell(rater, rubric, dim, "krippendorff_alpha")
    ceil = rows.cell(CEILING, rubric, dim, "krippendorff_alpha", design="paired")
    alt = rows.cell(rater, rubric, dim, "alt_test_passed")
    win = rows.cell(rater, rubric, dim, "alt_test_winning_rate")
    checks: list[tuple[bool, str]] = []
    if _valid(alt):
        w = f" (winning rate {fmt(win['value'])})" if _valid(win) else ""
        checks.append((float(alt["value"]) >= 0.5, ("alt-test passed" if float(alt["value"]) >= 0.5
                                                    else "alt-test failed") + w))
    if _valid(ceil) and _valid(alpha):
        lo = ceil["ci_low"] if is_num(ceil.get("ci_low")) else ceil["value"]
        hi = ceil["ci_high"] if is_num(ceil.get("ci_high")) else ceil["value"]
        a = float(alpha["value"])
        ok = a >= float(lo)
        where = "above" if a > float(hi) else ("within" if ok else "below")
        ci = fmt_ci(ceil.get("ci_low"), ceil.get("ci_high"))
        checks.append((ok, f"α {fmt(a)} is {where} the human-vs-human interval (α {fmt(ceil['value'])}"
                           + (f" {ci})" if ci else ")")))
    if checks:
        return ("within" if CEILING_RULE(ok for ok, _ in checks) else "below"), "; ".join(t for _, t in checks)
    if not _valid(alpha):
        return "undefined", (alpha or {}).get("note") or "α was not computed for this dimension"
    a = float(alpha["value"])
    if a >= ALPHA_RELIABLE:
        return "reliable", f"α {fmt(a)} ≥ {ALPHA_RELIABLE:.3f}"
    if a >= ALPHA_TENTATIVE:
        return "tentative", f"α {fmt(a)} ≥ {ALPHA_TENTATIVE:.3f} but < {ALPHA_RELIABLE:.3f}"
    return "low", f"α {fmt(a)} < {ALPHA_TENTATIVE:.3f}"


def agreement_table(rows: RowIndex, rater: str, rubric: str, dims: list[str], design: str,
                    questions: dict[str, str] | None = None) -> dict:
    """Per-dimension cells next to the ceiling: ``{"columns": [...], "rows": [...]}`` (empty columns dropped)."""
    spec = MATCHED_COLUMNS if design == "matched" else PAIRED_COLUMNS
    out_rows = []
    for dim in dims + ["all"]:
        cells = {}
        for key, _, stat, whose, _ in spec:
            who = rater if whose == "llm" else CEILING
            cells[key] = rows.cell(who, rubric, dim, stat, design=None if whose == "llm" else design)
        if dim == "all" and not any(_valid(c) for c in cells.values()):
            continue
        n = max([int(c["n"]) for c in cells.values() if c and is_num(c.get("n"))] or [0])
        status, reason = ("", "") if dim == "all" else dimension_status(rows, rater, rubric, dim, design)
        out_rows.append({"dimension": dim, "question": (questions or {}).get(dim, ""), "n": n, "cells": cells,
                         "status": status, "status_label": STATUS_LABELS.get(status, ""),
                         "status_short": STATUS_SHORT.get(status, ""), "reason": reason, "pooled": dim == "all"})
    table = {"design": design, "columns": [], "rows": out_rows}
    return same_columns([table])[0]


def same_columns(tables: list[dict]) -> list[dict]:
    """Give every table of one design the same columns: each statistic any of them has (n/a cells where a rater
    has none), so the raters of a rubric can be read side by side. Tables are changed in place and returned."""
    for design in {t["design"] for t in tables}:
        group = [t for t in tables if t["design"] == design]
        spec = MATCHED_COLUMNS if design == "matched" else PAIRED_COLUMNS
        cols = [{"key": k, "label": lab, "statistic": stat, "signed": signed} for k, lab, stat, _, signed in spec
                if any(_valid(r["cells"].get(k)) for t in group for r in t["rows"])]
        for t in group:
            t["columns"] = cols
            for r in t["rows"]:
                r["text"] = {c["key"]: fmt_cell(r["cells"].get(c["key"]), c["statistic"], signed=c["signed"])
                             for c in cols}
    return tables


def _bias_sentence(rows: RowIndex, rater: str, rubric: str, dims: list[str], ranges: dict) -> str:
    hits = []
    for d in dims:
        c = rows.cell(rater, rubric, d, "mean_diff")
        if not (_valid(c) and is_num(c.get("ci_low")) and is_num(c.get("ci_high"))):
            continue
        if c["ci_low"] > 0 or c["ci_high"] < 0:
            lo, hi = ranges.get(d, (0.0, 1.0))
            hits.append((abs(c["value"]) / ((hi - lo) or 1.0), d, c))
    if not hits:
        return "No dimension shows a systematic bias (every mean-difference interval includes 0)."
    hits.sort(key=lambda t: (-t[0], t[1]))
    parts = [f"{'more lenient' if c['value'] > 0 else 'harsher'} than the humans on {d} "
             f"({fmt(c['value'], signed=True)} points {fmt_ci(c['ci_low'], c['ci_high'])})"
             for _, d, c in hits[:4]]
    more = f", and {len(hits) - 4} more" if len(hits) > 4 else ""
    return f"Systematic bias on {len(hits)} of {plural(len(dims), 'dimension')}: " + "; ".join(parts) + more + "."


def _no_ceiling_reason(rows: RowIndex, rubric: str, dims: list[str], design: str) -> str:
    """Why there is no human ceiling, in plain words (from the ceiling rows' notes)."""
    stat = "wasserstein" if design == "matched" else "krippendorff_alpha"
    notes = [(rows.cell(CEILING, rubric, d, stat, design=design) or {}).get("note") or "" for d in dims]
    if not any(notes) or design == "matched":
        return ("these data have no second human batch on the same tasks" if design == "matched" else
                "the humans cannot be compared with each other in these data")
    if any("two or more human ratings" in t for t in notes):
        return ("every conversation has a single human rating, so the humans cannot be compared with each other "
                "on the same conversation")
    first = next(t for t in notes if t)
    return first.split("undefined: ", 1)[-1]


def _metric_text(rows: RowIndex, rater: str, rubric: str, dim: str, design: str) -> str:
    stat, sym = ("wasserstein", "W") if design == "matched" else ("krippendorff_alpha", "α")
    c = rows.cell(rater, rubric, dim, stat)
    return f"{sym} {fmt(c['value'])}" if _valid(c) else f"{sym} n/a"


def _list(names: list[str], limit: int = 12) -> str:
    if not names:
        return "none"
    s = ", ".join(names[:limit])
    return s + (f" and {len(names) - limit} more" if len(names) > limit else "")


def verdict(rows: RowIndex, rater: str, rubric: str, dims: list[str], design: str, *, info: dict,
            ranges: dict) -> dict:
    """One verdict card: headline, tone (good / mixed / bad / unknown), sentences and per-dimension statuses."""
    statuses = {d: dimension_status(rows, rater, rubric, d, design) for d in dims}
    by = {k: [d for d, (s, _) in statuses.items() if s == k] for k in STATUS_LABELS}
    n = len(dims)
    sentences: list[str] = []
    has_ceiling = any(s in ("within", "below") for s, _ in statuses.values())
    ceiling_note = _no_ceiling_reason(rows, rubric, dims, design)
    if has_ceiling:
        k = len(by["within"])
        basis = "human ceiling"
        headline = (f"Within the human ceiling on all {n} dimensions" if k == n and n > 1 else
                    f"Within the human ceiling on {k} of {plural(n, 'dimension')}")
        sentences.append(f"Within the human ceiling: {_list(by['within'])}. Not within: {_list(by['below'])}."
                         + (f" Cannot say: {_list(by['undefined'])}." if by["undefined"] else ""))
        if design == "matched":
            sentences.append("Matched design (the LLM rates its own conversations, humans theirs, on the same "
                             "tasks): a dimension is within the ceiling when the LLM's answers are no further from "
                             "the humans' than human batches are from each other.")
        else:
            sentences.append("Human ceiling: each human against the consensus of the other humans on the same "
                             "conversations. A dimension is within it when the alternative annotator test passes or "
                             "the LLM's α reaches the lower end of the human-vs-human interval.")
        tone = "good" if k == n else ("bad" if k == 0 else "mixed")
    elif design == "paired" and any(s in ("reliable", "tentative", "low") for s, _ in statuses.values()):
        basis = "conventional thresholds"
        a, b, c = len(by["reliable"]), len(by["tentative"]), len(by["low"])
        if a == n:
            headline = f"Reliable on all {n} dimensions" if n > 1 else "Reliable"
        elif a + b == 0:
            headline = f"Not reliable on any of the {n} dimensions" if n > 1 else "Not reliable"
        else:
            headline = f"Reliable on {a}, tentative on {b}, not reliable on {c} of {plural(n, 'dimension')}"
        sentences.append(f"No human ceiling: {ceiling_note}. This verdict therefore uses Krippendorff's conventional "
                         "thresholds (α ≥ 0.800 reliable; α ≥ 0.667 for tentative conclusions only): a generic "
                         "yardstick, not a comparison with these humans.")
        sentences.append(f"Reliable: {_list(by['reliable'])}. Tentative: {_list(by['tentative'])}. "
                         f"Not reliable: {_list(by['low'])}."
                         + (f" Cannot say: {_list(by['undefined'])}." if by["undefined"] else ""))
        tone = "good" if a == n else ("bad" if a + b == 0 else "mixed")
    else:
        basis = "none"
        headline = f"Cannot say on {len(by['undefined'])} of {plural(n, 'dimension')}"
        sentences.append("Neither a human ceiling nor an agreement statistic is defined for this rater"
                         + (f" ({ceiling_note})" if design == "matched" else "")
                         + "; see the reasons per dimension below.")
        tone = "unknown"
    sentences.append(_bias_sentence(rows, rater, rubric, dims, ranges))
    ev = rows.cell(rater, rubric, "all", "eval_score")
    if _valid(ev):
        ceil = rows.cell(CEILING, rubric, "all", "eval_score", design=design)
        c = (f"human-vs-human ceiling {fmt_cell(ceil, 'eval_score')}" if _valid(ceil)
             else "no human-vs-human Eval ceiling in these data")
        sentences.append(f"Eval {fmt_cell(ev, 'eval_score')} on 0–100 (100 = the same answers as the humans; "
                         f"{c}).")
    oe = rows.cell(rater, rubric, "all", "outcome_ece")
    if _valid(oe):
        ceil = rows.cell(CEILING, rubric, "all", "outcome_ece", design="matched")
        c = f"; between human batches {fmt_cell(ceil)}" if _valid(ceil) else ""
        sentences.append(f"Outcome ECE {fmt_cell(oe)} (0 = succeeds exactly as often as real users at every task "
                         f"difficulty{c}).")
    gap = rows.cell(rater, rubric, "all", "success_rate_gap")
    if _valid(gap):
        direction = ("more often than" if gap["value"] > 0 else "less often than" if gap["value"] < 0
                     else "as often as")
        sentences.append(f"Success-rate gap {fmt_cell(gap, signed=True)}: as a user it completes tasks {direction} "
                         "real users" + (" (\u201ceasy mode\u201d)." if gap["value"] > 0 else "."))
    return {"rater": rater, "rubric": rubric, "design": design, "basis": basis, "headline": headline,
            "tone": tone, "sentences": sentences, "info": info,
            "dimensions": [{"dimension": d, "status": s, "status_label": STATUS_LABELS[s],
                            "status_short": STATUS_SHORT[s], "reason": r,
                            "metric": _metric_text(rows, rater, rubric, d, design)}
                           for d, (s, r) in statuses.items()],
            "counts": {k: len(v) for k, v in by.items()}, "good": [d for d in dims if statuses[d][0] in GOOD]}
