"""Judge panels: a virtual LLM rater computed from stored verdicts of several judges (``auditor panel create``).

A panel's verdict on a (conversation, dimension) combines its members' scores there (each member's score: the mean
of its answered samples, or their most common value for ``majority``, ties broken as below), when more than half of
the members have one (computed in DuckDB):

- ``mean``: the mean of the member scores (it may fall between two options; stored without a label);
- ``median``: the median (the mean of the two middle scores for an even count);
- ``majority``: the most common member score; a tie is broken toward the tied value closest to the members' median,
  then toward the lower value (a documented, deterministic rule; tests/test_panels.py).

The panel is stored as a rater of kind ``judge`` with ``metadata.panel = {members, rule}``, its verdicts as signals
(``value_source = 'panel'``), in one transaction; creating it again recomputes it (unchanged verdicts stay, changed
ones are replaced, verdicts that no longer exist are removed). The audit adds panel rows (:mod:`auditor.audit._panel`).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .errors import AuditorError
from .store import LoadResult, Store

__all__ = ["RULES", "create_panel", "panels", "combine"]

RULES = ("mean", "median", "majority")


def panels(store: Store) -> dict[str, dict]:
    """{panel rater id: {"members": [...], "rule": ...}} for every panel in the store."""
    rows = store.con.execute("SELECT rater_id, metadata FROM raters WHERE json_extract(metadata, '$.panel') IS NOT "
                             "NULL ORDER BY rater_id").fetchall()
    return {r: json.loads(m)["panel"] for r, m in rows}


def combine(scores: np.ndarray, rule: str) -> float:
    """One panel verdict from its members' scores (see the module docstring)."""
    s = np.sort(np.asarray(scores, dtype=float))
    if rule == "mean":
        return float(s.mean())
    med = float(np.median(s))
    if rule == "median":
        return med
    vals, cnt = np.unique(s, return_counts=True)
    tied = vals[cnt == cnt.max()]
    return float(tied[np.lexsort((tied, np.abs(tied - med)))][0])


def _mode(table: str, keys: str) -> str:
    """SQL: per ``keys`` of ``table`` (columns keys..., v) the most common v, ties toward the tied value closest to
    the group's median, then the lower one (:func:`combine`'s rule)."""
    return (f"SELECT {keys}, arg_min(v, [-(k)::DOUBLE, abs(v - med), v]) AS v, sum(k) AS n FROM (SELECT {keys}, v, "
            f"count(*) AS k, any_value(med) AS med FROM (SELECT *, median(v) OVER (PARTITION BY {keys}) AS med "
            f"FROM {table}) GROUP BY ALL) GROUP BY ALL")


def _verdicts(store: Store, members: list[str], rule: str, rubric: str | None, need: int) -> pd.DataFrame:
    """The panel's verdicts: (conversation_id, rubric, dimension, value, label), in DuckDB."""
    where = "status = 'ok' AND value IS NOT NULL AND rater_id = ANY($members)" + (" AND rubric = $rubric"
                                                                                  if rubric else "")
    raw = f"(SELECT conversation_id, rubric, dimension, rater_id, value AS v FROM signals WHERE {where})"
    keys = "conversation_id, rubric, dimension"
    if rule == "majority":
        member = f"({_mode(raw, keys + ', rater_id')})"
        panel = f"SELECT * FROM ({_mode(member, keys)}) WHERE n >= {need}"
    else:
        member = f"(SELECT {keys}, rater_id, avg(v) AS v FROM {raw} GROUP BY ALL)"
        agg = "avg(v)" if rule == "mean" else "median(v)"
        panel = f"SELECT {keys}, {agg} AS v FROM {member} GROUP BY ALL HAVING count(*) >= {need}"
    q = (f"WITH p AS ({panel}), lab AS (SELECT rubric, dimension, value, any_value(label) AS label FROM options "
         f"GROUP BY ALL HAVING count(*) = 1) SELECT p.conversation_id, p.rubric, p.dimension, p.v AS value, "
         f"lab.label FROM p LEFT JOIN lab ON lab.rubric = p.rubric AND lab.dimension = p.dimension AND "
         f"lab.value = p.v ORDER BY 1, 2, 3")
    return store.con.execute(q, {"members": members, **({"rubric": rubric} if rubric else {})}).fetchdf()


def create_panel(store: Store, name: str, judges: list[str], rule: str = "mean",
                 rubric: str | None = None) -> LoadResult:
    """Compute and store the panel ``name`` of ``judges`` (stored LLM raters) under ``rule``."""
    from .store._writes import write_signals

    if rule not in RULES:
        raise AuditorError(f"unknown panel rule {rule!r}. Fix: use one of {', '.join(RULES)}.")
    members = list(dict.fromkeys(j.strip() for j in judges if j.strip()))
    if len(members) < 2:
        raise AuditorError("a panel needs at least 2 different judges. Fix: --judges a,b[,c...].")
    kinds = dict(store.con.execute("SELECT rater_id, kind FROM raters").fetchall())
    known = panels(store)
    if name in kinds and name not in known:
        raise AuditorError(f"{name!r} is already a {kinds[name]} rater, not a panel. Fix: choose another name.")
    if name in members:
        raise AuditorError(f"panel {name!r} cannot be its own member. Fix: choose another name.")
    llm = sorted(r for r, k in kinds.items() if k in ("judge", "simulator") and r not in known)
    for m in members:
        if m not in kinds:
            raise AuditorError(f"unknown judge {m!r}. Fix: use stored LLM raters: {', '.join(llm) or '(none yet)'}.")
        if kinds[m] == "human":
            raise AuditorError(f"{m!r} is a human rater; a panel combines judges or simulators. Fix: drop it.")
        if m in known:
            raise AuditorError(f"{m!r} is itself a panel. Fix: list its members ({', '.join(known[m]['members'])}) "
                               "instead.")
    need = len(members) // 2 + 1
    df = _verdicts(store, members, rule, rubric, need)
    if df.empty:
        raise AuditorError(f"no conversation has verdicts from more than half of {', '.join(members)}"
                           + (f" on rubric {rubric!r}" if rubric else "") + ". Fix: run or ingest those judges on "
                           "the same conversations first.")
    df = df.assign(rater_id=name, sample=0, rater_kind="judge", status="ok", value_source="panel")
    meta = {"panel": {"members": members, "rule": rule, "min_members": need, "rubric": rubric}}
    with store.transaction():
        keys = df[["conversation_id", "rubric", "dimension"]]
        store.con.register("_panel_keys", keys)
        try:
            n_gone = store.delete_signals(
                "s.rater_id = ? AND NOT EXISTS (SELECT 1 FROM _panel_keys k WHERE k.conversation_id = "
                "s.conversation_id AND k.rubric = s.rubric AND k.dimension = s.dimension)"
                + (" AND s.rubric = ?" if rubric else ""), [name] + ([rubric] if rubric else []))
        finally:
            store.con.unregister("_panel_keys")
        res = None
        for rub, part in df.groupby("rubric"):
            r = write_signals(store, part.reset_index(drop=True), source=f"panel {name} ({rule} of "
                              f"{', '.join(members)})", kind="panel", replace=True, rubric=rub, options=meta)
            res = r if res is None else _add(res, r)
        store.con.execute("UPDATE raters SET metadata = ? WHERE rater_id = ?", [json.dumps(meta), name])
    res.n_replaced += int(n_gone)
    if n_gone:
        res.notes.append(f"{n_gone} earlier panel verdict(s) no longer have enough member verdicts: removed")
    return res


def _add(a: LoadResult, b: LoadResult) -> LoadResult:
    a.n_rows += b.n_rows
    a.n_inserted += b.n_inserted
    a.n_replaced += b.n_replaced
    a.n_unchanged += b.n_unchanged
    a.notes += b.notes
    return a
