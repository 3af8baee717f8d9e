"""Response models built from a rubric, and parsed replies turned into signal rows.

One field per dimension, typed as a ``Literal`` of the dimension's option labels (plus its "not answered" code,
when the rubric has one), so instructor validates every reply against the rubric and re-asks with the error;
a short ``rationale`` first (models answer better after saying why) and an optional ``confidence`` in [0, 1]
that applies to the whole reply.
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from ..errors import ConfigError
from ..rubric import Dimension, Rubric

__all__ = ["response_model_for", "answers_to_rows", "RESERVED_FIELDS"]

RESERVED_FIELDS = ("rationale", "confidence")
_MODEL_NAMES = {"judge": "Ratings", "simulator": "SurveyAnswers"}
_DOCS = {
    "judge": "Your ratings of the conversation: one answer per question, each exactly one of its options.",
    "simulator": "Your answers to the post-conversation survey, as the user who had this conversation: one answer "
                 "per question, each exactly one of its options.",
}
_cache: dict[tuple, type[BaseModel]] = {}
_maps: dict[tuple, list] = {}


def _as_label(v: Any) -> Any:
    """Numbers become their label text (4 -> "4", 4.0 -> "4"): the same answer, not a guess."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, str):
        return v.strip()
    return v


def _field_name(dim: str) -> str:
    name = re.sub(r"\W", "_", dim)
    if name[0].isdigit():
        name = "d_" + name
    if keyword.iskeyword(name) or name.startswith("_"):
        name = "d" + name if name.startswith("_") else name + "_"
    return name


def _description(d: Dimension) -> str:
    opts = "; ".join(f"'{o.label}'" for o in d.options)
    text = f"{d.question} Options: {opts}." if d.question else f"Options: {opts}."
    if d.missing_code is not None:
        text += f" Answer '{d.missing_code}' only if the question does not apply."
    return text


def response_model_for(rubric: Rubric, role: str = "judge") -> type[BaseModel]:
    """The pydantic model a reply must fit: ``rationale``, one ``Literal`` field per dimension, ``confidence``.

    Field names are the dimension names (aliases when a name is not a Python identifier). Cached per rubric
    content and role, so the class (and the schema instructor derives from it) is built once per run.
    """
    key = (rubric.name, rubric.content_hash, role)
    if key in _cache:
        return _cache[key]
    clash = [d.name for d in rubric.dimensions if d.name in RESERVED_FIELDS]
    if clash:
        raise ConfigError(f"rubric '{rubric.name}': a dimension may not be named {clash[0]!r} (a judge reply uses "
                          f"that field). Fix: rename the dimension.")
    fields: dict[str, Any] = {
        "rationale": (str, Field("", description="One or two sentences: why you chose these answers.")),
    }
    for d in rubric.dimensions:
        labels = [o.label for o in d.options] + ([d.missing_code] if d.missing_code is not None else [])
        typ = Annotated[Literal[tuple(labels)], BeforeValidator(_as_label)]  # type: ignore[valid-type]
        name = _field_name(d.name)
        fields[name] = (typ, Field(..., alias=d.name if name != d.name else None, description=_description(d)))
    fields["confidence"] = (Optional[float], Field(None, ge=0.0, le=1.0, description=(
        "How confident you are that your answers match what careful human raters would say, from 0 to 1.")))
    model = create_model(_MODEL_NAMES.get(role, "Ratings"), __config__=ConfigDict(populate_by_name=True),
                         __doc__=_DOCS.get(role, _DOCS["judge"]), **fields)
    _cache[key] = model
    return model


def _value_maps(rubric: Rubric) -> list[tuple[str, dict[str, float], str | None]]:
    key = (rubric.name, rubric.content_hash)
    if key not in _maps:
        _maps[key] = [(d.name, d.label_to_value(), d.missing_code) for d in rubric.dimensions]
    return _maps[key]


def answers_to_rows(rubric: Rubric, answers: BaseModel) -> list[dict]:
    """One row per dimension: ``dimension``, ``status`` (ok | not_answered), ``label``, ``value``, plus the
    reply-wide ``confidence`` and ``rationale``. A "not answered" reply stores no label or value (as ingest does);
    the raw reply keeps the code the model gave."""
    data = answers.model_dump(by_alias=True)
    conf, why = data.get("confidence"), data.get("rationale") or None
    rows = []
    for name, values, missing in _value_maps(rubric):
        label = data[name]
        if missing is not None and label == missing:
            rows.append({"dimension": name, "status": "not_answered", "label": None, "value": None,
                         "value_source": None, "confidence": conf, "rationale": why})
        else:
            rows.append({"dimension": name, "status": "ok", "label": label, "value": values[label],
                         "value_source": "label", "confidence": conf, "rationale": why})
    return rows
