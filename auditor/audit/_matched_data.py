"""The matched design's data: answers and outcomes read from the store, and the helpers its rows share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AuditorError
from ..stats._arrays import unique as _unique
from ..stats._result import StatRow
from ..store._store import LEAN_ROWS

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
         f"CASE WHEN s.status = 'ok' THEN s.value END AS value, s.rid FROM ({_ROWS_WITH_ID}) s JOIN conversations c "
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


# the view `signals` has no rowid: its two tables' rows, each with a position in the store (lean rows after the
# others; the order only fixes the order of the pair-by-pair sums)
_ROWS_WITH_ID = ("SELECT conversation_id, rubric, dimension, rater_id, sample, status, value, rowid AS rid FROM "
                 "signal_rows UNION ALL SELECT conversation_id, rubric, dimension, rater_id, sample, status, value, "
                 f"lean_rowid + (1::BIGINT << 48) AS rid FROM {LEAN_ROWS}")
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
