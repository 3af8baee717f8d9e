"""Good inputs load: every format, idempotently, long and wide, not-answered codes, --replace, option probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.cli import app

COLUMNS = ["conversation_id", "dimension", "rater_id", "rater_kind", "label", "confidence", "sample", "task_id"]
ROWS = [
    ["c1", "Q0", "h1", "human", "3", "0.9", "0", "t1"],
    ["c1", "Q1", "h1", "human", "0", "", "0", "t1"],          # 0 = not answered in llm_rubric
    ["c2", "Q0", "h1", "Human", "4", "", "0", ""],            # kinds are case-insensitive; empty task: none
    ["c2", "Q0", "j1", "judge", "2", "0.5", "0", ""],
    ["c2", "Q0", "j1", "judge", "1", "0.25", "1", ""],       # a second draw of the same judge
    ['c,3 "quoted"\nline', "Q2", "h2", "human", "1", "", "0", ""],   # commas, quotes and a newline in a field
]
EXPECTED = [  # (conversation_id, dimension, rater_id, sample, status, label, value, confidence)
    ("c1", "Q0", "h1", 0, "ok", "3", 3.0, 0.9),
    ("c1", "Q1", "h1", 0, "not_answered", None, None, None),
    ("c2", "Q0", "h1", 0, "ok", "4", 4.0, None),
    ("c2", "Q0", "j1", 0, "ok", "2", 2.0, 0.5),
    ("c2", "Q0", "j1", 1, "ok", "1", 1.0, 0.25),
    ('c,3 "quoted"\nline', "Q2", "h2", 0, "ok", "1", 1.0, None),
]
runner = CliRunner()


def frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


def write(fmt: str, folder: Path) -> Path:
    df = frame()
    path = folder / f"ratings.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "tsv":
        path.write_text("\t".join(COLUMNS) + "\n" + "".join(
            "\t".join(v.replace("\n", "\\n") if "\n" in v else v for v in r) + "\n" for r in ROWS), encoding="utf-8")
    elif fmt == "jsonl":
        recs = df.to_dict("records")
        for r in recs:      # JSON: numbers as numbers, missing as null
            r["label"], r["sample"] = int(r["label"]), int(r["sample"])
            r["confidence"] = float(r["confidence"]) if r["confidence"] else None
        path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    elif fmt == "parquet":
        df = df.assign(label=df["label"].astype(int), sample=df["sample"].astype(int),
                       confidence=pd.to_numeric(df["confidence"].replace("", np.nan)))
        df.to_parquet(path)
    return path


def signals(store: Store) -> list[tuple]:
    df = store.sql("SELECT conversation_id, dimension, rater_id, sample, status, label, value, confidence "
                   "FROM signals ORDER BY ALL")
    return [tuple(None if (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v for v in r)
            for r in df.itertuples(index=False)]


def rows(df: pd.DataFrame) -> list[list]:
    """A result's rows as lists, missing values (NaN, NA) as None."""
    return [[None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v for v in r]
            for r in df.astype(object).values.tolist()]


def count(store: Store, sql: str) -> int:
    return int(store.sql(sql).iloc[0, 0])


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_each_format_loads_the_same_signals(fmt, tmp_path):
    path = write(fmt, tmp_path)
    with Store(":memory:") as s:
        res = s.ingest_signals(path, rubric="llm_rubric")
        assert (res.n_rows, res.n_inserted, res.n_unchanged, res.n_not_answered) == (6, 6, 0, 1)
        got = signals(s)
        if fmt == "tsv":    # TSV has no quoting convention for newlines: the id keeps the escaped "\n"
            got = [(r[0].replace("\\n", "\n"),) + r[1:] for r in got]
        assert sorted(got, key=repr) == sorted(EXPECTED, key=repr)
        assert dict(s.sql("SELECT rater_id, kind FROM raters").values.tolist()) == \
            {"h1": "human", "h2": "human", "j1": "judge"}
        # an empty task_id cell is no task (not the text "nan")
        assert s.sql("SELECT task_id FROM tasks").values.ravel().tolist() == ["t1"]
        assert rows(s.sql("SELECT conversation_id, task_id FROM conversations WHERE conversation_id IN ('c1', "
                          "'c2') ORDER BY 1")) == [["c1", "t1"], ["c2", None]]
        batch = s.sql("SELECT kind, source, sha256, rubric, n_rows, n_inserted FROM ingest_batches")
        assert batch.values.tolist() == [["signals", str(path), batch["sha256"][0], "llm_rubric", 6, 6]]
        assert len(batch["sha256"][0]) == 64


def test_same_file_twice_adds_nothing_and_records_no_batch(tmp_path):
    path = write("csv", tmp_path)
    with Store(tmp_path / "s.duckdb") as s:
        first = s.ingest_signals(path, rubric="llm_rubric")
        before = s.sql("SELECT * FROM signals ORDER BY ALL")
        again = s.ingest_signals(path, rubric="llm_rubric")
        assert first.batch_id and again.batch_id is None
        assert (again.n_inserted, again.n_replaced, again.n_unchanged) == (0, 0, 6)
        assert count(s, "SELECT count(*) FROM ingest_batches") == 1
        pd.testing.assert_frame_equal(s.sql("SELECT * FROM signals ORDER BY ALL"), before)
    # and through the CLI: exit 0, "nothing new", still one batch
    res = runner.invoke(app, ["--db", str(tmp_path / "s.duckdb"), "ingest", "signals", str(path),
                              "--rubric", "llm_rubric"])
    assert res.exit_code == 0, res.stderr
    assert "nothing new" in res.stdout and "6 unchanged" in res.stdout
    with Store(tmp_path / "s.duckdb", read_only=True) as s:
        assert count(s, "SELECT count(*) FROM ingest_batches") == 1


def test_cli_loads_and_reports(tmp_path):
    path = write("jsonl", tmp_path)
    res = runner.invoke(app, ["--db", str(tmp_path / "s.duckdb"), "ingest", "signals", str(path),
                              "--rubric", "llm_rubric", "--json"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["n_inserted"], out["n_not_answered"]) == (6, 1) and out["batch_id"]


def test_wide_format(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("conversation_id,annotator,Q0,Q1,Q2,notes\n"
                    "w1,a1,3,0,,fine\n"          # Q1 not answered, Q2 empty (no rating)
                    "w2,a1,4,2,1,\n"
                    "w1,a2,1,1,1,x\n", encoding="utf-8")
    with Store(":memory:") as s:
        res = s.ingest_signals(path, rubric="llm_rubric", wide=True, rater_kind="human",
                               mapping={"annotator": "rater_id"})
        assert (res.n_rows, res.n_inserted, res.n_not_answered) == (8, 8, 1)
        assert any("1 empty cell(s) skipped" in n for n in res.notes)
        got = s.sql("SELECT conversation_id, rater_id, dimension, status, value FROM signals ORDER BY ALL")
        assert rows(got) == [
            ["w1", "a1", "Q0", "ok", 3.0], ["w1", "a1", "Q1", "not_answered", None],
            ["w1", "a2", "Q0", "ok", 1.0], ["w1", "a2", "Q1", "ok", 1.0], ["w1", "a2", "Q2", "ok", 1.0],
            ["w2", "a1", "Q0", "ok", 4.0], ["w2", "a1", "Q1", "ok", 2.0], ["w2", "a1", "Q2", "ok", 1.0],
        ]
        assert count(s, "SELECT count(*) FROM signals_long") == 7
        again = s.ingest_signals(path, rubric="llm_rubric", wide=True, rater_kind="human",
                                 mapping={"annotator": "rater_id"})
        assert again.batch_id is None and again.n_unchanged == 8


def test_not_answered_is_counted_never_a_rating(tmp_path):
    """The rubric's code (llm_rubric: 0) and a --missing-code ("NA" on likert5) are stored as not answered."""
    (tmp_path / "a.csv").write_text("conversation_id,dimension,rater_id,rater_kind,label\n"
                                    "c1,Q0,h1,human,0\nc2,Q0,h1,human,2\nc3,Q0,h1,human,0\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("conversation_id,dimension,rater_id,rater_kind,value\n"
                                    "c1,score,h1,human,NA\nc2,score,h1,human,5\n", encoding="utf-8")
    with Store(":memory:") as s:
        assert s.ingest_signals(tmp_path / "a.csv", rubric="llm_rubric").n_not_answered == 2
        assert s.ingest_signals(tmp_path / "b.csv", rubric="likert5", missing_code="NA").n_not_answered == 1
        assert s.sql("SELECT rubric, status, count(*) AS n FROM signals GROUP BY ALL ORDER BY ALL").values.tolist() \
            == [["likert5", "not_answered", 1], ["likert5", "ok", 1], ["llm_rubric", "not_answered", 2],
                ["llm_rubric", "ok", 1]]
        assert count(s, "SELECT count(*) FROM signals WHERE status = 'not_answered' AND (value IS NOT NULL "
                        "OR label IS NOT NULL)") == 0
        long = s.sql("SELECT conversation_id, rubric, value FROM signals_long ORDER BY ALL").values.tolist()
        assert long == [["c2", "likert5", 5.0], ["c2", "llm_rubric", 2.0]]
        assert count(s, "SELECT count(*) FROM paired") == 0 and count(s, "SELECT count(*) FROM matched") == 0


def test_replace_overwrites_only_what_differs(tmp_path):
    head = "conversation_id,dimension,rater_id,rater_kind,label\n"
    (tmp_path / "v1.csv").write_text(head + "c1,Q0,h1,human,3\nc2,Q0,h1,human,4\n", encoding="utf-8")
    (tmp_path / "v2.csv").write_text(head + "c1,Q0,h1,human,2\nc2,Q0,h1,human,4\nc3,Q0,h1,human,1\n",
                                     encoding="utf-8")
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        s.ingest_signals(tmp_path / "v1.csv", rubric="llm_rubric")
    args = ["--db", str(db), "ingest", "signals", str(tmp_path / "v2.csv"), "--rubric", "llm_rubric"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "--replace" in refused.stderr
    ok = runner.invoke(app, args + ["--replace"])
    assert ok.exit_code == 0, ok.stderr
    assert "1 inserted, 1 replaced, 1 unchanged" in ok.stdout
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT conversation_id, value FROM signals ORDER BY 1").values.tolist() == \
            [["c1", 2.0], ["c2", 4.0], ["c3", 1.0]]
        batches = s.sql("SELECT batch_id, n_inserted, n_replaced, n_unchanged FROM ingest_batches "
                        "ORDER BY created_at")
        assert batches[["n_inserted", "n_replaced", "n_unchanged"]].values.tolist() == [[2, 0, 0], [1, 1, 1]]
        # the replaced and the new row carry the new batch; the unchanged row keeps the first
        assert s.sql("SELECT conversation_id, batch_id FROM signals ORDER BY 1")["batch_id"].tolist() == \
            [batches["batch_id"][1], batches["batch_id"][0], batches["batch_id"][1]]


PROBS = ("conversation_id,dimension,rater_id,rater_kind,prob_1,prob_2,prob_3,prob_4\n"
         "c1,Q0,j,judge,0.1,0.2,0.3,0.4\n"
         "c2,Q0,j,judge,0.7,0.1,0.1,0.1\n"
         "c3,Q0,j,judge,0,0,0.5,0.5\n")


def test_probabilities_give_expected_value_and_argmax(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(PROBS, encoding="utf-8")
    with Store(":memory:") as s:
        s.ingest_signals(path, rubric="llm_rubric", rater_id="ev", score="expected")
        s.ingest_signals(path, rubric="llm_rubric", rater_id="am", score="argmax")
        ev = s.sql("SELECT conversation_id, label, value, value_source, probs FROM signals WHERE rater_id = 'ev' "
                   "ORDER BY 1")
        assert ev["value"].tolist() == pytest.approx([3.0, 1.6, 3.5])
        assert ev["label"].isna().all() and set(ev["value_source"]) == {"expected"}
        assert json.loads(ev["probs"][0]) == {"1": 0.1, "2": 0.2, "3": 0.3, "4": 0.4}
        am = s.sql("SELECT conversation_id, label, value, value_source FROM signals WHERE rater_id = 'am' "
                   "ORDER BY 1")
        assert am[["label", "value", "value_source"]].values.tolist()[:2] == [["4", 4.0, "argmax"],
                                                                          ["1", 1.0, "argmax"]]
        assert am["label"][2] in ("3", "4")          # a tie: one of the tied options
        assert count(s, "SELECT count(*) FROM signals_long") == 6


def test_renormalize_and_tolerance(tmp_path):
    """--renormalize divides by the sum; a sum within the tolerance is divided too, so the value stays in range."""
    path = tmp_path / "p.csv"
    path.write_text("conversation_id,dimension,rater_id,rater_kind,prob_1,prob_2,prob_3,prob_4\n"
                    "c1,Q0,j,judge,1,1,1,1\n", encoding="utf-8")
    near = tmp_path / "near.csv"
    near.write_text("conversation_id,dimension,rater_id,rater_kind,prob_3,prob_4\nc1,Q0,k,judge,0.008,1\n",
                    encoding="utf-8")     # sums to 1.008: within the tolerance, but 3*.008 + 4*1 would exceed 4
    with Store(":memory:") as s:
        res = s.ingest_signals(path, rubric="llm_rubric", renormalize=True)
        assert res.n_inserted == 1
        row = s.sql("SELECT value, probs FROM signals WHERE rater_id = 'j'")
        assert row["value"][0] == pytest.approx(2.5)
        assert json.loads(row["probs"][0]) == {"1": 0.25, "2": 0.25, "3": 0.25, "4": 0.25}
        res = s.ingest_signals(near, rubric="llm_rubric")
        assert any("no prob_ column" in n for n in res.notes)        # options 1, 2 count as probability 0
        assert s.sql("SELECT value FROM signals WHERE rater_id = 'k'")["value"][0] == pytest.approx(4.024 / 1.008)


def test_label_value_and_probabilities_together(tmp_path):
    """A label wins over probabilities for the value; the probabilities are kept beside it."""
    path = tmp_path / "p.csv"
    path.write_text("conversation_id,dimension,rater_id,rater_kind,label,value,prob_1,prob_2,prob_3,prob_4\n"
                    "c1,Q0,j,judge,2,2,0.1,0.6,0.2,0.1\n", encoding="utf-8")
    with Store(":memory:") as s:
        s.ingest_signals(path, rubric="llm_rubric")
        row = s.sql("SELECT label, value, value_source, probs FROM signals").iloc[0]
        assert (row["label"], row["value"], row["value_source"]) == ("2", 2.0, "label")
        assert json.loads(row["probs"])["2"] == pytest.approx(0.6)


def test_options_by_label_text_and_non_monotone_values(tmp_path):
    path = tmp_path / "usi.csv"
    path.write_text("conversation_id,dimension,rater_id,rater_kind,label,value\n"
                    "c1,task_success,u1,human,Yes - Task completed,\n"
                    "c1,question_amount_preference,u1,human,Too few,\n"
                    "c2,question_amount_preference,u1,human,,1\n", encoding="utf-8")
    with Store(":memory:") as s:
        s.ingest_signals(path, rubric="tau_usi")
        got = rows(s.sql("SELECT conversation_id, dimension, label, value FROM signals ORDER BY ALL"))
        assert got == [["c1", "question_amount_preference", "Too few", 1.0],
                       ["c1", "task_success", "Yes - Task completed", 4.0],
                       ["c2", "question_amount_preference", None, 1.0]]     # value 1 is two options: no label


def test_utf8_bom_crlf_and_map(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftext_id,criterion,who,kind,answer\r\nc1,Q0,h1,human,3\r\n".encode("utf-8"))
    with Store(":memory:") as s:
        res = s.ingest_signals(path, rubric="llm_rubric", mapping={"text_id": "conversation_id",
                                                                  "criterion": "dimension", "who": "rater_id",
                                                                  "kind": "rater_kind", "answer": "label"})
        assert res.n_inserted == 1
        assert s.sql("SELECT conversation_id, value FROM signals").values.tolist() == [["c1", 3.0]]


def test_dataframe_source(tmp_path):
    with Store(":memory:") as s:
        res = s.ingest_signals(frame(), rubric="llm_rubric", source_name="in-memory")
        assert res.n_inserted == 6 and res.source == "in-memory"
        assert s.ingest_signals(frame(), rubric="llm_rubric", source_name="in-memory").batch_id is None


# -- conversations and tau-bench ------------------------------------------------------------------------------
CONVS = [
    {"conversation_id": "k1", "task_id": "t1", "user_kind": "human", "reward": 1, "keep": True,
     "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"},
                  {"role": "assistant", "content": "hello!"}], "topic": "greeting"},
    {"conversation_id": "k2", "messages": [{"role": "user", "content": "caf\u00e9 \u2013 ok"}], "keep": False},
]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_conversations_load_in_every_format(fmt, tmp_path):
    path = tmp_path / f"c.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(c) + "\n" for c in CONVS), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(CONVS), encoding="utf-8")
    else:
        df = pd.DataFrame([{**c, "messages": json.dumps(c["messages"])} for c in CONVS])
        df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    with Store(":memory:") as s:
        res = s.ingest_conversations(path)
        assert res.n_inserted == 2
        got = s.sql("SELECT conversation_id, task_id, user_kind, n_turns, n_chars, reward, keep, metadata "
                    "FROM conversations ORDER BY 1")
        assert got[["conversation_id", "n_turns", "n_chars"]].values.tolist() == [["k1", 2, 8], ["k2", 1, 9]]
        assert got["reward"][0] == 1.0 and bool(got["keep"][0]) is True and bool(got["keep"][1]) is False
        assert json.loads(got["metadata"][0]) == {"topic": "greeting"}
        assert s.sql("SELECT task_id FROM tasks")["task_id"].tolist() == ["t1"]
        again = s.ingest_conversations(path)
        assert again.batch_id is None and again.n_unchanged == 2
        assert count(s, "SELECT count(*) FROM ingest_batches") == 1


TAU = [{"task_id": 3, "reward": 1.0, "info": {}, "trial": 0,
        "traj": [{"role": "system", "content": "policy"}, {"role": "user", "content": "refund please"},
                 {"role": "assistant", "content": "done"}]},
       {"task_id": 3, "reward": 0.0, "info": {}, "trial": 1, "traj": [{"role": "user", "content": "x"}]}]
TAU2 = {"info": {"user_info": {"llm": "gpt-4.1"}, "environment_info": {"domain_name": "retail"}},
        "simulations": [{"id": "s1", "task_id": "7", "trial": 0, "termination_reason": "user_stop",
                         "reward_info": {"reward": 1.0},
                         "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]}


def test_tau_bench_files_load_idempotently(tmp_path):
    (tmp_path / "tau.json").write_text(json.dumps(TAU), encoding="utf-8")
    (tmp_path / "tau2.json").write_text(json.dumps(TAU2), encoding="utf-8")
    with Store(":memory:") as s:
        assert s.ingest_tau_bench(tmp_path / "tau.json", domain="airline").n_inserted == 2
        assert s.ingest_tau_bench(tmp_path / "tau2.json").n_inserted == 1
        got = s.sql("SELECT conversation_id, task_id, user_kind, n_turns, reward FROM conversations ORDER BY 1")
        assert got.values.tolist() == [["tau2:s1", "retail_7", "gpt-4.1", 2, 1.0],
                                       ["tau:airline_3:0", "airline_3", "tau", 2, 1.0],
                                       ["tau:airline_3:1", "airline_3", "tau", 1, 0.0]]
        assert sorted(s.sql("SELECT task_id, domain FROM tasks").values.tolist()) == \
            [["airline_3", "airline"], ["retail_7", "retail"]]
        assert s.ingest_tau_bench(tmp_path / "tau.json", domain="airline").batch_id is None
        assert count(s, "SELECT count(*) FROM ingest_batches") == 2


def test_conversation_replace(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"conversation_id": "k1", "task_id": "t1", "reward": 1}) + "\n", encoding="utf-8")
    new = tmp_path / "c2.jsonl"
    new.write_text(json.dumps({"conversation_id": "k1", "task_id": "t1", "reward": 0}) + "\n", encoding="utf-8")
    with Store(":memory:") as s:
        s.ingest_conversations(path)
        with pytest.raises(Exception, match="different reward"):
            s.ingest_conversations(new)
        res = s.ingest_conversations(new, replace=True)
        assert res.n_replaced == 1
        assert s.sql("SELECT reward FROM conversations")["reward"].tolist() == [0.0]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_composed_and_decomposed_spellings_of_an_id_are_one_conversation(tmp_path, fmt):
    import unicodedata

    nfc, nfd = unicodedata.normalize("NFC", "café-1"), unicodedata.normalize("NFD", "café-1")
    assert nfc != nfd
    sig = pd.DataFrame({"conversation_id": [nfc, nfd], "dimension": ["Q0", "Q1"],
                        "rater_id": [unicodedata.normalize("NFD", "anaïs")] * 2, "rater_kind": ["human"] * 2,
                        "label": ["3", "2"], "task_id": [nfd, nfc]})
    path = tmp_path / f"s.{fmt}"
    sig.to_csv(path, index=False) if fmt == "csv" else sig.to_parquet(path)
    conv = tmp_path / "c.jsonl"
    conv.write_text(json.dumps({"conversation_id": nfd, "messages": [{"role": "user", "content": "hi"}]}) + "\n",
                    encoding="utf-8")
    with Store(tmp_path / "s.duckdb") as s:
        res = s.ingest_signals(path, rubric="llm_rubric")
        assert res.n_inserted == 2 and any("NFC" in n for n in res.notes), res.notes
        s.ingest_conversations(conv)
        assert s.sql("SELECT conversation_id, task_id, messages IS NOT NULL AS m FROM conversations"
                     ).values.tolist() == [[nfc, nfc, True]]
        assert s.sql("SELECT DISTINCT rater_id FROM signals").values.tolist() == [[unicodedata.normalize(
            "NFC", "anaïs")]]
        again = s.ingest_signals(path, rubric="llm_rubric")          # idempotent in either spelling
        assert again.n_inserted == 0


def test_conversation_keys_stay_unique_across_bulk_loads_and_other_writers(tmp_path):
    """A bulk load takes one block of conv_key values; loads after it, and writers that use the sequence one row at
    a time (conversations files), never reuse a key."""
    head = "conversation_id,dimension,rater_id,rater_kind,label\n"
    (tmp_path / "a.csv").write_text(head + "".join(f"c{i},Q0,h1,human,2\n" for i in range(50)), encoding="utf-8")
    (tmp_path / "b.csv").write_text(head + "".join(f"c{i},Q0,h2,human,2\n" for i in range(40, 90)),
                                    encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"conversation_id": f"x{i}", "messages": [
        {"role": "user", "content": "hi"}]}) + "\n" for i in range(5)), encoding="utf-8")
    with Store(tmp_path / "s.duckdb") as s:
        s.ingest_signals(tmp_path / "a.csv", rubric="llm_rubric")
        s.ingest_conversations(tmp_path / "c.jsonl")
        s.ingest_signals(tmp_path / "b.csv", rubric="llm_rubric")
        n, keys = s.con.execute("SELECT count(*), count(DISTINCT conv_key) FROM conversations").fetchall()[0]
        assert n == keys == 95
        top = s.con.execute("SELECT max(conv_key) FROM conversations").fetchall()[0][0]
        assert s.con.execute("SELECT nextval('conversation_key_seq')").fetchall()[0][0] > top


def test_csv_cells_with_edge_whitespace_are_trimmed_in_a_column_that_has_few(tmp_path):
    """Columns without an edge-whitespace cell skip the trim; one such cell anywhere (here the last row, a tab, a
    trailing space) makes its column trimmed again, and every other column stays exact."""
    rows = [f"c{i},Q0,h1,human,2" for i in range(2000)] + ["\tc2000 ,Q0, h1,human,3 "]
    (tmp_path / "a.csv").write_text("conversation_id,dimension,rater_id,rater_kind,label\n" + "\n".join(rows) + "\n",
                                    encoding="utf-8")
    with Store(":memory:") as s:
        assert s.ingest_signals(tmp_path / "a.csv", rubric="llm_rubric").n_inserted == 2001
        got = s.sql("SELECT conversation_id, rater_id, label FROM signals WHERE conversation_id IN ('c0', 'c2000') "
                    "ORDER BY 1").values.tolist()
        assert got == [["c0", "h1", "2"], ["c2000", "h1", "3"]]
        assert s.sql("SELECT count(DISTINCT rater_id) AS n FROM signals")["n"][0] == 1


def test_plain_ratings_go_to_the_lean_table_and_every_reader_sees_both_tables(tmp_path):
    """A file of plain ratings is stored in signal_rows_lean, one with confidences in signal_rows (migration 009);
    the view ``signals`` and ``signals_long`` show both, a repeated load changes nothing, and --replace of a lean
    row by a file with confidences moves it (the old row deleted from the lean table, not kept beside the new)."""
    head = "conversation_id,dimension,rater_id,rater_kind,label"
    (tmp_path / "h.csv").write_text(head + "\n" + "".join(f"c{i},Q0,h1,human,2\n" for i in range(30)),
                                    encoding="utf-8")
    (tmp_path / "j.csv").write_text(head + ",confidence\n" + "".join(f"c{i},Q0,j1,judge,3,0.75\n" for i in range(30)),
                                    encoding="utf-8")
    (tmp_path / "h2.csv").write_text(head + ",confidence\nc0,Q0,h1,human,4,0.5\nc1,Q0,h1,human,2,\n",
                                     encoding="utf-8")

    def where(s):
        return dict(s.con.execute("SELECT 'lean', count(*) FROM signal_rows_lean UNION ALL SELECT 'full', count(*) "
                                  "FROM signal_rows").fetchall())

    with Store(tmp_path / "s.duckdb") as s:
        s.ingest_signals(tmp_path / "h.csv", rubric="llm_rubric")
        assert where(s) == {"lean": 30, "full": 0}
        s.ingest_signals(tmp_path / "j.csv", rubric="llm_rubric")
        assert where(s) == {"lean": 30, "full": 30}
        assert s.ingest_signals(tmp_path / "h.csv", rubric="llm_rubric").n_unchanged == 30
        assert where(s) == {"lean": 30, "full": 30}
        got = s.con.execute("SELECT rater_kind, count(*) AS n, avg(value) AS v, avg(confidence) AS conf FROM "
                            "signals_long GROUP BY 1 ORDER BY 1").fetchall()
        assert got == [("human", 30, 2.0, None), ("judge", 30, 3.0, 0.75)]
        r = s.ingest_signals(tmp_path / "h2.csv", rubric="llm_rubric", replace=True)
        assert (r.n_replaced, r.n_unchanged) == (1, 1)
        assert where(s) == {"lean": 29, "full": 31}
        assert s.sql("SELECT label, confidence FROM signals WHERE rater_id = 'h1' AND conversation_id = 'c0'"
                     ).values.tolist() == [["4", 0.5]]
        assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] == 60
