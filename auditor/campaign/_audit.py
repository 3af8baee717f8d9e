"""A campaign's audit: the same ``audit()`` as the CLI, on the campaign's items and annotators only.

The campaign's slice of the store (its conversations; its annotators and every LLM rater; the rubric) is copied
into an in-memory store and audited there, so the dashboard, ``auditor audit --campaign NAME`` and a plain
``auditor audit`` of a store that holds only the campaign's humans give the same numbers.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from ..audit import AuditOptions, audit
from ..store import Store
from ._read import _campaign_row

__all__ = ["campaign_store", "campaign_audit", "audit_slice", "items_needed", "agreement_summary"]

_TABLES = {
    "rubrics": "SELECT * FROM rubrics WHERE rubric = ?",
    "dimensions": "SELECT * FROM dimensions WHERE rubric = ?",
    "options": "SELECT * FROM options WHERE rubric = ?",
    "tasks": "SELECT * FROM tasks",
    "raters": "SELECT * FROM raters WHERE kind <> 'human' OR rater_id IN (SELECT annotator FROM campaign_annotators "
              "WHERE campaign = ?)",
    "conversations": "SELECT * FROM conversations WHERE conversation_id IN (SELECT conversation_id FROM "
                     "campaign_items WHERE campaign = ?)",
    "signals": "SELECT s.* FROM signals s JOIN raters r USING (rater_id) WHERE s.rubric = ? AND s.conversation_id IN "
               "(SELECT conversation_id FROM campaign_items WHERE campaign = ?) AND (r.kind <> 'human' OR "
               "s.rater_id IN (SELECT annotator FROM campaign_annotators WHERE campaign = ?))",
}


_WITH_LLM_ONLY = {
    "conversations": "SELECT * FROM conversations WHERE conversation_id IN (SELECT conversation_id FROM "
                     "campaign_items WHERE campaign = ?) OR conversation_id IN (SELECT s.conversation_id FROM "
                     "signals s JOIN raters r USING (rater_id) WHERE r.kind <> 'human' AND s.rubric = ?)",
    "signals": "SELECT s.* FROM signals s JOIN raters r USING (rater_id) WHERE s.rubric = ? AND ((r.kind <> 'human') "
               "OR (s.conversation_id IN (SELECT conversation_id FROM campaign_items WHERE campaign = ?) AND "
               "s.rater_id IN (SELECT annotator FROM campaign_annotators WHERE campaign = ?)))",
}
# the campaign tables travel too, so the audit of the slice knows the design (inclusion probabilities)
_CAMPAIGN_TABLES = {t: f"SELECT * FROM {t} WHERE campaign = ?" for t in
                    ("campaigns", "campaign_annotators", "campaign_items", "campaign_assignments", "campaign_answers")}


def campaign_store(store: Store, campaign: str, *, llm_only: bool = False) -> Store:
    """An in-memory store holding only the campaign's slice (its rubric, items, annotators and the LLM raters).

    ``llm_only=True`` also keeps every conversation an LLM rater scored on the rubric (without other humans), so
    that LLM-only statistics and corrected estimates see the whole sampling frame."""
    row = _campaign_row(store, campaign)
    params = {"rubrics": [row["rubric"]], "dimensions": [row["rubric"]], "options": [row["rubric"]], "tasks": [],
              "raters": [campaign], "conversations": [campaign], "signals": [row["rubric"], campaign, campaign]}
    tables = dict(_TABLES)
    if llm_only:
        tables.update(_WITH_LLM_ONLY)
        params["conversations"] = [campaign, row["rubric"]]
    tables.update(_CAMPAIGN_TABLES)
    params.update({t: [campaign] for t in _CAMPAIGN_TABLES})
    out = Store(":memory:")
    for table, query in tables.items():
        data = store.con.sql(query, params=params[table]).to_arrow_table()
        out.con.register("_copy", data)
        try:
            # the view signals has the columns of signal_rows, in their order (migration 009)
            out.con.execute(f"INSERT INTO {'signal_rows' if table == 'signals' else table} SELECT * FROM _copy")
        finally:
            out.con.unregister("_copy")
    return out


def campaign_audit(store: Store, campaign: str, options: AuditOptions | None = None) -> pd.DataFrame:
    """``audit()`` of the campaign's slice: the annotators' ceiling and every LLM rater against them."""
    rubric = _campaign_row(store, campaign)["rubric"]
    with campaign_store(store, campaign, llm_only=True) as sub:
        return audit_slice(sub, rubric, options)


def audit_slice(sub: Store, rubric: str, options: AuditOptions | None = None) -> pd.DataFrame:
    """The audit of a store made by :func:`campaign_store`; empty while there is nothing to compare yet."""
    n_humans = sub.con.execute("SELECT count(DISTINCT rater_id) FROM signals s JOIN raters r USING (rater_id) "
                               "WHERE r.kind = 'human' AND s.status = 'ok'").fetchall()[0][0]
    n_llm = sub.con.execute("SELECT count(*) FROM raters WHERE kind <> 'human'").fetchall()[0][0]
    if n_humans == 0 or (not n_llm and n_humans < 2):
        return pd.DataFrame()
    opts = options or AuditOptions()
    if opts.rubric is None:
        opts = dataclasses.replace(opts, rubric=rubric)       # the caller's options stay as they were
    return audit(sub, opts)


def items_needed(n: int, half_width: float, target: float) -> int | None:
    """Items for an interval half-width of ``target``, from the current one at ``n`` items (width ∝ 1/√n).

    An approximation for planning, not a guarantee; None when the current width is undefined.
    """
    if not (n > 0 and half_width > 0 and target > 0) or math.isnan(half_width):
        return None
    return int(math.ceil(n * (half_width / target) ** 2))


def agreement_summary(rows: pd.DataFrame, *, target: float = 0.1) -> pd.DataFrame:
    """The dashboard's table: per rater (``humans`` = the annotators among themselves, then each LLM rater) and
    dimension, Krippendorff's α and the mean bias with intervals, and the items a ``target`` half-width needs."""
    if rows.empty:
        return pd.DataFrame(columns=["rater", "dimension", "alpha", "alpha_low", "alpha_high", "n", "bias",
                                     "bias_low", "bias_high", "items_for_target", "note"])
    alpha = rows[(rows.statistic == "krippendorff_alpha") & (rows.rater != "human_loo")]
    bias = rows[rows.statistic == "mean_diff"].set_index(["rater", "dimension"])
    out = []
    for r in alpha.itertuples(index=False):
        b = bias.loc[(r.rater, r.dimension)] if (r.rater, r.dimension) in bias.index else None
        hw = (r.ci_high - r.ci_low) / 2 if pd.notna(r.ci_high) and pd.notna(r.ci_low) else float("nan")
        need = items_needed(int(r.n), hw, target) if pd.notna(r.n) else None
        out.append({"rater": r.rater, "dimension": r.dimension, "alpha": r.value, "alpha_low": r.ci_low,
                    "alpha_high": r.ci_high, "n": r.n,
                    "bias": None if b is None else b["value"], "bias_low": None if b is None else b["ci_low"],
                    "bias_high": None if b is None else b["ci_high"],
                    "items_for_target": need, "note": r.note})
    df = pd.DataFrame(out)
    first = (df["rater"] != "humans").to_numpy()      # the annotators' own agreement first, then each LLM rater
    return df.iloc[first.argsort(kind="stable")].reset_index(drop=True)
