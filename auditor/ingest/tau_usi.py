"""Read the tau-bench human study's release format ("tau-USI") into conversations and survey signals.

Two kinds of JSON file:

- **human annotations** (``kind="human"``): an object keyed ``"{domain}_{index}"`` (batch 1) and
  ``"{domain}_{index}_ann2"``, ``"…_ann3"`` (batches 2, 3; ``_annN`` for batch N), each value
  ``{"conversation": [{"role", "content"}, ...], "reward": 0/1, "keep": bool,
  "survey": {dimension: {"question": ..., "answer": option text}}}``;
- **simulator runs** (``kind="simulator"``): ``{"results": [{"instance_id", "domain", "task_index", "conversation",
  "survey", "reward", ...}, ...]}`` (the released rollout's ``*_task_results.json``), a JSON list of such records,
  or an object keyed by instance id with the same fields (``eval_results``); repeated runs of a task carry the
  suffixes ``_1``, ``_2``, ``_3`` ... (``airline_12_2`` = task ``airline_12``, run 2).

What is stored (one transaction, all-or-nothing; loading the same file again adds nothing):

- a conversation per entry: id ``human:{key}`` (or ``{rater_id}:{key}`` when a human ``rater_id`` prefix is given)
  and ``{simulator}:{instance_id}``; task id ``{domain}_{index}`` (the study's difficulty-map keys); ``user_kind``
  ``human`` or the simulator id; ``human_batch`` 1/2/3; reward, keep; ``metadata.run`` for simulator runs;
- platform meta-messages are dropped from the transcript (content starting with ``\\tau`` or ``\\reward``,
  containing ``<|survey|>``, ``<|canvas|>`` or ``<|highlight|>``, or exactly ``/stop`` or ``###STOP###``: the
  released scorer's rule), and counted in ``metadata.meta_messages_dropped``;
- a signal per rubric dimension (``tau_usi``): the answer's option text must match the rubric exactly; a missing
  or empty answer is stored with status ``not_answered`` (never imputed);
- raters: ``human-batch1``, ``human-batch2``, ... (kind human; ``{rater_id}-batchN`` with a prefix) and the
  simulator (kind simulator; ``rater_id`` or the file's stem).

Top-level keys starting with ``_`` (e.g. ``_comment``) are ignored; survey fields that are not dimensions of the
rubric are ignored and named in the load notes.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import IngestError
from ..rubric import Rubric, load_rubric
from ..store._writes import LoadResult, register_rubric, write_conversations, write_signals
from ._read import file_sha256, load_json, short_text
from .conversations import clean_messages, message_stats

__all__ = ["TauUsiData", "read_tau_usi", "ingest_tau_usi", "is_meta_message", "KINDS"]

KINDS = ("human", "simulator")
RUBRIC = "tau_usi"
HUMAN_KEY = re.compile(r"^(?P<domain>.+?)_(?P<index>\d+)(?:_ann(?P<batch>\d+))?$")
INSTANCE_KEY = re.compile(r"^(?P<domain>.+?)_(?P<index>\d+)(?:_(?P<run>\d+))?$")
_META_PREFIX = re.compile(r"^\\(tau|reward)\b")
_META_TAGS = ("<|survey|>", "<|canvas|>", "<|highlight|>")
_META_EXACT = ("/stop", "###STOP###")
_EXTRA_FIELDS = ("agent_id", "termination_reason")


@dataclass
class TauUsiData:
    """What one file holds, normalised for :func:`~auditor.store.write_conversations` / ``write_signals``."""

    conversations: pd.DataFrame
    signals: pd.DataFrame
    sha256: str
    rubric: Rubric
    notes: list[str] = field(default_factory=list)


def is_meta_message(content) -> bool:
    """True for the study platform's control messages (not part of the dialogue)."""
    c = "" if content is None else str(content)
    s = c.strip()
    return bool(_META_PREFIX.match(s)) or any(t in c for t in _META_TAGS) or s in _META_EXACT


def _fail(path, key, problem, fix, fld=None):
    raise IngestError(path, f"entry {short_text(key)!r}: {problem}", field=fld, fix=fix)


def _messages(path, key, conv) -> tuple[list[dict], int]:
    if not isinstance(conv, list):
        _fail(path, key, f"'conversation' is {'missing' if conv is None else 'a ' + type(conv).__name__}, not a "
              "list of messages", 'write it as [{"role": "user", "content": "..."}, ...].', "conversation")
    kept = [m for m in conv if not (isinstance(m, dict) and is_meta_message(m.get("content")))]
    try:
        msgs = clean_messages(kept)
    except ValueError as e:
        _fail(path, key, f"'conversation': {e}", 'write each message as {"role": ..., "content": ...}.',
              "conversation")
    return msgs, len(conv) - len(kept)


def _reward(path, key, v):
    if v is None:
        return None
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(float(v)):
        return float(v)
    _fail(path, key, f"reward {short_text(v)!r} is not a number", "write the task reward as 0 or 1 (null if "
          "unknown).", "reward")


def _keep(path, key, v):
    if v is None or isinstance(v, bool):
        return v
    _fail(path, key, f"keep {short_text(v)!r} is not true/false", "write keep as true or false.", "keep")


def _survey_signals(path, key, survey, rubric: Rubric, unknown: set) -> list[tuple[str, str, str | None, float | None]]:
    """[(dimension, status, label, value)] for every dimension of the rubric."""
    if survey is None:
        survey = {}
    if not isinstance(survey, dict):
        _fail(path, key, f"'survey' is a {type(survey).__name__}, not an object", 'write it as {"dimension": '
              '{"question": ..., "answer": "option text"}, ...}.', "survey")
    unknown.update(k for k in survey if k not in rubric.dimension_names)
    out = []
    for dim in rubric.dimensions:
        raw = survey.get(dim.name)
        ans = raw.get("answer") if isinstance(raw, dict) else raw
        if ans is None or (isinstance(ans, str) and not ans.strip()):
            out.append((dim.name, "not_answered", None, None))
            continue
        labels = dim.label_to_value()
        if not isinstance(ans, str) or ans not in labels:
            allowed = "; ".join(repr(o.label) for o in dim.options)
            _fail(path, key, f"answer {short_text(ans)!r} is not an option of dimension '{dim.name}' (rubric "
                  f"'{rubric.name}')", f"use one of the exact option texts: {allowed} (or leave the answer empty "
                  "when it was not given).", f"survey.{dim.name}.answer")
        out.append((dim.name, "ok", ans, labels[ans]))
    return out


def _load(path: str):
    p = Path(path)
    if not p.exists():
        raise IngestError(path, "file not found", fix="check the path.")
    if p.is_dir():
        raise IngestError(path, "is a directory, not a file", fix="pass the JSON file.")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise IngestError(path, "the file is not valid UTF-8", fix="re-save it as UTF-8.") from None
    if not text.strip():
        raise IngestError(path, "the file is empty", fix="export the data again; nothing was loaded.")
    try:
        return load_json(path, text)
    except json.JSONDecodeError as e:
        raise IngestError(path, f"not valid JSON ({e.msg})", row=e.lineno, where="line",
                          fix="check the file is complete (truncated?) and valid JSON.") from None


def _conv_row(cid, task, domain, user_kind, user_id, batch, msgs, reward, keep, meta, row) -> dict:
    n_turns, n_chars = message_stats(msgs)
    return dict(conversation_id=cid, task_id=task, user_kind=user_kind, user_id=user_id,
                human_batch=None if batch is None else str(batch),
                messages=json.dumps(msgs, ensure_ascii=False), n_turns=n_turns, n_chars=n_chars, reward=reward,
                keep=keep, metadata=json.dumps(meta, ensure_ascii=False, sort_keys=True), domain=domain, _row=row)


def _signal_rows(cid, task, rater, kind, answers, row) -> list[dict]:
    return [dict(conversation_id=cid, rubric=RUBRIC, dimension=d, rater_id=rater, sample=0, task_id=task,
                 rater_kind=kind, model=None, config_hash=None, status=st, label=lab,
                 value=float("nan") if val is None else float(val), value_source="label" if st == "ok" else None,
                 confidence=float("nan"), probs=None, raw=None, rationale=None, error=None, run_id=None, _row=row)
            for d, st, lab, val in answers]


def _read_human(path, data, rubric, prefix, notes) -> tuple[list[dict], list[dict]]:
    if not isinstance(data, dict):
        raise IngestError(path, f"expected a JSON object keyed '{{domain}}_{{index}}' (human annotations), found a "
                          f"{type(data).__name__}", fix="pass the study's annotation file, or use --kind simulator "
                          "for simulator runs.")
    if isinstance(data.get("results"), list):
        raise IngestError(path, "this is a simulator runs file ({\"results\": [...]}), not human annotations",
                          fix="use --kind simulator.")
    convs, sigs, unknown = [], [], set()
    for row, (key, e) in enumerate(data.items(), start=1):
        if key.startswith("_"):
            notes.append(f"top-level key {short_text(key)!r} ignored (a comment)")
            continue
        m = HUMAN_KEY.match(key)
        if not m:
            _fail(path, key, "the key is not '{domain}_{index}' or '{domain}_{index}_annN'",
                  "key human annotations as e.g. airline_12 (batch 1), airline_12_ann2, airline_12_ann3 (a file "
                  "of simulator runs? use --kind simulator).")
        if not isinstance(e, dict):
            _fail(path, key, f"the value is a {type(e).__name__}, not an object",
                  "give each key an object with conversation, reward, keep and survey.")
        domain, index = m["domain"], int(m["index"])
        batch = int(m["batch"]) if m["batch"] else 1
        task = f"{domain}_{index}"
        rater = f"{prefix}-batch{batch}"
        cid = f"{prefix}:{key}"
        msgs, dropped = _messages(path, key, e.get("conversation"))
        meta = {"source_key": key, "batch": batch}
        if dropped:
            meta["meta_messages_dropped"] = dropped
        convs.append(_conv_row(cid, task, domain, "human", rater, batch, msgs, _reward(path, key, e.get("reward")),
                               _keep(path, key, e.get("keep")), meta, row))
        sigs += _signal_rows(cid, task, rater, "human", _survey_signals(path, key, e.get("survey"), rubric, unknown),
                             row)
    if unknown:
        notes.append(f"survey field(s) {sorted(unknown)} ignored: not dimensions of rubric '{rubric.name}'")
    return convs, sigs


def _sim_records(path, data, notes) -> list[tuple[str | None, dict]]:
    if isinstance(data, dict) and "results" in data:
        if not isinstance(data["results"], list):
            raise IngestError(path, "'results' is not a list of runs", field="results",
                              fix='write {"results": [{"instance_id": ..., "conversation": ..., ...}, ...]}.')
        return [(None, r) for r in data["results"]]
    if isinstance(data, list):
        return [(None, r) for r in data]
    if isinstance(data, dict):
        out = []
        for k, v in data.items():
            if k.startswith("_"):
                notes.append(f"top-level key {short_text(k)!r} ignored (a comment)")
                continue
            out.append((k, v))
        return out
    raise IngestError(path, f"expected {{\"results\": [...]}}, a list of runs or an object keyed by instance id, "
                      f"found a {type(data).__name__}", fix="pass the simulator's task results JSON.")


def _read_simulator(path, data, rubric, rater, notes) -> tuple[list[dict], list[dict]]:
    parsed = []
    for row, (key, r) in enumerate(_sim_records(path, data, notes), start=1):
        label = key or f"results[{row - 1}]"
        if not isinstance(r, dict):
            _fail(path, label, f"the run is a {type(r).__name__}, not an object",
                  "write each run as an object with instance_id, conversation, survey and reward.")
        iid = key if key is not None else r.get("instance_id")
        if iid is not None and not isinstance(iid, str):
            iid = str(iid)
        label = iid or label
        dom, idx = r.get("domain"), r.get("task_index")
        m = INSTANCE_KEY.match(iid) if iid else None
        if dom is not None and idx is not None:
            try:
                idx = int(idx)
            except (TypeError, ValueError):
                _fail(path, label, f"task_index {short_text(idx)!r} is not a whole number",
                      "write the tau-bench task index, e.g. 12.", "task_index")
            dom = str(dom)
        elif m:
            dom, idx = m["domain"], int(m["index"])
        else:
            hint = " (a human annotation file? use --kind human)" if iid and "_ann" in iid else ""
            _fail(path, label, f"cannot tell the task: no domain and task_index, and the instance id is not "
                  f"'{{domain}}_{{index}}[_{{run}}]'{hint}", "give each run domain and task_index, or an instance_id "
                  "such as airline_12_1.", "instance_id")
        task = f"{dom}_{idx}"
        run = None
        if iid:
            mr = re.match(rf"^{re.escape(task)}_(\d+)$", iid)
            run = int(mr.group(1)) if mr else None
        parsed.append(dict(row=row, iid=iid, label=label, task=task, domain=dom, run=run, r=r))
    if not parsed:
        raise IngestError(path, "no runs in the file", fix="nothing was loaded; check the run finished.")
    used: dict[tuple[str, int], str] = {}
    for p in parsed:
        if p["run"] is not None:
            k = (p["task"], p["run"])
            if k in used:
                _fail(path, p["label"], f"run {p['run']} of task {p['task']!r} also appears as {used[k]!r}",
                      "keep each run of a task once (suffix repeated runs _1, _2, _3).", "instance_id")
            used[k] = p["label"]
    for p in parsed:
        if p["run"] is None:
            n = 1
            while (p["task"], n) in used:
                n += 1
            p["run"] = n
            used[(p["task"], n)] = p["label"]
    convs, sigs, unknown, seen = [], [], set(), {}
    for p in parsed:
        r, label = p["r"], p["label"]
        cid = f"{rater}:{p['iid'] or p['task'] + '_' + str(p['run'])}"
        if cid in seen:
            _fail(path, label, f"instance id appears twice (also run {seen[cid]})", "give each run its own "
                  "instance_id.", "instance_id")
        seen[cid] = p["run"]
        msgs, dropped = _messages(path, label, r.get("conversation"))
        meta = {"run": p["run"], "source_key": p["iid"] or label}
        if dropped:
            meta["meta_messages_dropped"] = dropped
        for f in _EXTRA_FIELDS:
            if isinstance(r.get(f), (str, int, float)) and not isinstance(r.get(f), bool):
                meta[f] = r[f]
        convs.append(_conv_row(cid, p["task"], p["domain"], rater, rater, None, msgs,
                               _reward(path, label, r.get("reward")), _keep(path, label, r.get("keep")), meta,
                               p["row"]))
        sigs += _signal_rows(cid, p["task"], rater, "simulator",
                             _survey_signals(path, label, r.get("survey"), rubric, unknown), p["row"])
    if unknown:
        notes.append(f"survey field(s) {sorted(unknown)} ignored: not dimensions of rubric '{rubric.name}'")
    return convs, sigs


def read_tau_usi(path, *, kind: str, rater_id: str | None = None) -> TauUsiData:
    """Read one file of the study's release format (see the module doc). Raises :class:`IngestError` naming the
    file, the entry key and the field; nothing is written."""
    spath = str(path)
    if kind not in KINDS:
        raise IngestError(spath, f"kind {kind!r} is not one of {', '.join(KINDS)}",
                          fix="use --kind human (annotation file) or --kind simulator (simulator runs).")
    if rater_id is not None and not str(rater_id).strip():
        raise IngestError(spath, "the rater id is empty", fix="pass a non-empty --rater-id, or leave it out.")
    rubric = load_rubric(RUBRIC)
    data = _load(spath)
    notes: list[str] = []
    if kind == "human":
        convs, sigs = _read_human(spath, data, rubric, str(rater_id or "human").strip(), notes)
    else:
        convs, sigs = _read_simulator(spath, data, rubric, str(rater_id or Path(spath).stem).strip(), notes)
    if not convs:
        raise IngestError(spath, "no entries in the file", fix="nothing was loaded; check the export.")
    sig_df = pd.DataFrame(sigs)
    n_na = int((sig_df["status"] == "not_answered").sum())
    notes.insert(0, f"{len(convs)} conversations, {len(sig_df)} survey answers ({n_na} not answered: stored as "
                    "not_answered, never imputed)")
    conv_df = pd.DataFrame(convs)
    conv_df.attrs["where"] = sig_df.attrs["where"] = "entry"       # store errors name "entry N" of the file
    return TauUsiData(conv_df, sig_df, file_sha256(spath), rubric, notes)


def ingest_tau_usi(store, path, *, kind: str, rater_id: str | None = None, replace: bool = False):
    """Load one tau-USI file into ``store``: conversations and survey signals in ONE transaction (all-or-nothing;
    the same file again adds nothing; a changed value for a stored key is refused unless ``replace``).

    Returns a :class:`~auditor.store.LoadResult` whose counts add the conversations and the signals.
    """
    d = read_tau_usi(path, kind=kind, rater_id=rater_id)
    spath = str(path)
    opts = {"kind": kind, "rater_id": rater_id}
    with store.transaction():
        register_rubric(store, d.rubric)
        rc = write_conversations(store, d.conversations, source=spath, kind="tau-usi", replace=replace,
                                 sha256=d.sha256, options=opts)
        rs = write_signals(store, d.signals, source=spath, kind="tau-usi", replace=replace, sha256=d.sha256,
                           rubric=d.rubric.name, options=opts)
    res = LoadResult(source=spath, n_rows=rc.n_rows + rs.n_rows, n_inserted=rc.n_inserted + rs.n_inserted,
                     n_replaced=rc.n_replaced + rs.n_replaced, n_unchanged=rc.n_unchanged + rs.n_unchanged,
                     n_not_answered=rs.n_not_answered, batch_id=rs.batch_id or rc.batch_id)
    res.notes = d.notes + [f"conversations: {rc.n_inserted} inserted, {rc.n_replaced} replaced, {rc.n_unchanged} "
                           f"unchanged; signals: {rs.n_inserted} inserted, {rs.n_replaced} replaced, "
                           f"{rs.n_unchanged} unchanged"] + rc.notes + rs.notes
    return res
