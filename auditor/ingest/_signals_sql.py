"""Validate and normalise a signals table inside DuckDB: set-based checks, every fault of the file in one error.

:func:`prepare_signals` builds views over a :class:`~auditor.ingest._source.Source` and reads it once for the
file's raters and conversations: ``_sig_j`` (the cells read as text/numbers, joined to the rubric's dimensions),
then ``_sig_f`` (labels and values resolved against the options, probabilities scored, and ``_code``: the first
check a row fails, in the order of :mod:`auditor.ingest.signals`). The store then inserts the rows whose ``_code``
is empty in one pass and checks the counts and duplicate keys afterwards (:func:`auditor.store.write_prepared`);
only when something is off does :func:`check_prepared` run every check and name the faults. Nothing is read into
Python but the faulty rows it reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..errors import IngestError
from ..rubric import Rubric
from ._faults import SHOWN, raise_faults
from ._light import INVISIBLE, AssumedDirty, aggregates, id_checks, light_aggregates, measure_the_rest
from ._read import short_list, short_text
from ._source import Source, edge_whitespace, one_column_hint, quote_ident
from ._sqlcols import Col, sql_str
from ._sqlprobs import ProbSQL
from .signals import RATER_KINDS, SignalOptions, fault_for, fault_kind

__all__ = ["Prepared", "prepare_signals", "check_prepared"]

CANONICAL = {"conversation_id", "rater_id", "rater_kind", "task_id", "system_id", "sample", "confidence", "status",
             "error", "raw", "rationale", "inclusion_prob", "stratum"}


@dataclass
class Prepared:
    """Normalised signals of one file: ``view`` (one row per signal, with ``_code``), the file's ``raters`` (rid,
    kind, first row) and ``convs`` (cid, first task) tables, and the notes to show. ``validated`` once
    :func:`check_prepared` found no fault."""

    view: str
    raters: str
    convs: str
    n_rows: int
    n_not_answered: int
    where: str
    n_failed: int = 0
    notes: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    n_expected: int = 0              # ratings the file holds (rows; non-empty cells with --wide)
    suspect: bool = False            # the light pass saw a rater with two kinds or a conversation with two tasks
    validated: bool = False          # check_prepared passed
    lean: bool = False               # no confidence, prob_, raw, rationale or error column: signal_rows_lean holds it
    state: dict = field(default_factory=dict, repr=False)

    def probability_notes(self, con) -> list[str]:
        """Notes on dimensions whose options lack a prob_ column (asked after a successful write)."""
        return self.state["probs"].notes(con, self.view)

    def close(self, con) -> None:
        for stmt in reversed(self.drops):
            con.execute(stmt)
        self.drops.clear()


def _fail(src: Source, row, fld, problem, fix):
    raise IngestError(src.path, problem, row=row, field=fld, fix=fix, where=src.where)


def _renamed(con, src: Source, rubric: Rubric, opts: SignalOptions, tag: str, prep: Prepared):
    """The view ``_sig_r``: the file's columns under their canonical names (``--map``), long (``--wide`` melted).
    Returns (view, column names as the user sees them, notes, the names of clean text columns)."""
    for s, d in opts.mapping.items():
        if s not in src.types:
            _fail(src, None, short_text(s), f"--map {short_text(s)}={short_text(d)}: the file has no column "
                  f"{short_text(s)!r}", f"use one of the file's columns: {short_list(src.types)}.")
    cols: dict[str, Col] = {}
    for c, t in src.types.items():
        cols[opts.mapping.get(c, c)] = Col(c, t, flag=f"__nonscalar__{c}" if c in src.nonscalar else None,
                                           clean=c in src.clean)
    notes: list[str] = []
    prep.n_expected = src.n_rows
    sel = [f"{c.q} AS {quote_ident(n)}" for n, c in cols.items()]
    sel += [f"{c.nonscalar()} AS {quote_ident('__nonscalar__' + n)}" for n, c in cols.items()
            if c.nonscalar() != "NULL"]
    frm = src.name
    names = list(cols)
    if opts.wide:
        dims = [c for c in cols if c in rubric.dimension_names]
        if not dims:
            _fail(src, None, None, f"--wide: no column is named after a dimension of rubric '{rubric.name}'",
                  f"name the rating columns after the dimensions ({', '.join(rubric.dimension_names)}) or "
                  "rename them with --map SOURCE=DIMENSION.")
        ids = [c for c in cols if c not in dims]
        ignored = [c for c in ids if c not in CANONICAL]
        if ignored:
            notes.append(f"--wide: column(s) {', '.join(map(str, ignored))} are not dimensions of "
                         f"'{rubric.name}' and were ignored")
        blank = " + ".join(f"({cols[d].text()} IS NULL)::BIGINT" for d in dims)
        n_blank = con.execute(f"SELECT sum({blank}) FROM {src.name}").fetchall()[0][0] or 0
        if n_blank:
            notes.append(f"{int(n_blank)} empty cell(s) skipped (no rating)")
        prep.n_expected = src.n_rows * len(dims) - int(n_blank)
        if n_blank == src.n_rows * len(dims):
            _fail(src, None, None, "every rating cell is empty", "fill in the ratings; nothing was loaded.")
        case = lambda f: "CASE _k " + " ".join(f"WHEN {i} THEN {f(cols[d])}" for i, d in enumerate(dims)) + " END"
        sel = [s for s in sel if not any(s.endswith(f"AS {quote_ident(x)}") for x in
                                         dims + ["__nonscalar__" + d for d in dims])]
        sel += ["_dname AS dimension", f"{case(Col.raw)} AS label"]
        if any(cols[d].nonscalar() != "NULL" for d in dims):
            sel.append(f"{case(Col.nonscalar)} AS __nonscalar__label")
        values = ", ".join(f"({i}, {sql_str(d)})" for i, d in enumerate(dims))
        frm = (f"{src.name} CROSS JOIN (VALUES {values}) _d(_k, _dname) "
               f"WHERE {case(Col.text)} IS NOT NULL")
        names = ids + ["dimension", "label"]
    view = f"_sig_r_{tag}"
    con.execute(f"CREATE TEMP VIEW {view} AS SELECT {', '.join(sel)}, _row FROM {frm}")
    prep.drops.append(f"DROP VIEW IF EXISTS {view}")
    clean = {n for n, c in cols.items() if c.clean and n in names}    # a melted label mixes columns: not clean
    return view, names, notes, clean


def _columns(con, view: str, clean: set) -> dict[str, Col]:
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}
    return {n: Col(n, t, flag=f"__nonscalar__{n}" if f"__nonscalar__{n}" in types else None, clean=n in clean)
            for n, t in types.items() if not n.startswith("__nonscalar__") and n != "_row"}


def prepare_signals(con, src: Source, rubric: Rubric, opts: SignalOptions) -> Prepared:
    """Validate ``src`` against ``rubric`` in ``con``; raise :class:`IngestError` listing every fault."""
    tag = uuid.uuid4().hex[:8]
    prep = Prepared(view=f"_sig_f_{tag}", raters=f"_sig_rat_{tag}", convs=f"_sig_conv_{tag}", n_rows=0,
                    n_not_answered=0, where=src.where, notes=list(src.notes))
    try:
        try:
            _prepare(con, src, rubric, opts, tag, prep)
        except AssumedDirty:        # a column taken as clean has cells to trim: find which, and start again
            prep.close(con)
            src.measure(con)
            prep.notes = list(src.notes)
            _prepare(con, src, rubric, opts, tag, prep)
    except BaseException:
        prep.close(con)
        raise
    return prep


def _prepare(con, src: Source, rubric: Rubric, opts: SignalOptions, tag: str, prep: Prepared) -> None:
    pending = measure_the_rest(con, src, opts)
    view_r, names, notes, clean = _renamed(con, src, rubric, opts, tag, prep)
    prep.notes += notes
    C = _columns(con, view_r, clean)
    for col, flag in (("rater_id", opts.rater_id), ("rater_kind", opts.rater_kind)):
        if flag is not None:
            if col in C and con.execute(f"SELECT bool_or({C[col].text()} IS NOT NULL) FROM {view_r}"
                                        ).fetchall()[0][0]:
                prep.notes.append(f"--{col.replace('_', '-')} {flag} overrides the file's '{col}' column")
            if col not in names:
                names.append(col)
            C[col] = Col(col, "VARCHAR", expr=sql_str(flag))
    prob_cols = [c for c in names if isinstance(c, str) and c.startswith("prob_")]
    for col in ["conversation_id", "rater_id", "rater_kind"] + ([] if opts.wide else ["dimension"]):
        if col not in C:
            hint = {"rater_id": "add a rater_id column or pass --rater-id NAME",
                    "rater_kind": "add a rater_kind column or pass --rater-kind human|judge|simulator"}.get(
                col, f"add the column, or rename yours with --map SOURCE={col}")
            hint = one_column_hint(src, names, CANONICAL | {"dimension", "label", "value", *opts.mapping}) or hint
            _fail(src, None, col, f"missing required column '{col}' (columns are: {short_list(names)})", hint + ".")
    if not opts.wide and "label" not in C and "value" not in C and not prob_cols:
        _fail(src, None, "label", "no rating column: need 'label', 'value' or prob_<option> columns",
              "add one, or rename yours with --map SOURCE=label.")

    prep.lean = not prob_cols and not any(c in C for c in ("confidence", "raw", "rationale", "error"))
    tables = _rubric_tables(con, rubric, opts, tag, prep)
    probs = ProbSQL(rubric, prob_cols, opts)
    # --- stage j: cells as text / numbers, joined to the dimension
    order = ["conversation_id", "rater_id", "dimension", "rater_kind", "task_id", "sample", "label", "value",
             "confidence", "status", "error", "raw", "rationale"] + prob_cols
    ns = [(n, C[n].nonscalar()) for n in order if n in C and C[n].nonscalar() != "NULL"]
    ns_col = ("CASE " + " ".join(f"WHEN {e} IS NOT NULL THEN {sql_str(n)}" for n, e in ns) + " END") if ns else "NULL"
    ns_type = ("CASE " + " ".join(f"WHEN {e} IS NOT NULL THEN {e}" for _, e in ns) + " END") if ns else "NULL"

    def get(n, how, default="NULL"):
        return getattr(C[n], how)() if n in C else default

    # --- light pass: raters and conversations of the file (what the store's raters/conversations get); a rater with
    # two kinds, a conversation with two tasks or an id with an invisible character sends the load through the full
    # check. Ids are stored in Unicode NFC; the (rare) file with other spellings is normalised on the way in.
    ids = {"cid": get('conversation_id', 'text'), "rid": get('rater_id', 'text'), "task": get('task_id', 'text')}

    def light() -> str:
        return (f"SELECT {ids['cid']} AS cid, {ids['rid']} AS rid, lower({get('rater_kind', 'text')}) AS kind, "
                f"{ids['task']} AS task FROM {view_r}")

    edges = light_aggregates(con, prep, light(), edges=bool(pending))
    nfc, invisible = id_checks(con, prep)
    if nfc:
        ids = {k: f"nfc_normalize({v})" for k, v in ids.items()}
        edges = light_aggregates(con, prep, light(), edges=bool(pending))
        prep.notes.append("ids written in another Unicode form than NFC (e.g. a decomposed é) are stored in NFC, so "
                          "that both spellings name one conversation or rater")
    prep.suspect = invisible or bool(con.execute(
        f"SELECT (SELECT count(*) FROM {prep.raters} WHERE nk > 1) + (SELECT count(*) FROM {prep.convs} "
        f"WHERE nt > 1)").fetchall()[0][0])
    hold_back = f"coalesce({edge_whitespace('lab_raw')}, false)" if "label" in pending else None
    ids_pending = [c for n, c in pending.items() if n in edges]
    if ids_pending:
        # the distinct values show every cell only where a rater has one kind and a conversation one task
        if src.measure(con, ids_pending) if prep.suspect else any(edges[n] for n in pending if n in edges):
            raise AssumedDirty
        src.shown_clean(ids_pending)

    base = ["_row", f"{ns_col} AS _ns_col", f"{ns_type} AS _ns_type",
            f"{ids['cid']} AS cid", f"{ids['rid']} AS rid",
            f"{get('dimension', 'text')} AS dim", f"lower({get('rater_kind', 'text')}) AS kind",
            f"{get('rater_kind', 'raw')} AS kind_raw", f"{ids['task']} AS task",
            f"{get('sample', 'text')} AS smp_t", f"{get('sample', 'num')} AS smp", f"{get('sample', 'raw')} AS smp_raw",
            f"{get('confidence', 'text')} AS conf_t", f"{get('confidence', 'num')} AS conf",
            f"{get('confidence', 'raw')} AS conf_raw",
            f"lower({get('status', 'text')}) AS st", f"{get('status', 'raw')} AS st_raw",
            f"nullif({get('error', 'raw')}, '') AS _error", f"nullif({get('raw', 'raw')}, '') AS _raw",
            f"nullif({get('rationale', 'raw')}, '') AS _rationale",
            f"{get('label', 'label')} AS lab", f"{get('label', 'num')} AS lab_num", f"{get('label', 'raw')} AS lab_raw",
            f"{get('value', 'label')} AS val_s", f"{get('value', 'num')} AS val_num",
            f"{get('value', 'raw')} AS val_raw"]
    for k, c in enumerate(prob_cols):
        base += [f"{C[c].num()} AS _p{k}", f"({C[c].text()} IS NULL) AS _pb{k}"]
    kinds = ", ".join(map(sql_str, RATER_KINDS))
    smp_bad = ("(smp_t IS NOT NULL AND (smp IS NULL OR isnan(smp) OR isinf(smp) OR smp < 0 OR smp <> floor(smp) "
               "OR smp >= 2147483648))")
    pre_ok = (f"(_ns_col IS NULL AND cid IS NOT NULL AND rid IS NOT NULL AND dim IS NOT NULL AND kind IS NOT NULL "
              f"AND kind IN ({kinds}) AND _ord IS NOT NULL AND NOT {smp_bad})")
    view_j = f"_sig_j_{tag}"
    con.execute(f"CREATE TEMP VIEW {view_j} AS SELECT b.*, d._ord, d._mcode, d._mcode_num, d._vals, "
                f"{pre_ok} AS _pre_ok FROM (SELECT {', '.join(base)} FROM {view_r}) b "
                f"LEFT JOIN {tables['dims']} d ON d.dimension = b.dim")
    prep.drops.append(f"DROP VIEW IF EXISTS {view_j}")

    prep.state = dict(C=C, tables=tables, probs=probs, smp_bad=smp_bad, kinds=kinds, view_j=view_j, rubric=rubric,
                      opts=opts, src=src, invisible=invisible, hold_back=hold_back)
    _build_f(con, prep, conflicts=False)


def check_prepared(con, prep: Prepared) -> Prepared:
    """The full check: every fault of the file, in file order (raises :class:`IngestError`). Returns what to write:
    ``prep``, or, when a column taken as clean turns out to hold a cell to trim, the file prepared again (``prep``
    is then closed). Afterwards its raters/conversations tables hold only rows that pass the checks, and
    ``validated`` is set."""
    st = prep.state
    if st["src"].measure(con):          # every cell of what was taken as clean, before a fault is named
        prep.close(con)
        again = prepare_signals(con, st["src"], st["rubric"], st["opts"])
        try:
            return check_prepared(con, again)
        except BaseException:
            again.close(con)
            raise
    aggregates(con, prep, f"SELECT * FROM {st['view_j']}", "_pre_ok")
    kconf = con.execute(f"SELECT count(*) FROM {prep.raters} WHERE nk > 1").fetchall()[0][0]
    tconf = con.execute(f"SELECT count(*) FROM {prep.convs} WHERE nt > 1").fetchall()[0][0] \
        if "task_id" in st["C"] else 0
    _build_f(con, prep, conflicts=bool(kconf or tconf))
    _collect_faults(con, st["src"], st["rubric"], st["opts"], prep, st["probs"])
    prep.validated = True
    return prep


def _build_f(con, prep: Prepared, *, conflicts: bool) -> None:
    """The view ``_sig_f``: labels, values and probabilities resolved, and each row's first failed check."""
    st = prep.state
    C, tables, probs, opts, view_j = st["C"], st["tables"], st["probs"], st["opts"], st["view_j"]
    joins, extra = [], []
    if "label" in C:
        joins += [f"LEFT JOIN {tables['opts']} o1 ON o1.dimension = j.dim AND o1.label = j.lab",
                  f"LEFT JOIN {tables['v2l']} v1 ON v1.dimension = j.dim AND v1.value = j.lab_num"]
        extra += ["o1.label AS _l1", "o1.value AS _l1v", "v1.label AS _l2", "v1.value AS _l2v"]
    else:
        extra += ["NULL::VARCHAR AS _l1", "NULL::DOUBLE AS _l1v", "NULL::VARCHAR AS _l2", "NULL::DOUBLE AS _l2v"]
    if "value" in C:
        joins.append(f"LEFT JOIN {tables['v2l']} v2 ON v2.dimension = j.dim AND v2.value = j.val_num")
        extra += ["v2.dimension IS NOT NULL AS _vexact", "v2.label AS _vlabel"]
    else:
        extra += ["false AS _vexact", "NULL::VARCHAR AS _vlabel"]
    if conflicts:
        joins += [f"LEFT JOIN (SELECT * FROM {prep.raters} WHERE nk > 1) kc ON kc.rid = j.rid",
                  f"LEFT JOIN (SELECT * FROM {prep.convs} WHERE nt > 1) tc ON tc.cid = j.cid"]
        extra += ["kc.k0 AS _k0", "kc.r0 AS _kr0", "tc.t0 AS _t0", "tc.tr0 AS _tr0"]
    else:
        extra += ["NULL::VARCHAR AS _k0", "NULL::BIGINT AS _kr0", "NULL::VARCHAR AS _t0", "NULL::BIGINT AS _tr0"]
    ocode = opts.missing_code
    try:
        onum = float(ocode) if ocode is not None else None
    except ValueError:
        onum = None
    missing = " OR ".join(
        ["coalesce(lab = _mcode OR val_s = _mcode, false)",
         "coalesce(lab_num = _mcode_num OR val_num = _mcode_num, false)"]
        + ([f"coalesce(lab = {sql_str(ocode)} OR val_s = {sql_str(ocode)}, false)"] if ocode is not None else [])
        + ([f"coalesce(lab_num = {onum!r} OR val_num = {onum!r}, false)"] if onum is not None and onum == onum
           else []))
    stage_m = (f"SELECT j.*, {', '.join(extra)}, ({missing}) AS _missing, "
               f"coalesce(st IN ('failed', 'not_answered'), false) AS _skip FROM {view_j} j {' '.join(joins)}")
    stage_r = (f"SELECT m.*, (lab IS NOT NULL AND NOT _missing AND NOT _skip) AS _ok_lab, "
               f"(val_s IS NOT NULL AND NOT _missing AND NOT _skip) "
               f"AS _ok_val, CASE WHEN _l1 IS NOT NULL THEN _l1 ELSE _l2 END AS _rlab, "
               f"CASE WHEN _l1 IS NOT NULL THEN _l1v ELSE _l2v END AS _rval, {probs.row_exprs()} FROM ({stage_m}) m")
    stage_p = (f"SELECT r.*, (_ok_val AND lab IS NULL) AS _only_val, "
               f"(_anyp AND lab IS NULL AND val_s IS NULL AND NOT _missing AND NOT _skip) AS _only_p, "
               f"{probs.scored_exprs()} "
               f"FROM ({stage_r}) r")
    p_label, p_value, p_source = probs.outputs()
    # status and value_source as the store's ENUM types (migration 008), arm by arm: a cast of the finished column
    # would look every row's text up in the type (~1 s per 32M rows), a cast of a constant arm happens once
    st_, vs_ = (lambda v: f"{v}::signal_status"), (lambda v: f"{v}::signal_value_source")
    stage_o = (f"SELECT p.*, CASE WHEN st = 'failed' THEN {st_(sql_str('failed'))} WHEN _missing OR _skip THEN "
               f"{st_(sql_str('not_answered'))} ELSE {st_(sql_str('ok'))} END AS status, "
               f"CASE WHEN _missing OR _skip THEN NULL WHEN _ok_lab THEN _rlab WHEN _only_val THEN _vlabel "
               f"WHEN _only_p THEN {p_label} END AS label, "
               f"CASE WHEN _missing OR _skip THEN NULL WHEN _ok_lab THEN _rval WHEN _only_val THEN val_num "
               f"WHEN _only_p THEN {p_value} END AS value, "
               f"CASE WHEN _missing OR _skip THEN NULL WHEN _ok_lab THEN {vs_(sql_str('label'))} WHEN _only_val THEN "
               f"{vs_(sql_str('value'))} WHEN _only_p THEN {vs_(p_source)} END AS value_source, "
               f"CASE WHEN _anyp THEN _pjson END AS probs, TRY_CAST(coalesce(smp, 0) AS INTEGER) AS sample "
               f"FROM ({stage_p}) p")
    checks = _checks(C, st["smp_bad"], st["kinds"], probs, opts, st["invisible"], st["hold_back"])
    code = "CASE " + " ".join(f"WHEN {cond} THEN {sql_str(name)}" for name, cond, _ in checks) + " END"
    fld = "CASE " + " ".join(f"WHEN {cond} THEN {f}" for _, cond, f in checks) + " END"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {prep.view} AS SELECT o.*, {code} AS _code, {fld} AS _field "
                f"FROM ({stage_o}) o")
    if f"DROP VIEW IF EXISTS {prep.view}" not in prep.drops:
        prep.drops.append(f"DROP VIEW IF EXISTS {prep.view}")


def _checks(C, smp_bad, kinds, probs, opts, invisible=False, hold_back=None) -> list[tuple[str, str, str]]:
    """(fault code, condition, field expression) in the order a row is checked; ``hold_back``: the condition of
    "held_back" (see :data:`~auditor.ingest._light.TAKEN_CLEAN`), last, so that the insert's filter stays
    ``_code IS NULL``."""
    tol = probs.tolerance
    out = [("nonscalar", "_ns_col IS NOT NULL", "_ns_col")]
    out += [(f"blank_{c}", f"{v} IS NULL", sql_str(c)) for c, v in
            (("conversation_id", "cid"), ("rater_id", "rid"), ("dimension", "dim"), ("rater_kind", "kind"))]
    if invisible:
        out += [("invisible_id", f"regexp_matches(cid, '{INVISIBLE}')", "'conversation_id'"),
                ("invisible_id", f"regexp_matches(rid, '{INVISIBLE}')", "'rater_id'")]
    out += [("rater_kind", f"kind NOT IN ({kinds})", "'rater_kind'"),
            ("dimension", "_ord IS NULL", "'dimension'"),
            ("sample", smp_bad, "'sample'"),
            ("kind_conflict", "_k0 IS NOT NULL AND kind <> _k0", "'rater_kind'"),
            ("task_conflict", "_t0 IS NOT NULL AND task IS NOT NULL AND task <> _t0", "'task_id'"),
            ("confidence", "conf_t IS NOT NULL AND (conf IS NULL OR isnan(conf) OR isinf(conf) OR conf < 0 OR "
                           "conf > 1)", "'confidence'"),
            ("status", "st IS NOT NULL AND st NOT IN ('ok', 'not_answered', 'failed')", "'status'"),
            ("status_rating", "_skip AND ((lab IS NOT NULL AND NOT _missing) OR (val_s IS NOT NULL AND NOT _missing) "
                              "OR _anyp)", "'status'"),
            ("status_ok_missing", "st = 'ok' AND _missing", "'status'"),
            ("label", "_ok_lab AND _rlab IS NULL", "'label'"),
            ("value_nonfinite", "_ok_val AND (val_num IS NULL OR isnan(val_num) OR isinf(val_num))", "'value'"),
            ("value_scale", ("_ok_val AND NOT (val_num >= list_min(_vals) - 1e-9 AND val_num <= list_max(_vals) "
                             "+ 1e-9)") if opts.between_options else
             ("_ok_val AND NOT (_vexact OR coalesce(list_bool_or(list_transform(_vals, "
              "lambda x: abs(x - val_num) < 1e-9)), false))"), "'value'"),
            ("clash", "_ok_val AND _ok_lab AND abs(_rval - val_num) > 1e-9", "'value'")]
    if probs.cols:
        out += [("prob_unmatched", "_unm IS NOT NULL", "_unm"),
                ("prob_number", "_anyp AND _badp IS NOT NULL", "_badp"),
                ("prob_partial", "_anyp AND _partp IS NOT NULL", "_partp"),
                ("prob_zero", "_anyp AND _tot <= 0", "_pfirst")]
        if not opts.renormalize:
            out.insert(-1, ("prob_sum", f"_anyp AND abs(_tot - 1) > {tol!r}", "_pfirst"))
    out.append(("no_rating", "NOT _missing AND NOT _skip AND value IS NULL AND label IS NULL", "'label'"))
    if hold_back:
        out.append(("held_back", hold_back, "'label'"))
    return out


def _rubric_tables(con, rubric: Rubric, opts: SignalOptions, tag: str, prep: Prepared) -> dict[str, str]:
    t = {k: f"_sig_{k}_{tag}" for k in ("dims", "opts", "v2l")}
    con.execute(f"CREATE TEMP TABLE {t['dims']} (dimension VARCHAR, _ord INTEGER, _mcode VARCHAR, _mcode_num DOUBLE, "
                f"_vals DOUBLE[])")
    con.execute(f"CREATE TEMP TABLE {t['opts']} (dimension VARCHAR, label VARCHAR, value DOUBLE)")
    con.execute(f"CREATE TEMP TABLE {t['v2l']} (dimension VARCHAR, value DOUBLE, label VARCHAR)")
    for k in t.values():
        prep.drops.append(f"DROP TABLE IF EXISTS {k}")
    dims, options, v2l = [], [], []
    for i, d in enumerate(rubric.dimensions):
        try:
            cnum = float(d.missing_code) if d.missing_code is not None else None
        except ValueError:
            cnum = None
        dims.append([d.name, i, d.missing_code, cnum if cnum == cnum else None, [float(v) for v in d.values]])
        options += [[d.name, o.label, float(o.value)] for o in d.options]
        v2l += [[d.name, float(v), lab] for v, lab in d.value_to_label().items()]
    con.executemany(f"INSERT INTO {t['dims']} VALUES (?, ?, ?, ?, ?)", dims)
    con.executemany(f"INSERT INTO {t['opts']} VALUES (?, ?, ?)", options)
    con.executemany(f"INSERT INTO {t['v2l']} VALUES (?, ?, ?)", v2l)
    return t


_FAULT_COLS = ("_row, _code, _field, _ns_type, cid, rid, dim, kind, kind_raw, st, st_raw, task, smp_raw, conf_raw, "
               "lab_raw, "
               "val_raw, _rlab, _rval, val_num, _tot, _k0, _kr0, _t0, _tr0")


def _collect_faults(con, src: Source, rubric: Rubric, opts: SignalOptions, prep: Prepared, probs) -> None:
    v = prep.view
    by_code = con.execute(f"SELECT _code, count(*), count(*) FILTER (WHERE status = 'not_answered'), min(_row), "
                          f"count(*) FILTER (WHERE status = 'failed') FROM {v} GROUP BY 1").fetchall()
    counts = {c: (n, r) for c, n, _, r, _ in by_code if c is not None}     # code -> (rows, first row)
    prep.n_rows = sum(b[1] for b in by_code)
    prep.n_not_answered = sum(b[2] for b in by_code)
    prep.n_failed = sum(b[4] for b in by_code)
    names = [c.strip() for c in _FAULT_COLS.split(",")]
    rows = []
    # a wide row holds several ratings: each row reports its first fault (in the order of the dimensions)
    firsts = f"SELECT DISTINCT ON (_row) {_FAULT_COLS} FROM {v} WHERE _code IS NOT NULL ORDER BY _row, _ord"
    if counts:
        if opts.wide:      # count rows, not cells
            counts = {c: (n, r) for c, n, r in con.execute(f"SELECT _code, count(*), min(_row) FROM ({firsts}) "
                                                           f"GROUP BY 1").fetchall()}
        rows = [dict(zip(names, r)) for r in con.execute(f"{firsts} LIMIT {SHOWN}").fetchall()]
    # duplicate keys among the rows that pass every other check: sort by a hash of the key, compare neighbours
    key = "cid, dim, rid, sample"
    n_dup = con.execute(f"SELECT count(*) FROM (SELECT h = lag(h) OVER (ORDER BY h) AS d FROM (SELECT hash({key}) "
                        f"AS h FROM {v} WHERE _code IS NULL)) WHERE d").fetchall()[0][0]
    if n_dup:
        dup_sql = (f"WITH k AS (SELECT _row, _ord, cid, dim, rid, sample, hash({key}) AS h FROM {v} "
                   f"WHERE _code IS NULL), dh AS (SELECT h FROM k GROUP BY h HAVING count(*) > 1), "
                   f"c AS (SELECT k.*, min(_row) OVER (PARTITION BY {key}) AS r0 FROM k SEMI JOIN dh USING (h)) "
                   f"SELECT DISTINCT ON (_row) _row, cid, dim, rid, sample, r0 FROM c WHERE _row <> r0 "
                   f"AND _row NOT IN (SELECT _row FROM {v} WHERE _code IS NOT NULL) ORDER BY _row, _ord")
        n, first = con.execute(f"SELECT count(*), min(_row) FROM ({dup_sql})").fetchall()[0]
        if n:
            counts["duplicate"] = (n, first)
        rows += [dict(_row=r[0], _code="duplicate", cid=r[1], dim=r[2], rid=r[3], sample=r[4], r0=r[5])
                 for r in con.execute(f"SELECT * FROM ({dup_sql}) LIMIT {SHOWN}").fetchall()]
    if counts:
        faults = [fault_for(r, rubric, opts, src.where) for r in rows]
        raise_faults(src.path, faults, {fault_kind(c): nr for c, nr in counts.items()}, src.where)
