"""An annotator's answers: checked against the rubric, then written through the store's campaign write module."""

from __future__ import annotations

from ..errors import InvalidAnswer, NotFound
from ..rubric import Rubric
from ..store import Store
from ..store._campaigns import Answer, mark_skipped, write_answers
from ..rubric import rubric_from_spec
from ._read import Annotator

__all__ = ["validate_answers", "submit", "skip"]


def _label(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str):
        return value
    raise TypeError


def validate_answers(rubric: Rubric, answers) -> list[Answer]:
    """``{"<dimension>": "<option label>" | None}`` -> answers for every dimension, or :class:`InvalidAnswer`.

    Every question needs an answer; ``None`` means "not applicable" and is accepted only where the dimension has a
    not-answered code. A number is read as the option label it spells ("3" for 3).
    """
    if not isinstance(answers, dict):
        raise InvalidAnswer('"answers" must be an object {"<dimension>": "<option label>" | null}')
    names = rubric.dimension_names
    unknown = [k for k in answers if k not in names]
    if unknown:
        raise InvalidAnswer(f"unknown dimension {str(unknown[0])[:60]!r} for rubric {rubric.name!r}; its dimensions "
                            f"are {', '.join(names)}")
    missing = [n for n in names if n not in answers]
    if missing:
        raise InvalidAnswer(f"no answer for {', '.join(missing)}: every question needs an answer (null = not "
                            "applicable, where offered)")
    out = []
    for d in rubric.dimensions:
        try:
            label = _label(answers[d.name])
        except TypeError:
            raise InvalidAnswer(f"dimension {d.name!r}: the answer must be an option label or null") from None
        if label is None:
            if d.missing_code is None:
                raise InvalidAnswer(f"dimension {d.name!r} needs an answer: it has no 'not applicable' option")
            out.append(Answer(d.name, "not_answered", None, None))
            continue
        values = d.label_to_value()
        if label not in values:
            raise InvalidAnswer(f"unknown option {label[:60]!r} for dimension {d.name!r}; options are "
                                f"{', '.join(values)}" + (" or null (not applicable)" if d.missing_code else ""))
        out.append(Answer(d.name, "ok", label, float(values[label])))
    return out


def submit(store: Store, who: Annotator, item_id: int, answers, *, seconds: float | None = None) -> dict[str, int]:
    """Validate and store one item's answers in one transaction (idempotent; an edit keeps the old value).

    ``seconds``: how long the annotator had the item open (added to the assignment's time spent)."""
    spec = store.con.execute("SELECT r.spec FROM campaigns c JOIN rubrics r USING (rubric) WHERE c.campaign = ?",
                             [who.campaign]).fetchall()
    if not spec:
        raise NotFound(f"no campaign named {who.campaign!r}")
    rubric = rubric_from_spec(spec[0][0])
    return write_answers(store, who.campaign, who.name, int(item_id), validate_answers(rubric, answers),
                         seconds=seconds)


def skip(store: Store, who: Annotator, item_id: int) -> None:
    mark_skipped(store, who.campaign, who.name, int(item_id))
