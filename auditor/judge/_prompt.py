"""Prompt templates (Jinja2, sandboxed, strict about undefined names) rendered into chat messages.

A template sees:

- ``conversation``: ``id``, ``task_id``, ``messages`` (``[{"role", "content"}, ...]``), ``n_turns``, ``user_kind``,
  ``reward``, ``metadata`` (a dict);
- ``messages``: the same message list; ``transcript``: the user and assistant turns as text, one paragraph per
  turn, speakers named ``User``/``Agent`` (role ``judge``) or ``You``/``Agent`` (role ``simulator``: the model is
  the user);
- ``rubric``: ``name``, ``description``, ``dimensions`` (each ``name``, ``question``, ``options`` as
  ``[{"label", "value"}]``, ``missing_code``); ``dimensions`` is a shortcut;
- ``role`` (``judge`` | ``simulator``) and ``sample`` (the draw index; leave it out of real prompts).

The rendered text is the user message. A template may also set a system message with
``{% set system %}...{% endset %}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import ConfigError
from ..rubric import Rubric

__all__ = ["compile_template", "PromptRenderer", "transcript", "rubric_context", "SAMPLE_CONVERSATION"]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                            lstrip_blocks=True, autoescape=False)
_SPEAKERS = {"judge": {"user": "User", "assistant": "Agent"}, "simulator": {"user": "You", "assistant": "Agent"}}

SAMPLE_CONVERSATION = {
    "id": "example-1", "task_id": None, "user_kind": "human", "reward": None, "metadata": {},
    "messages": [{"role": "user", "content": "Hi, I want to change my flight to Friday."},
                 {"role": "assistant", "content": "Done: your flight is now on Friday at 9:40."}],
}


def compile_template(text: str, path: str | Path = "<prompt>"):
    """Compile a prompt template; a syntax error names the file and line."""
    try:
        return _ENV.from_string(text)
    except TemplateSyntaxError as e:
        raise ConfigError(f"{path}, line {e.lineno}: prompt template error: {e.message}. Fix: correct the Jinja2 "
                          "syntax ({{ variable }}, {% for ... %}...{% endfor %}).") from None


def transcript(messages: list[dict], role: str = "judge") -> str:
    """The user and assistant turns as text (system and tool messages, and empty turns, left out)."""
    names = _SPEAKERS.get(role, _SPEAKERS["judge"])
    parts = []
    for m in messages:
        who = names.get(m.get("role"))
        content = m.get("content")
        if who and content:
            parts.append(f"{who}: {content}")
    return "\n\n".join(parts)


def rubric_context(rubric: Rubric) -> dict[str, Any]:
    dims = [{"name": d.name, "question": d.question, "level": d.level, "missing_code": d.missing_code,
             "options": [{"label": o.label, "value": o.value} for o in d.options]} for d in rubric.dimensions]
    return {"name": rubric.name, "description": rubric.description, "version": rubric.version, "dimensions": dims}


def _conversation_context(conv: dict) -> dict[str, Any]:
    msgs = conv.get("messages") or []
    if isinstance(msgs, str):
        msgs = json.loads(msgs)
    meta = conv.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta)
    return {"id": conv.get("id", conv.get("conversation_id")), "task_id": conv.get("task_id"), "messages": msgs,
            "n_turns": conv.get("n_turns", sum(1 for m in msgs if m.get("role") != "system")),
            "user_kind": conv.get("user_kind"), "reward": conv.get("reward"), "metadata": meta}


class PromptRenderer:
    """Renders one judge's template for a conversation and sample into chat messages."""

    def __init__(self, prompt_text: str, rubric: Rubric, role: str, path: str | Path = "<prompt>"):
        self.path = path
        self.role = role
        self.template = compile_template(prompt_text, path)
        self.rubric = rubric_context(rubric)

    def render(self, conversation: dict, sample: int = 0) -> list[dict]:
        """``[{"role": "system", ...}?, {"role": "user", "content": rendered}]``.

        Raises :class:`ConfigError` (naming the template) when the template fails for this conversation.
        """
        conv = _conversation_context(conversation)
        msgs = conv["messages"]
        ctx = {"conversation": conv, "messages": msgs, "transcript": transcript(msgs, self.role), "rubric": self.rubric,
               "dimensions": self.rubric["dimensions"], "role": self.role, "sample": sample}
        try:
            module = self.template.make_module(ctx)
            user = str(module).strip()
            system = getattr(module, "system", None)
        except TemplateError as e:
            raise ConfigError(f"{self.path}: prompt template failed for conversation {conv['id']!r}: {e}. Fix: "
                              "use only the variables listed in the auditor.judge docs (conversation, messages, "
                              "transcript, rubric, dimensions, role, sample).") from None
        if not user:
            raise ConfigError(f"{self.path}: the prompt template rendered an empty message. Fix: put the prompt "
                              "text (with {{ transcript }}) in the template body.")
        out = []
        if system is not None and str(system).strip():
            out.append({"role": "system", "content": str(system).strip()})
        out.append({"role": "user", "content": user})
        return out
