"""Ingest in DuckDB stores exactly what the pandas implementation stored, file by file and row by row.

The reference is the previous implementation, kept in ``tests/_pandas_signals.py``. Each file is loaded into two
fresh stores, one per implementation; every table the load writes must hold identical rows (floats compared
exactly, the probabilities' JSON compared as text), and loading the file with the other implementation into an
already loaded store must change nothing (so stores built before this change stay idempotent).

Intended differences, not exercised here (tests/test_ingest_faults.py covers them): a whole float id (Parquet
``901.0``, or a JSON integer pandas turned into a float because other rows lack the field) is now stored as
``"901"``, as its CSV would be, where the pandas reader stored ``"901.0"``; a boolean label is refused instead of
becoming option ``1``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _pandas_signals import load_with_reference
from auditor import Store
from auditor.demo import DEMO_JUDGES, DEMO_MODEL, demo_data_dir

SIGNALS = ("conversation_id, rubric, dimension, rater_id, sample, status, label, value, value_source, confidence, "
           "probs::VARCHAR, raw, rationale, error, run_id")


def contents(store: Store) -> dict:
    q = {"signals": f"SELECT {SIGNALS} FROM signals ORDER BY ALL",
         "raters": "SELECT rater_id, kind, model, config_hash FROM raters ORDER BY ALL",
         "conversations": "SELECT conversation_id, task_id FROM conversations ORDER BY ALL",
         "tasks": "SELECT task_id FROM tasks ORDER BY ALL",
         "batches": "SELECT kind, source, sha256, rubric, options, n_rows, n_inserted, n_replaced, n_unchanged "
                    "FROM ingest_batches ORDER BY ALL"}
    return {k: store.con.execute(v).fetchall() for k, v in q.items()}


def same_rows(a: list, b: list) -> bool:
    """Equal row by row; an expected value (column 8 'expected') may differ by 1e-12 relative: numpy's BLAS sums
    value x probability in another order than DuckDB (its order depends on the CPU's kernel)."""
    if len(a) != len(b):
        return False
    for r, s in zip(a, b):
        if r != s:
            if not (len(r) > 8 and r[8] == s[8] == "expected" and r[:7] + r[8:] == s[:7] + s[8:]
                    and abs(r[7] - s[7]) <= 1e-12 * max(1.0, abs(s[7]))):
                return False
    return True


def both(tmp_path, loads) -> tuple[dict, dict]:
    """``loads``: [(source, kwargs)]. Returns the contents of the new and the reference store."""
    out = []
    for name, load in (("new", None), ("ref", load_with_reference)):
        with Store(tmp_path / f"{name}.duckdb") as s:
            for src, kw in loads:
                (s.ingest_signals(src, **kw) if load is None else load(s, src, **kw))
            out.append(contents(s))
    new, ref = out
    return new, ref


def check_same(tmp_path, loads, n_min=1):
    new, ref = both(tmp_path, loads)
    assert len(new["signals"]) >= n_min
    for table in new:
        assert same_rows(new[table], ref[table]), table
    # the other implementation finds every row unchanged
    with Store(tmp_path / "new.duckdb") as s:
        for src, kw in loads:
            r = load_with_reference(s, src, **kw)
            assert (r.n_inserted, r.n_replaced, r.batch_id) == (0, 0, None), r
    with Store(tmp_path / "ref.duckdb") as s:
        for src, kw in loads:
            r = s.ingest_signals(src, **kw)
            assert (r.n_inserted, r.n_replaced, r.batch_id) == (0, 0, None), r
    return new


def test_demo_files(tmp_path):
    d = demo_data_dir()
    humans = pd.read_csv(str(d / "human_judges_real_convs_FIXED_ANON.tsv"), sep="\t", dtype=str)
    loads = [(humans, dict(rubric="llm_rubric", wide=True, rater_kind="human", source_name="humans.tsv",
                           mapping={"text_id": "conversation_id", "annotator_id": "rater_id"}))]
    probs = {f"answer{k}_prob": f"prob_{k}" for k in range(1, 5)}
    for rater, score in DEMO_JUDGES.items():
        loads.append((str(d / "gpt-3.5-turbo-16k_real_evaluations_FIXED.tsv"), dict(
            rubric="llm_rubric", rater_kind="judge", rater_id=rater, model=DEMO_MODEL, score=score, renormalize=True,
            mapping={"text_id": "conversation_id", "criterion": "dimension", "sample_llm": "llm_sample", **probs})))
    new = check_same(tmp_path, loads, n_min=3000)
    assert any(r[10] for r in new["signals"])            # probabilities stored, as text identical to json.dumps


MIXED_CSV = """conversation_id,dimension,rater_id,rater_kind,label,value,confidence,sample,task_id
c1,Q0,h1, Human ,3,,0.5,,t1
c1,Q1,h1,human, 4 ,4,,,t1
c2,Q0,h1,HUMAN,0,,,,
c2,Q1,h1,human,,2,1,0,t2
c3,Q2,h2,human,2.0,,,1,
c3,Q2,h2,human,,3.0000000000001,0.25,2,t3
 c4 ,Q3,h2,human,1,1.0,,,t4
c5,Q4,j1,judge,,0,,,
"""


def test_mixed_cells_csv_tsv_jsonl_parquet(tmp_path):
    df = pd.read_csv(__import__("io").StringIO(MIXED_CSV), dtype=str, keep_default_na=False)
    (tmp_path / "m.csv").write_text(MIXED_CSV)
    (tmp_path / "m.tsv").write_text(MIXED_CSV.replace(",", "\t"))
    df.to_parquet(tmp_path / "m.parquet")
    typed = pd.DataFrame({"conversation_id": ["c1", "c2", "c3", "c4"], "dimension": ["Q0", "Q1", "Q2", "Q3"],
                          "rater_id": ["j1"] * 4, "rater_kind": ["judge"] * 4, "label": [3, 0, None, 2],
                          "value": [3.0, np.nan, 4.0, 2.0], "confidence": [0.9, np.nan, 0.1, 1.0],
                          "sample": [0, 1, 2, 3]})
    typed.to_parquet(tmp_path / "typed.parquet")
    with open(tmp_path / "m.jsonl", "w") as f:
        for r in ({"conversation_id": "c1", "dimension": "Q0", "rater_id": "h1", "rater_kind": "human", "label": 3},
                  {"conversation_id": "c1", "dimension": "Q1", "rater_id": "h1", "rater_kind": "human", "label": 2.0},
                  {"conversation_id": 7, "dimension": "Q2", "rater_id": "h1", "rater_kind": "human", "value": 4,
                   "confidence": None, "task_id": "12"},
                  {"conversation_id": "c3", "dimension": "Q3", "rater_id": "h1", "rater_kind": "human", "label": "0"}):
            f.write(json.dumps(r) + "\n")
    for i, name in enumerate(["m.csv", "m.tsv", "m.parquet", "typed.parquet", "m.jsonl"]):
        sub = tmp_path / str(i)
        sub.mkdir()
        check_same(sub, [(str(tmp_path / name), dict(rubric="llm_rubric"))], n_min=4)


def test_wide_and_probabilities(tmp_path):
    (tmp_path / "w.csv").write_text("conversation_id,rater_id,Q0,Q1,Q2,note\nc1,h1,3,,0,x\nc2,h1,,4,1,\n"
                                    "c3,h2,2,2,,y\n")
    (tmp_path / "p.csv").write_text("conversation_id,dimension,rater_id,prob_1,prob_2,prob_3.0,prob_4\n"
                                    "c1,Q0,j1,0.1,0.2,0.3,0.4\nc1,Q1,j1,0.5,0.5,0,0\nc2,Q0,j1,0.7,0.1,0.1,0.1\n"
                                    "c2,Q1,j1,0.255,0.255,0.25,0.25\n")
    (tmp_path / "p3.csv").write_text("conversation_id,dimension,rater_id,label,prob_1,prob_2\n"
                                     "c1,Q0,j2,1,0.6,0.4\nc2,Q0,j2,,0.3,0.7\nc3,Q0,j2,0,,\n")
    for i, (name, kw) in enumerate([
            ("w.csv", dict(rubric="llm_rubric", wide=True, rater_kind="human")),
            ("p.csv", dict(rubric="llm_rubric", rater_kind="judge", renormalize=True)),
            ("p.csv", dict(rubric="llm_rubric", rater_kind="judge", renormalize=True, score="argmax")),
            ("p3.csv", dict(rubric="llm_rubric", rater_kind="judge", model="m"))]):
        sub = tmp_path / str(i)
        sub.mkdir()
        check_same(sub, [(str(tmp_path / name), kw)], n_min=3)


@pytest.mark.slow
def test_one_million_rows(tmp_path):
    """A 1M-row long file with labels, values, not-answered codes, confidences and tasks."""
    n = 1_000_000
    rng = np.random.default_rng(3)
    i = np.arange(n)
    lab = rng.integers(0, 5, n).astype(str)              # "0" is LLM-Rubric's not-answered code
    use_value = rng.random(n) < 0.3
    df = pd.DataFrame({
        "conversation_id": np.char.add("c", (i // 36).astype(str)),
        "dimension": np.char.add("Q", (i % 9).astype(str)),
        "rater_id": np.char.add("r", ((i // 9) % 4).astype(str)),
        "rater_kind": np.where((i // 9) % 4 == 0, "judge", "human"),
        "label": np.where(use_value, None, lab),
        "value": np.where(use_value, rng.integers(1, 5, n).astype(float), np.nan),
        "confidence": np.where(rng.random(n) < 0.5, rng.random(n).round(3), np.nan),
        "task_id": np.char.add("t", (i // 360).astype(str)),
    })
    df.to_parquet(tmp_path / "big.parquet")
    new, ref = both(tmp_path, [(str(tmp_path / "big.parquet"), dict(rubric="llm_rubric"))])
    assert len(new["signals"]) == n
    for table in new:
        assert same_rows(new[table], ref[table]), table
