"""A synthetic store for benchmarks: N conversations x the 8 tau_usi dimensions x (1 LLM judge + 3 humans).

Generated inside DuckDB (bench-only shortcut around the ingest path, which validates row by row): each
conversation has a latent quality; humans answer quality + noise, the judge quality + 0.3 + noise (a planted
leniency), rounded and clipped to each dimension's option values.
"""

from __future__ import annotations

import time

from auditor import Store, load_rubric
from auditor.store import register_rubric


def build(path: str, n_conversations: int, *, seed: float = 0.42) -> float:
    t0 = time.perf_counter()
    rubric = load_rubric("tau_usi")
    with Store(path) as store:
        register_rubric(store, rubric)
        con = store.con
        con.execute("SELECT setseed(?)", [seed])
        con.execute("INSERT INTO raters VALUES ('judge-1', 'judge', 'synthetic', NULL, NULL), "
                    "('h1', 'human', NULL, NULL, NULL), ('h2', 'human', NULL, NULL, NULL), "
                    "('h3', 'human', NULL, NULL, NULL)")
        con.execute("INSERT INTO conversations (conversation_id, conv_key, n_turns, n_chars) "
                    "SELECT 'c' || i, i, 4 + (i % 9), 400 + (i % 997) FROM range(?) t(i)", [n_conversations])
        con.execute("CREATE TEMP TABLE q AS SELECT i, random() AS quality FROM range(?) t(i)", [n_conversations])
        dims = [(d.name, int(min(d.values)), int(max(d.values))) for d in rubric.dimensions]
        con.execute("CREATE TEMP TABLE dims (dimension VARCHAR, lo INTEGER, hi INTEGER)")
        con.executemany("INSERT INTO dims VALUES (?, ?, ?)", dims)
        con.execute("CREATE TEMP TABLE rt (rater_id VARCHAR, shift DOUBLE)")
        con.execute("INSERT INTO rt VALUES ('judge-1', 0.3), ('h1', 0), ('h2', 0), ('h3', 0)")
        con.execute("INSERT INTO signal_loads VALUES (1, 'tau_usi', NULL)")
        con.execute("""
            INSERT INTO signal_rows_lean (conversation_id, load_key, dimension, rater_id, sample, status, value,
                                          value_source)
            SELECT 'c' || q.i, 1, d.dimension, rt.rater_id, 0, 'ok',
                   least(d.hi, greatest(d.lo, round(d.lo + q.quality * (d.hi - d.lo) + rt.shift
                                                     + (random() + random() + random() - 1.5) * 1.2))),
                   'value'
            FROM q CROSS JOIN dims d CROSS JOIN rt
        """)
        con.execute("CHECKPOINT")
    return time.perf_counter() - t0
