"""Option-probability columns (``prob_<label>`` / ``prob_<value>``) as SQL: checks, the stored JSON, the score.

Which option a column names depends on the row's dimension, so every expression is a ``CASE dim`` over the
rubric's dimensions. The JSON text is built as Python's ``json.dumps`` writes it (``{"1": 0.25, "2": 0.75}``), so
a file loaded before and after this module stores the same text.
"""

from __future__ import annotations

import json

from ..rubric import Rubric
from ._sqlcols import sql_str

__all__ = ["ProbSQL", "PROB_TOLERANCE"]

PROB_TOLERANCE = 0.01


def _option_for(dim, key: str):
    opt = next((o for o in dim.options if o.label == key), None)
    if opt is None:
        try:
            kv = float(key)
        except ValueError:
            return None
        cands = [o for o in dim.options if abs(o.value - kv) < 1e-9]
        opt = cands[0] if len(cands) == 1 else None
    return opt


class ProbSQL:
    def __init__(self, rubric: Rubric, prob_cols: list[str], opts):
        self.cols, self.opts, self.tolerance = prob_cols, opts, PROB_TOLERANCE
        self.by_dim: dict[str, dict[str, int]] = {}      # dimension -> {option label: column index}
        self.unmatched: dict[str, list[int]] = {}
        self.dims = {d.name: d for d in rubric.dimensions}
        for d in rubric.dimensions:
            by_key: dict[str, int] = {}
            for k, c in enumerate(prob_cols):
                opt = _option_for(d, c[len("prob_"):])
                if opt is None:
                    self.unmatched.setdefault(d.name, []).append(k)
                else:
                    by_key[opt.label] = k
            if by_key:
                self.by_dim[d.name] = by_key

    def _case(self, per_dim, default="NULL") -> str:
        arms = [(d, per_dim(d)) for d in self.dims]
        arms = [(d, e) for d, e in arms if e is not None]
        if not arms:
            return default
        return "CASE dim " + " ".join(f"WHEN {sql_str(d)} THEN {e}" for d, e in arms) + f" ELSE {default} END"

    def _first(self, ks, cond) -> str | None:
        if not ks:
            return None
        return "CASE " + " ".join(f"WHEN {cond(k)} THEN {sql_str(self.cols[k])}" for k in ks) + " END"

    def row_exprs(self) -> str:
        if not self.cols:
            return ("NULL::VARCHAR AS _unm, false AS _anyp, NULL::VARCHAR AS _badp, NULL::VARCHAR AS _partp, "
                    "NULL::DOUBLE AS _tot, NULL::VARCHAR AS _pfirst")
        m = lambda d: list(self.by_dim.get(d, {}).values())
        bad = lambda k: f"NOT _pb{k} AND (_p{k} IS NULL OR isnan(_p{k}) OR isinf(_p{k}) OR _p{k} < 0 OR _p{k} > 1)"
        exprs = {
            "_unm": self._case(lambda d: self._first(self.unmatched.get(d, []), lambda k: f"NOT _pb{k}")),
            "_anyp": self._case(lambda d: "NOT (" + " AND ".join(f"_pb{k}" for k in m(d)) + ")" if m(d) else None,
                                "false"),
            "_badp": self._case(lambda d: self._first(m(d), bad)),
            "_partp": self._case(lambda d: self._first(m(d), lambda k: f"_pb{k}")),
            "_tot": self._case(lambda d: "(" + " + ".join(f"coalesce(_p{k}, 0)" for k in m(d)) + ")" if m(d) else None),
            "_pfirst": self._case(lambda d: sql_str(self.cols[m(d)[0]]) if m(d) else None),
        }
        return ", ".join(f"{e} AS {n}" for n, e in exprs.items())

    def scored_exprs(self) -> str:
        if not self.by_dim:
            return "NULL::VARCHAR AS _pjson, NULL::DOUBLE AS _pexp, NULL::VARCHAR AS _pam, NULL::DOUBLE AS _pamv"
        t = "(CASE WHEN _tot > 0 THEN _tot ELSE 1.0 END)"
        p = lambda k: f"coalesce(_p{k} / {t}, 0.0)"

        def js(d):
            parts = [f"{sql_str(json.dumps(lab) + ': ')} || CAST({p(k)} AS VARCHAR)"
                     for lab, k in self.by_dim[d].items()]
            return "'{' || " + " || ', ' || ".join(parts) + " || '}'"

        def expected(d):
            vals = self.dims[d].label_to_value()
            return "(" + " + ".join(f"{p(k)} * {float(vals[lab])!r}" for lab, k in self.by_dim[d].items()) + ")"

        def argmax(d, as_value=False):
            """The first option with the largest probability (numpy's argmax), as its label or its value. The
            value is its own expression: a simple ``CASE _pam WHEN ...`` would copy the whole argmax expression
            into every arm when DuckDB merges the stages, and planning then takes seconds."""
            vals = self.dims[d].label_to_value()
            out = (lambda lab: repr(float(vals[lab]))) if as_value else sql_str
            items = list(self.by_dim[d].items())
            if len(items) == 1:
                return out(items[0][0])
            arms = []
            for i, (lab, k) in enumerate(items[:-1]):
                rest = [p(k2) for _, k2 in items[i + 1:]]
                arms.append(f"WHEN {' AND '.join(f'{p(k)} >= {r}' for r in rest)} THEN {out(lab)}")
            return "CASE " + " ".join(arms) + f" ELSE {out(items[-1][0])} END"

        has = lambda f: (lambda d: f(d) if d in self.by_dim else None)
        am, amv = has(argmax), has(lambda d: argmax(d, as_value=True))
        if self.opts.score != "argmax":
            return (f"{self._case(has(js))} AS _pjson, {self._case(has(expected))} AS _pexp, "
                    f"NULL::VARCHAR AS _pam, NULL::DOUBLE AS _pamv")
        return (f"{self._case(has(js))} AS _pjson, NULL::DOUBLE AS _pexp, {self._case(am)} AS _pam, "
                f"{self._case(amv)} AS _pamv")

    def outputs(self) -> tuple[str, str, str]:
        """(label, value, value_source) of a row rated by its probabilities only."""
        if not self.by_dim:
            return "NULL", "NULL", "NULL"
        if self.opts.score == "argmax":
            return "_pam", "_pamv", "'argmax'"
        return "NULL", "_pexp", "'expected'"

    def notes(self, con, view: str) -> list[str]:
        short = [d for d, bk in self.by_dim.items() if len(bk) < len(self.dims[d].options)]
        if not short:
            return []
        used = {r[0] for r in con.execute(f"SELECT DISTINCT dim FROM {view} WHERE _anyp").fetchall()}
        return [f"dimension '{d}': options {[o.label for o in self.dims[d].options if o.label not in self.by_dim[d]]}"
                f" have no prob_ column and count as probability 0" for d in short if d in used]
