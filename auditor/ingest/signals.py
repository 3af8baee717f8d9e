"""How a user's table of ratings becomes signals: the options, the rules, and the words of each fault.

Canonical long columns: ``conversation_id``, ``dimension``, ``rater_id``, ``rater_kind``, ``label`` and/or
``value``, optional ``confidence``, ``sample``, ``task_id``, and ``prob_<option label or value>`` columns.
``wide=True`` reads one column per dimension instead (cells are labels or values; an empty cell is no rating).
An optional ``status`` column (``ok``, ``not_answered``, ``failed``) records an external judge's verdict that could
not be parsed as ``failed`` (with its ``error`` and ``raw`` reply) instead of leaving it out; ``rationale`` is kept.

Rules, checked in this order for every row (the first one a row fails is its fault):
a cell holding an object or list; an empty ``conversation_id`` / ``rater_id`` / ``dimension`` / ``rater_kind``;
an unknown rater kind or dimension; a ``sample`` that is not a whole number >= 0; a rater with two kinds or a
conversation with two tasks in the file; a ``confidence`` outside [0, 1]; a label that is no option (a label may
also be a number equal to one option's value); a value that is not finite or not on the scale; a label and value
that disagree; probability columns naming no option, not in [0, 1], partly empty, not summing to 1 (within
0.01, unless ``renormalize``) or all 0; no rating at all. Then: one rating per (conversation, dimension, rater,
sample). A label or value equal to a missing code (the dimension's or ``missing_code``) is "not answered".
The checks run in DuckDB (:mod:`auditor.ingest._signals_sql`); this module words the faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..rubric import Rubric
from ._faults import Fault
from ._read import short_text
from ._sqlprobs import PROB_TOLERANCE

__all__ = ["SignalOptions", "RATER_KINDS", "fault_for", "fault_kind"]

RATER_KINDS = ("human", "judge", "simulator")


@dataclass
class SignalOptions:
    """How to read a signals table (the CLI flags of ``auditor ingest signals``)."""

    rater_kind: str | None = None
    rater_id: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)   # source column -> canonical column
    wide: bool = False
    missing_code: str | None = None
    renormalize: bool = False
    between_options: bool = False    # accept values between option values (a mean of samples), stored unlabelled
    score: str = "expected"          # how option probabilities become a value: expected | argmax
    model: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_KINDS = {
    "nonscalar": "a JSON object or list instead of one value", "blank_conversation_id": "'conversation_id' is empty",
    "blank_rater_id": "'rater_id' is empty", "blank_dimension": "'dimension' is empty",
    "blank_rater_kind": "'rater_kind' is empty",
    "invisible_id": "an id with an invisible character", "rater_kind": "unknown rater_kind",
    "dimension": "unknown dimension",
    "sample": "sample is not a whole number >= 0", "kind_conflict": "a rater with two kinds",
    "task_conflict": "a conversation with two tasks", "confidence": "confidence is not in [0, 1]",
    "status": "unknown status", "status_rating": "a failed or not-answered row with a rating",
    "status_ok_missing": "status ok with the not-answered code", "label": "the label is not an option",
    "value_nonfinite": "the value is not a finite number",
    "value_scale": "the value is not on the scale", "clash": "the label and the value disagree",
    "prob_unmatched": "a probability column names no option", "prob_number": "a probability is not in [0, 1]",
    "prob_partial": "some option probabilities are empty", "prob_sum": "option probabilities do not sum to 1",
    "prob_zero": "all option probabilities are 0", "no_rating": "the row has no rating",
    "duplicate": "duplicate rating (same conversation, dimension, rater and sample)",
}


def fault_kind(code: str) -> str:
    """The words for a fault code, used in "and N more rows with the same fault: ..."."""
    return _KINDS.get(code, code)


def _s(v, n: int = 60) -> str:
    return repr(short_text(v, n))


def _allowed(dim) -> str:
    return ", ".join(f"{o.label!r}={o.value:g}" for o in dim.options)


def _codes(dim, opts: SignalOptions) -> list[str]:
    return sorted({c for c in (dim.missing_code, opts.missing_code) if c is not None})


def fault_for(r: dict, rubric: Rubric, opts: SignalOptions, where: str) -> Fault:
    """The :class:`Fault` for one failed row (``r``: the row's cells as the checks read them)."""
    code, row = r["_code"], r["_row"]
    dim = rubric.dimension(r["dim"]) if r.get("dim") in rubric.dimension_names else None

    def f(fld, problem, fix):
        return Fault(row, fault_kind(code), fld, problem, fix)

    if code == "nonscalar":
        c = r["_field"]
        return f(c, f"'{c}' is a JSON {r['_ns_type']}, not a single value", f"write one {c} per row as a string or "
                 "number.")
    if code.startswith("blank_"):
        c = code[len("blank_"):]
        return f(c, f"'{c}' is empty", f"give every row a {c} (a truncated last row also leaves fields empty)."
                 if c != "rater_kind" else "give every row a rater_kind (human, judge or simulator), or pass "
                 "--rater-kind.")
    if code == "invisible_id":
        import unicodedata

        from .conversations import invisible

        c = r["_field"]
        v = r["cid"] if c == "conversation_id" else r["rid"]
        ch = next((x for x in str(v) if invisible(x)), "\0")
        return f(c, f"{c} {_s(v)} contains an invisible character U+{ord(ch):04X} "
                 f"({unicodedata.name(ch, 'control character').lower()})",
                 "remove it: ids are compared character by character.")
    if code == "rater_kind":
        return f("rater_kind", f"rater_kind {_s(r['kind_raw'])} is not one of {', '.join(RATER_KINDS)}",
                 "use human, judge or simulator.")
    if code == "dimension":
        return f("dimension", f"unknown dimension {_s(r['dim'])} for rubric '{rubric.name}'",
                 f"use one of: {', '.join(rubric.dimension_names)} (or --map to rename).")
    if code == "sample":
        return f("sample", f"sample {_s(r['smp_raw'])} is not a whole number >= 0",
                 "number repeated draws 0, 1, 2, ...")
    if code == "kind_conflict":
        return f("rater_kind", f"rater {_s(r['rid'])} has kind {_s(r['kind'])} here but {_s(r['_k0'])} at {where} "
                 f"{r['_kr0']}", "give each rater one kind.")
    if code == "task_conflict":
        return f("task_id", f"conversation {_s(r['cid'])} has task {_s(r['task'])} here but {_s(r['_t0'])} at "
                 f"{where} {r['_tr0']}", "give each conversation one task.")
    if code == "confidence":
        return f("confidence", f"confidence {_s(r['conf_raw'])} is not a number in [0, 1]",
                 "write confidences as probabilities between 0 and 1 (leave empty if unknown).")
    if code == "duplicate":
        return f("conversation_id", f"duplicate rating: conversation {_s(r['cid'])}, dimension {_s(r['dim'])}, "
                 f"rater {_s(r['rid'])}, sample {r['sample']} also appears at {where} {r['r0']}",
                 "keep one rating per key, or number repeated draws with a 'sample' column.")
    codes = _codes(dim, opts)
    if code == "status":
        return f("status", f"status {_s(r['st_raw'])} is not one of ok, not_answered, failed",
                 "use ok (a rating), not_answered, or failed (an LLM verdict that could not be parsed).")
    if code == "status_rating":
        return f("status", f"the row is marked {r['st']} but has a rating",
                 "leave label, value and probabilities empty on a failed or not-answered row (keep the model's "
                 "reply in 'raw' and the reason in 'error'), or set status ok.")
    if code == "status_ok_missing":
        return f("status", f"status is ok but the rating is the not-answered code {codes}",
                 "set status not_answered, or give a rating.")
    if code == "label":
        return f("label", f"{_s(r['lab_raw'])} is not an option of dimension '{dim.name}'",
                 f"use one of {_allowed(dim)}" + (f", or the not-answered code {codes}" if codes else "") + ".")
    if code == "value_nonfinite":
        return f("value", f"value {_s(r['val_raw'])} is not a finite number",
                 f"use one of the option values of '{dim.name}': {_allowed(dim)}.")
    if code == "value_scale":
        lo, hi = dim.value_range
        if opts.between_options:
            return f("value", f"value {_s(r['val_raw'])} is outside the scale of '{dim.name}' ({lo:g} to {hi:g})",
                     f"use a value from {lo:g} to {hi:g}.")
        return f("value", f"value {_s(r['val_raw'])} is not on the scale of '{dim.name}'",
                 f"use one of {_allowed(dim)}, or pass --between-options if it is a mean of several answers.")
    if code == "clash":
        return f("value", f"label {_s(r['_rlab'])} has value {r['_rval']:g} in the rubric, but the row says "
                 f"{r['val_num']:g}", "drop one of the two columns, or make them agree.")
    if code == "prob_unmatched":
        c = r["_field"]
        return f(short_text(c), f"column {_s(c)} names no option of dimension '{dim.name}'",
                 f"name probability columns prob_<label> or prob_<value>: {_allowed(dim)}.")
    if code == "prob_number":
        return f(r["_field"], "probability is not a number in [0, 1]", "write probabilities between 0 and 1.")
    if code == "prob_partial":
        return f(r["_field"], "some option probabilities are empty", "give every option a probability (0 if none).")
    if code == "prob_sum":
        return f(r["_field"], f"option probabilities sum to {r['_tot']:.4f}, not 1 (tolerance {PROB_TOLERANCE})",
                 "pass --renormalize to divide each row by its sum.")
    if code == "prob_zero":
        return f(r["_field"], "all option probabilities are 0", "give at least one option a positive probability.")
    # no_rating
    return f("label", "the row has no rating (label, value and probabilities are empty)",
             "fill in a rating, or mark it not answered with the dimension's missing code"
             + (f" {codes}" if codes else " (--missing-code)") + ".")
