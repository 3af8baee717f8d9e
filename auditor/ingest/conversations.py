"""Turn a user's table of conversations into validated rows for the store.

Columns: ``conversation_id`` (required), ``messages`` (a JSON list of ``{"role", "content"}``), optional
``task_id``, ``system_id`` (the agent / dialogue system / model under test), ``user_kind`` (``human`` or a
simulator id), ``user_id``, ``human_batch``, ``reward``, ``keep``; any other column is kept in ``metadata``.
``n_turns`` counts the non-system messages and ``n_chars`` their characters.
"""

from __future__ import annotations

import json
import math
import unicodedata

import pandas as pd

from ..errors import IngestError
from ._read import RawTable, load_json, short_list, short_text

__all__ = ["normalise_conversations", "message_stats", "clean_messages", "id_text", "invisible"]

KNOWN = ["conversation_id", "task_id", "system_id", "user_kind", "user_id", "human_batch", "messages", "reward", "keep",
         "domain"]


def invisible(ch: str) -> bool:
    """A character that does not show: a format character (zero-width space, joiners, BOM, bidi marks) or a control
    other than tab and line breaks."""
    cat = unicodedata.category(ch)
    return cat == "Cf" or (cat == "Cc" and ch not in "\t\n\r")


def id_text(path: str, v: str, row: int, fld: str, where: str) -> str:
    """An id as stored: in Unicode NFC (so that a composed and a decomposed spelling name one conversation), and
    without characters that do not show (an id that differs from another by a zero-width space is a mistake)."""
    bad = next((ch for ch in v if invisible(ch)), None)
    if bad is not None:
        raise IngestError(path, f"{fld} {short_text(v)!r} contains an invisible character U+{ord(bad):04X} "
                          f"({unicodedata.name(bad, 'control character').lower()})", row=row, field=fld,
                          where=where, fix="remove it: ids are compared character by character.")
    return v if v.isascii() else unicodedata.normalize("NFC", v)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


ROLES = ("user", "assistant", "system", "tool", "developer", "function")   # OpenAI's chat roles


class RoleError(ValueError):
    """A message whose role is not a chat role (e.g. 'customer')."""


def clean_messages(msgs) -> list[dict]:
    """Validate a message list; returns ``[{"role": str, "content": str}, ...]`` or raises ValueError."""
    if not isinstance(msgs, list):
        raise ValueError(f"expected a list of messages, found {type(msgs).__name__}")
    out = []
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not m["role"].strip():
            raise ValueError(f"message {j} is not an object with a 'role' string")
        if m["role"].strip().lower() not in ROLES:
            raise RoleError(f"message {j} has role {short_text(m['role'])!r}, which is not a chat role")
        content = m.get("content")
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        out.append({"role": str(m["role"]), "content": content or ""})
    return out


def message_stats(msgs: list[dict]) -> tuple[int, int]:
    body = [m for m in msgs if m["role"] != "system"]
    return len(body), sum(len(m["content"]) for m in body)


def normalise_conversations(raw: RawTable, mapping: dict[str, str] | None = None,
                            user_kind: str | None = None) -> pd.DataFrame:
    path, where = raw.path, raw.where
    df = raw.df.rename(columns=mapping or {})
    for src in (mapping or {}):
        if src not in raw.df.columns:
            raise IngestError(path, f"--map {short_text(src)}=...: the file has no column {short_text(src)!r}",
                              field=short_text(src), fix="use one of the file's columns: "
                              f"{short_list(c for c in raw.df.columns if c != '_row')}.")
    if "conversation_id" not in df.columns:
        raise IngestError(path, "missing required column 'conversation_id' (columns are: "
                          f"{short_list(c for c in df.columns if c != '_row')})", field="conversation_id",
                          fix="add it, or rename yours with --map SOURCE=conversation_id.")
    rows = []
    seen: dict[str, int] = {}
    extra_cols = [c for c in df.columns if c not in KNOWN and c != "_row"]
    for rec in df.to_dict("records"):
        r = rec["_row"]
        cid = rec["conversation_id"]
        if _blank(cid):
            raise IngestError(path, "'conversation_id' is empty", row=r, field="conversation_id", where=where,
                              fix="give every conversation an id.")
        for col in ("conversation_id", "task_id", "system_id", "user_kind", "user_id", "human_batch", "reward", "keep"):
            if isinstance(rec.get(col), (dict, list)):
                raise IngestError(path, f"'{col}' is a JSON {type(rec[col]).__name__}, not a single value", row=r,
                                  field=col, where=where, fix=f"write one {col} per row as a string or number.")
        cid = id_text(path, str(cid).strip(), r, "conversation_id", where)
        if cid in seen:
            raise IngestError(path, f"conversation {short_text(cid)!r} also appears at {where} {seen[cid]}", row=r,
                              field="conversation_id", where=where, fix="keep one row per conversation.")
        seen[cid] = r
        msgs = rec.get("messages")
        n_turns = n_chars = None
        msg_json = None
        if not _blank(msgs) if not isinstance(msgs, list) else True:
            if isinstance(msgs, str):
                try:
                    msgs = load_json(path, msgs, row=r, where=where, field="messages")
                except json.JSONDecodeError as e:
                    raise IngestError(path, f"'messages' is not valid JSON ({e.msg})", row=r, field="messages",
                                      where=where, fix='write messages as a JSON list: [{"role": "user", '
                                                       '"content": "..."}].') from None
            if hasattr(msgs, "tolist"):
                msgs = msgs.tolist()
            try:
                msgs = clean_messages(msgs)
            except RoleError as e:
                raise IngestError(path, f"'messages': {e}", row=r, field="messages", where=where,
                                  fix=f"use the roles {', '.join(ROLES[:4])} (the user is 'user', the agent "
                                      "'assistant').") from None
            except ValueError as e:
                raise IngestError(path, f"'messages': {e}", row=r, field="messages", where=where,
                                  fix='write messages as a JSON list: [{"role": "user", "content": "..."}].')
            n_turns, n_chars = message_stats(msgs)
            msg_json = json.dumps(msgs, ensure_ascii=False)
        reward = rec.get("reward")
        if not _blank(reward):
            try:
                reward = float(reward)
            except (TypeError, ValueError):
                reward = float("nan")
            if not math.isfinite(reward):
                raise IngestError(path, f"reward {str(rec.get('reward'))[:40]!r} is not a finite number", row=r,
                                  field="reward", where=where, fix="write rewards as numbers (tau-bench: 0 or 1).")
        else:
            reward = None
        keep = rec.get("keep")
        if not _blank(keep):
            s = str(keep).strip().lower()
            if s not in ("true", "false", "1", "0", "yes", "no"):
                raise IngestError(path, f"keep {str(keep)[:40]!r} is not true/false", row=r, field="keep",
                                  where=where, fix="write true or false.")
            keep = s in ("true", "1", "yes")
        else:
            keep = None
        meta = {c: rec[c] for c in extra_cols if not _blank(rec.get(c))}
        for c, v in meta.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise IngestError(path, f"'{short_text(c)}' is {v}, which JSON cannot hold (metadata is stored as "
                                  "JSON)", row=r, field=short_text(c), where=where,
                                  fix="leave the cell empty for a missing value, or write a finite number.")
        rows.append({
            "conversation_id": cid,
            "task_id": None if _blank(rec.get("task_id")) else id_text(path, str(rec["task_id"]).strip(), r, "task_id",
                                                                      where),
            "system_id": None if _blank(rec.get("system_id")) else str(rec["system_id"]).strip(),
            "user_kind": user_kind or (None if _blank(rec.get("user_kind")) else str(rec["user_kind"]).strip()),
            "user_id": None if _blank(rec.get("user_id")) else str(rec["user_id"]),
            "human_batch": None if _blank(rec.get("human_batch")) else str(rec["human_batch"]),
            "messages": msg_json, "n_turns": n_turns, "n_chars": n_chars, "reward": reward, "keep": keep,
            "metadata": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
            "domain": None if _blank(rec.get("domain")) else str(rec["domain"]), "_row": r,
        })
    out = pd.DataFrame(rows)
    out.attrs["where"] = where          # "row" or "line": how the store's errors name _row
    return out
