"""Read tau-bench and tau2-bench result files into conversations tied to tasks.

- tau-bench: a JSON list of ``EnvRunResult`` (``task_id``, ``reward``, ``info``, ``traj``, ``trial``).
- tau2-bench: a ``Results`` object (``info`` with ``user_info`` and ``environment_info``, ``simulations``
  with ``id``, ``task_id``, ``trial``, ``messages``, ``reward_info``, ``termination_reason``).

Task ids become ``{domain}_{task id}`` (the tau-bench study's keys, e.g. ``airline_12``) when the domain is known.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..errors import IngestError
from ._read import _decode, file_sha256, load_json, short_text
from .conversations import clean_messages, message_stats

__all__ = ["read_tau_bench"]


def _messages(path: str, i: int, msgs) -> list[dict]:
    try:
        return clean_messages([m for m in msgs if isinstance(m, dict) and m.get("role") != "system"] if isinstance(
            msgs, list) else msgs)
    except ValueError as e:
        raise IngestError(path, f"messages: {e}", row=i, field="messages",
                          fix="check the file is an unmodified tau-bench / tau2-bench results file.") from None


def _obj(path: str, v, what: str, row: int | None = None) -> dict:
    """``v`` if it is a JSON object (None counts as empty), else an error naming ``what``."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise IngestError(path, f"'{what}' is a JSON {type(v).__name__}, expected an object", row=row,
                          field=what, fix="check the file is an unmodified tau-bench / tau2-bench results file.")
    return v


def _reward(path: str, i: int, v, what: str) -> float | None:
    if v is None:
        return None
    try:
        r = float(v) if not isinstance(v, (dict, list)) else float("nan")
    except (TypeError, ValueError):
        r = float("nan")
    if not math.isfinite(r):
        raise IngestError(path, f"reward {short_text(v, 40)!r} is not a finite number", row=i, field=what,
                          fix="check the file is an unmodified tau-bench / tau2-bench results file (rewards are "
                              "numbers such as 0 or 1).")
    return r


def read_tau_bench(path: str | Path, *, user_kind: str | None = None, domain: str | None = None,
                   system: str | None = None) -> tuple[pd.DataFrame, str]:
    """Return (conversations DataFrame with the store's columns, sha256). ``system_id`` is ``system``, else the
    agent's model (tau2-bench: ``info.agent_info.llm``; tau-bench result lists do not name it)."""
    p, spath = Path(path), str(path)
    if not p.exists():
        raise IngestError(spath, "file not found", fix="check the path.")
    if p.is_dir():
        raise IngestError(spath, "is a directory, not a file", fix="pass the results JSON file.")
    text = _decode(spath, p.read_bytes())
    if not text.strip():
        raise IngestError(spath, "the file is empty", fix="pass the JSON results file of a finished run.")
    try:
        data = load_json(spath, text)
    except json.JSONDecodeError as e:
        raise IngestError(spath, f"not valid JSON ({e.msg})", row=e.lineno, where="line",
                          fix="check the file is complete (a killed run can leave it truncated).") from None
    stem = p.stem
    rows = []
    if isinstance(data, dict) and "simulations" in data:
        info = _obj(spath, data.get("info"), "info")
        dom = domain or _obj(spath, info.get("environment_info"), "info.environment_info").get("domain_name")
        user = user_kind or _obj(spath, info.get("user_info"), "info.user_info").get("llm") or stem
        system = system or _obj(spath, info.get("agent_info"), "info.agent_info").get("llm")
        if not isinstance(data["simulations"], list):
            raise IngestError(spath, f"'simulations' is a JSON {type(data['simulations']).__name__}, expected a list",
                              field="simulations", fix="check the file is an unmodified tau2-bench results file.")
        for i, sim in enumerate(data["simulations"], start=1):
            if not isinstance(sim, dict) or "task_id" not in sim:
                raise IngestError(spath, "simulation without task_id", row=i, field="task_id",
                                  fix="check the file is an unmodified tau2-bench results file.")
            msgs = _messages(spath, i, sim.get("messages") or [])
            reward = _reward(spath, i, _obj(spath, sim.get("reward_info"), "reward_info", i).get("reward"),
                             "reward_info.reward")
            tid = f"{dom}_{sim['task_id']}" if dom else str(sim["task_id"])
            trial = sim.get("trial", 0)
            rows.append(dict(conversation_id=f"{stem}:{sim.get('id') or tid + ':' + str(trial)}", task_id=tid,
                             domain=dom, reward=reward, messages=msgs, trial=trial,
                             termination_reason=sim.get("termination_reason"), user=user))
    elif isinstance(data, list):
        if not domain:
            raise IngestError(spath, "a tau-bench results list does not name its domain, and task ids are only "
                              "unique within one (they become DOMAIN_N, the keys human ratings use)",
                              fix="pass --domain airline (or retail, ...): the domain this run was on.")
        user = user_kind or stem
        for i, r in enumerate(data, start=1):
            if not isinstance(r, dict) or "task_id" not in r or "traj" not in r:
                raise IngestError(spath, "record is not a tau-bench EnvRunResult (needs task_id and traj)", row=i,
                                  field="task_id", fix="pass a tau-bench results JSON (a list of run results).")
            msgs = _messages(spath, i, r.get("traj") or [])
            tid = f"{domain}_{r['task_id']}"
            trial = r.get("trial", 0)
            rows.append(dict(conversation_id=f"{stem}:{tid}:{trial}", task_id=tid, domain=domain,
                             reward=_reward(spath, i, r.get("reward"), "reward"), messages=msgs, trial=trial,
                             termination_reason=None, user=user))
    else:
        raise IngestError(spath, "neither a tau-bench results list nor a tau2-bench Results object",
                          fix="pass the JSON results file written by tau-bench (run.py) or tau2-bench (`tau2 run`).")
    out = []
    for i, r in enumerate(rows, start=1):
        n_turns, n_chars = message_stats(r["messages"])
        reward = r["reward"]
        meta = {"trial": r["trial"]}
        if r["termination_reason"]:
            meta["termination_reason"] = r["termination_reason"]
        out.append(dict(conversation_id=r["conversation_id"], task_id=r["task_id"],
                        system_id=None if system is None else str(system), user_kind=r["user"],
                        user_id=r["user"], human_batch=None, messages=json.dumps(r["messages"], ensure_ascii=False),
                        n_turns=n_turns, n_chars=n_chars, reward=None if reward is None else float(reward), keep=None,
                        metadata=json.dumps(meta), domain=r["domain"], _row=i))
    if not out:
        raise IngestError(spath, "no runs in the file", fix="nothing was loaded; check the run finished.")
    df = pd.DataFrame(out)
    dup = df[df.duplicated("conversation_id", keep=False)]
    if len(dup):
        raise IngestError(spath, f"run {dup.iloc[0].conversation_id!r} appears twice", row=int(dup.iloc[1]._row),
                          field="task_id", fix="keep each (task, trial) once.")
    return df, file_sha256(p)
