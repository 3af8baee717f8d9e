"""Loading files into a store: each loader reads with the ingest readers and writes with :mod:`auditor.store`.

These are the methods ``ingest_signals``, ``ingest_conversations``, ``ingest_tau_bench`` and ``ingest_tau_usi`` of
the public :class:`auditor.Store` (the store itself imports no reader).
"""

from __future__ import annotations

import contextlib

from ..store import Store
from ..store._writes import NeedsCheck, register_rubric, write_conversations, write_prepared
from ._design_sql import apply_design, source_design
from ._read import as_raw_table
from ._signals_sql import check_prepared, prepare_signals
from ._source import open_source
from ._systems_sql import apply_systems, source_systems
from .conversations import normalise_conversations
from .signals import SignalOptions
from .tau_bench import read_tau_bench
from .tau_usi import ingest_tau_usi

__all__ = ["ingest_signals", "ingest_conversations", "ingest_tau_bench", "ingest_tau_usi", "INGEST_MEMORY_LIMIT"]


def ingest_signals(store: Store, source, *, rubric, rater_kind=None, rater_id=None, mapping=None, wide=False,
                    missing_code=None, renormalize=False, score="expected", model=None, replace=False,
                    source_name=None, between_options=False):
    """Load ratings from a CSV / TSV / JSONL / Parquet file (or a DataFrame) into the store.

    All-or-nothing and idempotent: loading the same file twice adds nothing; a different value for a stored key
    raises :class:`~auditor.errors.IngestError` unless ``replace=True``. Returns a :class:`LoadResult`.

    Parameters
    ----------
    source : path, or a pandas DataFrame (then ``source_name`` names it in errors and batches)
    rubric : built-in rubric name or path to a rubric YAML file
    rater_kind, rater_id : apply to every row (instead of columns)
    mapping : {source column: canonical column}
    wide : one column per dimension
    missing_code : a label/value meaning "not answered" (besides the rubric's own)
    renormalize : divide option probabilities by their sum when it is not 1
    between_options : accept values anywhere from the lowest to the highest option value (a mean of several sampled
        answers), stored without a label; otherwise a value must equal an option's
    score : ``"expected"`` (sum of value x probability) or ``"argmax"`` for rows with probabilities only
    """
    rub = store.rubric(rubric)
    opts = SignalOptions(rater_kind=rater_kind, rater_id=rater_id, mapping=dict(mapping or {}), wide=wide,
                         missing_code=missing_code, renormalize=renormalize, score=score, model=model,
                         between_options=between_options)
    with _ingest_settings(store):
        return _ingest_signals_in(store, source, source_name, rub, opts, rubric, model, replace)


# a bulk load keeps at most this much in memory (DuckDB spills the rest to the store's .tmp folder): a 32M-signal
# file loads in ~1.2 GB instead of ~2.7 GB, at ~10% of the time
INGEST_MEMORY_LIMIT = "1GB"


@contextlib.contextmanager
def _ingest_settings(store: Store):
    if store.path == ":memory:":       # an in-memory store cannot spill what it holds
        yield
        return
    old = store.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    store.con.execute(f"SET memory_limit = '{INGEST_MEMORY_LIMIT}'")
    try:
        yield
    finally:
        store.con.execute(f"SET memory_limit = '{old}'")


def _ingest_signals_in(store: Store, source, source_name, rub, opts, rubric, model, replace):
    src = open_source(store.con, source, source_name)
    systems = design = None
    try:
        prep = prepare_signals(store.con, src, rub, opts)
        systems = source_systems(store.con, src, opts, replace=replace)
        design = source_design(store.con, src, opts, rub.name, replace=replace)
        n_sys, n_design = [0], [0]
        try:
            def write():
                with store.transaction():
                    register_rubric(store, rub, source=str(rubric))
                    res = write_prepared(store, prep, source=src.path, rubric=rub.name, model=model,
                                         replace=replace, sha256=src.sha256, options=opts.to_dict())
                    n_sys[0] = apply_systems(store.con, systems, replace=replace) if systems else 0
                    n_design[0] = apply_design(store.con, design, rub.name, src.path, res.batch_id) if design else 0
                    src.unchanged()
                    return res
            try:
                res = write()          # one pass, checked afterwards
            except NeedsCheck:         # rolled back: find and name the faults, or compare with stored rows
                prep = check_prepared(store.con, prep)
                res = write()
            prep.notes += prep.probability_notes(store.con)
        finally:
            prep.close(store.con)
        if n_sys[0]:
            prep.notes.append(f"{n_sys[0]} conversation(s) got their system_id from the file")
        if n_design[0]:
            prep.notes.append(f"{n_design[0]} conversation(s) got an inclusion probability from the file: corrected "
                              "estimates weight their labels by 1 / inclusion_prob")
    finally:
        for t in (systems, design):
            if t:
                store.con.execute(f"DROP TABLE IF EXISTS {t}")
        src.close(store.con)
    res.notes = prep.notes + res.notes
    return res


def ingest_conversations(store: Store, source, *, mapping=None, user_kind=None, replace=False, source_name=None):
    """Load conversations (``conversation_id``, ``messages`` as a JSON list of {role, content}, ...)."""
    raw = as_raw_table(source, source_name)
    norm = normalise_conversations(raw, mapping, user_kind)
    return write_conversations(store, norm, source=raw.path, replace=replace, sha256=raw.sha256,
                               options={"mapping": mapping or {}, "user_kind": user_kind})


def ingest_tau_bench(store: Store, path, *, user_kind=None, domain=None, system=None, replace=False):
    """Load a tau-bench / tau2-bench results file: transcripts and rewards become conversations tied to tasks."""
    df, sha = read_tau_bench(path, user_kind=user_kind, domain=domain, system=system)
    return write_conversations(store, df, source=str(path), kind="tau-bench", replace=replace, sha256=sha,
                               options={"user_kind": user_kind, "domain": domain, "system": system})
