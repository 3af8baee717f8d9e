"""A signals file's optional ``inclusion_prob`` (and ``stratum``) columns: how its human-labelled conversations were
sampled, stored in ``label_designs`` in the load's transaction, so corrected estimates (``ppi_mean``,
``rogan_gladen_rate``) weight them by 1 / inclusion probability (and resample within strata) as for a campaign.

One probability (and stratum) per conversation in the file, a number in (0, 1]; a conversation already stored with
another design for this rubric is an error unless ``--replace``.
"""

from __future__ import annotations

import uuid

from ..errors import IngestError
from ._read import short_text
from ._source import Source
from ._sqlcols import Col
from ._systems_sql import _column
from .signals import SignalOptions

__all__ = ["source_design", "apply_design"]


def source_design(con, src: Source, opts: SignalOptions, rubric: str, *, replace: bool) -> str | None:
    """A temp table (cid, pi, stratum, _row) from the file, or None without an inclusion_prob column."""
    pc, cc = _column(src, opts, "inclusion_prob"), _column(src, opts, "conversation_id")
    if pc is None or cc is None:
        return None
    sc, kc = _column(src, opts, "stratum"), _column(src, opts, "rater_kind")
    p_col = Col(pc, src.types[pc])
    t = f"_design_{uuid.uuid4().hex[:8]}"
    stratum = Col(sc, src.types[sc]).text() if sc else "NULL::VARCHAR"
    # the design describes how the *human* labels were drawn: rows of other raters do not carry it
    kind = (f"lower({Col(kc, src.types[kc]).text()})" if kc and not opts.rater_kind else
            f"'{(opts.rater_kind or '').lower()}'")
    human = con.execute(f"SELECT count(*) FROM {src.name} WHERE {kind} = 'human'").fetchall()[0][0]
    if not human:
        raise IngestError(src.path, "an inclusion_prob column, but no human ratings in the file", field=pc,
                          where=src.where, fix="inclusion probabilities say how human-labelled conversations were "
                                               "drawn: load them with the human labels, or drop the column.")
    con.execute(f"CREATE TEMP TABLE {t} AS SELECT nfc_normalize({Col(cc, src.types[cc]).text()}) AS cid, "
                f"{p_col.num()} AS pi, "
                f"{p_col.raw()} AS pi_raw, {stratum} AS stratum, _row FROM {src.name} WHERE {kind} = 'human'")
    try:
        bad = con.execute(f"SELECT _row, pi_raw FROM {t} WHERE cid IS NOT NULL AND pi_raw IS NOT NULL AND "
                          f"trim(pi_raw) <> '' AND NOT coalesce(pi > 0 AND pi <= 1, false) ORDER BY _row LIMIT 1"
                          ).fetchall()
        if bad:
            raise IngestError(src.path, f"inclusion_prob {short_text(bad[0][1])!r} is not a probability in (0, 1]",
                              row=bad[0][0], field=pc, where=src.where,
                              fix="write the chance that this conversation was drawn for labelling, e.g. 0.2.")
        two = con.execute(
            f"WITH f AS (SELECT cid, arg_min(pi, _row) AS p0, arg_min(stratum, _row) AS s0, min(_row) AS r0 FROM {t} "
            f"WHERE cid IS NOT NULL AND pi IS NOT NULL GROUP BY cid) SELECT t._row, t.cid, f.r0 FROM {t} t JOIN f "
            f"USING (cid) WHERE t.pi IS NOT NULL AND (t.pi <> f.p0 OR t.stratum IS DISTINCT FROM f.s0) "
            f"ORDER BY t._row LIMIT 1").fetchall()
        if two:
            row, cid, r0 = two[0]
            raise IngestError(src.path, f"conversation {short_text(cid)!r} has another inclusion_prob or stratum "
                              f"here than at {src.where} {r0}", row=row, field=pc, where=src.where,
                              fix="give each conversation one inclusion probability (and stratum).")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT cid, arg_min(pi, _row) AS pi, arg_min(stratum, _row) "
                    f"AS stratum, min(_row) AS _row FROM {t} WHERE cid IS NOT NULL AND pi IS NOT NULL GROUP BY cid")
        if not replace:
            clash = con.execute(f"SELECT t._row, t.cid, d.inclusion_prob, d.source FROM {t} t JOIN label_designs d "
                                f"ON d.conversation_id = t.cid AND d.rubric = ? WHERE d.inclusion_prob <> t.pi OR "
                                f"d.stratum IS DISTINCT FROM t.stratum ORDER BY t._row LIMIT 1", [rubric]).fetchall()
            if clash:
                row, cid, p0, source = clash[0]
                raise IngestError(src.path, f"conversation {short_text(cid)!r} is already stored with inclusion "
                                  f"probability {p0:g} (from {short_text(source)}) on rubric {rubric!r}", row=row,
                                  field=pc, where=src.where, fix="pass --replace to overwrite, or correct the file.")
    except BaseException:
        con.execute(f"DROP TABLE IF EXISTS {t}")
        raise
    return t


def apply_design(con, table: str, rubric: str, source: str, batch_id: str | None) -> int:
    """Write the design rows (inside the load's transaction); returns how many conversations changed."""
    n = con.execute(f"SELECT count(*) FROM {table} t LEFT JOIN label_designs d ON d.conversation_id = t.cid AND "
                    f"d.rubric = ? WHERE d.conversation_id IS NULL OR d.inclusion_prob <> t.pi OR d.stratum IS "
                    f"DISTINCT FROM t.stratum", [rubric]).fetchall()[0][0]
    if n:
        con.execute(f"DELETE FROM label_designs d WHERE d.rubric = ? AND d.conversation_id IN (SELECT cid FROM "
                    f"{table})", [rubric])
        con.execute(f"INSERT INTO label_designs (rubric, conversation_id, inclusion_prob, stratum, source, batch_id) "
                    f"SELECT ?, cid, pi, stratum, ?, ? FROM {table}", [rubric, source, batch_id])
    return int(n)
