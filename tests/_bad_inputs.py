"""The bad-input corpus for ``auditor ingest``: files generated on the fly (no binary fixtures in the repository).

Every :class:`Bad` case is one rejected input: how to write it, which loader and options to call, and what its
one-line error must name (the row or line, the field, words of the problem and of the fix). ``build_base_store``
writes the store every case runs against, so that conflicts with stored data can be tested too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from auditor import Store

__all__ = ["Bad", "CASES", "build_base_store", "snapshot", "make_input", "cli_args", "call_api", "check_message",
           "text", "BASE_SIGNALS", "H", "MB"]

MB = 1_000_000
H = "conversation_id,dimension,rater_id,rater_kind,label\n"
PROBS_H = "conversation_id,dimension,rater_id,rater_kind,prob_1,prob_2,prob_3,prob_4\n"
LLM = {"rubric": "llm_rubric"}

# -- the store every bad input is loaded into -------------------------------------------------------------
BASE_SIGNALS = (
    "conversation_id,dimension,rater_id,rater_kind,label,task_id\n"
    "c1,Q0,h1,human,3,t1\n"
    "c1,Q1,h1,human,0,t1\n"        # not answered
    "c2,Q0,h1,human,4,\n"
    "c2,Q0,h2,human,2,\n"
)
BASE_PROBS = PROBS_H + "c1,Q0,j1,judge,0.1,0.2,0.3,0.4\nc2,Q0,j1,judge,0.25,0.25,0.25,0.25\n"
BASE_CONVERSATIONS = [
    {"conversation_id": "c1", "task_id": "t1", "messages": [{"role": "user", "content": "hi"},
                                                            {"role": "assistant", "content": "hello"}]},
    {"conversation_id": "c3", "messages": [{"role": "user", "content": "book a flight"}], "reward": 1},
]
TAU_RUNS = [{"task_id": 1, "reward": 1.0, "info": {}, "traj": [{"role": "system", "content": "policy"},
                                                              {"role": "user", "content": "refund"}], "trial": 0},
            {"task_id": 2, "reward": 0.0, "info": {}, "traj": [{"role": "user", "content": "cancel"}], "trial": 0}]


def build_base_store(folder: Path) -> Path:
    """A store file holding signals (human and judge), conversations and a tau-bench run."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base_signals.csv").write_text(BASE_SIGNALS, encoding="utf-8")
    (folder / "base_probs.csv").write_text(BASE_PROBS, encoding="utf-8")
    (folder / "base_conversations.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in BASE_CONVERSATIONS), encoding="utf-8")
    (folder / "base_tau.json").write_text(json.dumps(TAU_RUNS), encoding="utf-8")
    db = folder / "base.duckdb"
    with Store(db) as s:
        s.ingest_conversations(folder / "base_conversations.jsonl")
        s.ingest_signals(folder / "base_signals.csv", rubric="llm_rubric")
        s.ingest_signals(folder / "base_probs.csv", rubric="llm_rubric")
        s.ingest_tau_bench(folder / "base_tau.json", domain="airline")
    return db


def snapshot(con) -> dict[str, tuple[int, str]]:
    """Every table of the store, and the view ``signals`` of its two signal tables -> (row count, sha256 of all its
    rows in a fixed order). Nothing is ignored."""
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name").fetchall()] + ["signals"]
    out = {}
    for t in tables:
        rows = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
        out[t] = (len(rows), hashlib.sha256(repr(rows).encode("utf-8", "surrogatepass")).hexdigest())
    return out


# -- the corpus ---------------------------------------------------------------------------------------------
Maker = Callable[[Path], None]


@dataclass(frozen=True)
class Bad:
    """One rejected input. ``where`` is "row N" / "line N" (None: the error concerns the whole file)."""

    id: str
    name: str                                 # file name inside the test's folder
    make: Maker | None                        # writes the file (None: nothing is created)
    where: str | None
    field: str | None
    needles: tuple[str, ...]                  # words the message must contain (problem and fix)
    command: str = "signals"                  # signals | conversations | tau-bench
    opts: dict = field(default_factory=lambda: dict(LLM))


def text(s: str) -> Maker:
    return lambda p: p.write_text(s, encoding="utf-8")


def raw(b: bytes) -> Maker:
    return lambda p: p.write_bytes(b)


def jsonl(*objs) -> Maker:
    return text("".join(json.dumps(o) + "\n" for o in objs))


def parquet(df: pd.DataFrame, cut: float | None = None) -> Maker:
    def make(p: Path) -> None:
        df.to_parquet(p)
        if cut is not None:
            data = p.read_bytes()
            p.write_bytes(data[: int(len(data) * cut)])
    return make


def mkdir(p: Path) -> None:
    p.mkdir()


def row(cid="c9", dim="Q0", rater="h9", kind="human", **extra) -> dict:
    return {"conversation_id": cid, "dimension": dim, "rater_id": rater, "rater_kind": kind, **extra}


def thousand_rows(last: str, rater: str = "h7") -> Maker:
    """999 fine new ratings, then ``last`` as row 1000."""
    good = "".join(f"n{i},Q0,{rater},human,{1 + i % 4}\n" for i in range(1, 1000))
    return text(H + good + last)


def conversations_thousand(last: dict) -> Maker:
    good = [{"conversation_id": f"k{i}", "messages": [{"role": "user", "content": f"m{i}"}]} for i in range(1, 1000)]
    return jsonl(*good, last)


GOOD_PROBS = {"prob_1": 0.1, "prob_2": 0.2, "prob_3": 0.3, "prob_4": 0.4}
OPTIONS_Q0 = "'1'=1, '2'=2, '3'=3, '4'=4"
DIMS = "Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7, Q8"
CONV = {}      # opts of `ingest conversations`
TAU = {"domain": "airline"}

CASES: list[Bad] = [
    # --- truncated files ---
    Bad("truncated_csv_in_quoted_field", "t.csv", text(H + "c9,Q0,h9,human,3\n" + 'c8,Q0,h9,human,"3'),
        "row 2", "label", ("ends inside a quoted field", "truncated")),
    Bad("truncated_tsv_in_quoted_field", "t.tsv", text(H.replace(",", "\t") + 'c9\tQ0\th9\thuman\t"3'),
        "row 1", "label", ("ends inside a quoted field", "TSV")),
    Bad("truncated_jsonl_last_line", "t.jsonl",
        text(json.dumps(row(label="3")) + "\n" + json.dumps(row(cid="c8", label="3"))[:40]),
        "line 2", None, ("not valid JSON", "truncated last line")),
    Bad("truncated_parquet", "t.parquet",
        parquet(pd.DataFrame([row(cid=f"p{i}", label="3") for i in range(50)]), cut=0.6),
        None, None, ("not a readable Parquet file", "to_parquet")),
    Bad("parquet_not_parquet", "t.parquet", raw(b"PAR1 this is not parquet"), None, None,
        ("not a readable Parquet file",)),
    Bad("truncated_row_leaves_rater_kind_empty", "t.csv", text(H + "c9,Q0,h9,human,3\nc8,Q0,h9"),
        "row 2", "rater_kind", ("'rater_kind' is empty", "--rater-kind")),
    Bad("row_with_extra_field", "t.csv", text(H + "c9,Q0,h9,human,3,oops\n"),
        "row 1", None, ("6 fields but the header names 5", "quote values")),
    # --- encodings ---
    Bad("latin1_bytes", "t.csv", raw((H + "caf\xe9,Q0,h9,human,3\n").encode("latin-1")),
        "line 2", None, ("not valid UTF-8", "byte 0xe9", "iconv")),
    Bad("utf16_with_bom", "t.csv", raw((H + "c9,Q0,h9,human,3\n").encode("utf-16")),
        "line 1", None, ("UTF-16", "UTF-8")),
    Bad("utf16_without_bom", "t.csv", raw((H + "c9,Q0,h9,human,3\n").encode("utf-16-le")),
        "line 1", None, ("NUL bytes", "UTF-8")),
    Bad("jsonl_unpaired_surrogate", "t.jsonl", text('{"conversation_id": "\\ud800", "dimension": "Q0", '
                                                    '"rater_id": "h9", "rater_kind": "human", "label": "3"}\n'),
        "line 1", None, ("unpaired UTF-16 surrogate",)),
    # --- duplicate keys within one file ---
    Bad("duplicate_key_long", "t.csv", text(H + "c9,Q0,h9,human,3\nc8,Q0,h9,human,3\nc9,Q0,h9,human,2\n"),
        "row 3", "conversation_id", ("duplicate rating", "'c9'", "also appears at row 1", "'sample' column")),
    Bad("duplicate_key_wide", "t.csv", text("conversation_id,rater_id,rater_kind,Q0,Q1\nw1,h9,human,3,2\n"
                                            "w2,h9,human,1,1\nw1,h9,human,4,2\n"),
        "row 3", "conversation_id", ("duplicate rating", "'w1'", "also appears at row 1"),
        opts={**LLM, "wide": True}),
    Bad("duplicate_key_jsonl", "t.jsonl", jsonl(row(label="3"), row(cid="c8", label="1"), row(label="3")),
        "line 3", "conversation_id", ("duplicate rating", "also appears at line 1")),
    Bad("duplicate_key_same_sample", "t.csv", text(H.strip() + ",sample\nc9,Q0,h9,human,3,1\nc9,Q0,h9,human,3,1\n"),
        "row 2", "conversation_id", ("duplicate rating", "sample 1")),
    Bad("jsonl_object_repeats_a_key", "t.jsonl",
        text('{"conversation_id": "c9", "dimension": "Q0", "rater_id": "h9", "rater_kind": "human", '
             '"label": "3", "label": "2"}\n'),
        "line 1", "label", ("repeats the key 'label'",)),
    Bad("duplicate_header_names", "t.csv", text(H.strip() + ",label\nc9,Q0,h9,human,3,3\n"),
        "line 1", "label", ("header repeats column", "unique name")),
    # --- NaN / inf ---
    Bad("value_nan", "t.csv", text(H.replace("label", "value") + "c9,Q0,h9,human,nan\n"),
        "row 1", "value", ("'nan' is not a finite number", OPTIONS_Q0)),
    Bad("value_inf", "t.csv", text(H.replace("label", "value") + "c9,Q0,h9,human,inf\n"),
        "row 1", "value", ("'inf' is not a finite number",)),
    Bad("value_minus_inf", "t.csv", text(H.replace("label", "value") + "c9,Q0,h9,human,-inf\n"),
        "row 1", "value", ("'-inf' is not a finite number",)),
    Bad("label_nan", "t.csv", text(H + "c9,Q0,h9,human,NaN\n"),
        "row 1", "label", ("'NaN' is not an option", OPTIONS_Q0)),
    Bad("jsonl_nan_literal", "t.jsonl", text(json.dumps(row(value=float("nan"))) + "\n"),
        "line 1", "value", ("NaN is not valid JSON", "write null")),
    Bad("jsonl_infinity_literal", "t.jsonl", text(json.dumps(row(value=float("-inf"))) + "\n"),
        "line 1", "value", ("-Infinity is not valid JSON",)),
    Bad("parquet_inf_value", "t.parquet", parquet(pd.DataFrame([row(value=np.inf)])),
        "row 1", "value", ("'inf' is not a finite number",)),
    Bad("confidence_nan", "t.csv", text(H.strip() + ",confidence\nc9,Q0,h9,human,3,nan\n"),
        "row 1", "confidence", ("not a number in [0, 1]",)),
    Bad("probability_inf", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,inf,0,0,0\n"),
        "row 1", "prob_1", ("not a number in [0, 1]",)),
    # --- empty files ---
    Bad("empty_0_bytes", "t.csv", raw(b""), None, None, ("the file is empty",)),
    Bad("empty_0_bytes_parquet", "t.parquet", raw(b""), None, None, ("the file is empty",)),
    Bad("header_only", "t.csv", text(H), None, None, ("header but no data rows",)),
    Bad("header_only_parquet", "t.parquet", parquet(pd.DataFrame(columns=list(row(label="3")))), None, None,
        ("no data rows",)),
    Bad("whitespace_only", "t.csv", text("  \n\t\n \n"), None, None, ("the file is empty",)),
    Bad("whitespace_only_jsonl", "t.jsonl", text("\n   \n"), None, None, ("the file is empty",)),
    # --- missing required columns ---
    *[Bad(f"missing_column_{col}", "t.csv",
          text(",".join(c for c in H.strip().split(",") if c != col) + "\n"
               + ",".join(v for c, v in zip(H.strip().split(","), ["c9", "Q0", "h9", "human", "3"]) if c != col)
               + "\n"),
          None, col, (f"missing required column '{col}'", "columns are:", fix))
      for col, fix in [("conversation_id", "--map SOURCE=conversation_id"), ("dimension", "--map SOURCE=dimension"),
                       ("rater_id", "--rater-id"), ("rater_kind", "--rater-kind")]],
    Bad("no_rating_column", "t.csv", text("conversation_id,dimension,rater_id,rater_kind,score\nc9,Q0,h9,human,3\n"),
        None, "label", ("no rating column", "--map SOURCE=label")),
    Bad("map_names_missing_column", "t.csv", text(H + "c9,Q0,h9,human,3\n"), None, "grade",
        ("--map grade=label", "no column 'grade'", "conversation_id, dimension, rater_id, rater_kind, label"),
        opts={**LLM, "mapping": {"grade": "label"}}),
    Bad("wide_without_dimension_columns", "t.csv", text("conversation_id,rater_id,rater_kind,q_zero\nw1,h9,human,3\n"),
        None, None, ("no column is named after a dimension", DIMS), opts={**LLM, "wide": True}),
    # --- values against the rubric ---
    Bad("unknown_dimension", "t.csv", text(H + "c9,Q0,h9,human,3\nc9,Q9,h9,human,3\n"),
        "row 2", "dimension", ("unknown dimension 'Q9'", DIMS)),
    Bad("out_of_scale_value", "t.csv", text(H.replace("label", "value") + "c9,Q0,h9,human,5\n"),
        "row 1", "value", ("not on the scale", OPTIONS_Q0)),
    Bad("value_between_options", "t.csv", text(H.replace("label", "value") + "c9,Q0,h9,human,2.5\n"),
        "row 1", "value", ("not on the scale", OPTIONS_Q0)),
    Bad("label_not_an_option", "t.csv",
        text(H + "c9,task_success,u9,human,Yes \u2013 Task completed\n"),     # en dash; the rubric has '-'
        "row 1", "label", ("is not an option of dimension 'task_success'", "'Yes - Task completed'=4"),
        opts={"rubric": "tau_usi"}),
    Bad("label_value_disagree", "t.csv", text(H.strip() + ",value\nc9,Q0,h9,human,3,2\n"),
        "row 1", "value", ("label '3' has value 3", "the row says 2", "make them agree")),
    Bad("no_rating_in_row", "t.csv", text(H + "c9,Q0,h9,human,\n"),
        "row 1", "label", ("no rating", "missing code")),
    Bad("bad_rater_kind", "t.csv", text(H + "c9,Q0,h9,robot,3\n"),
        "row 1", "rater_kind", ("'robot' is not one of human, judge, simulator",)),
    Bad("negative_sample", "t.csv", text(H.strip() + ",sample\nc9,Q0,h9,human,3,-1\n"),
        "row 1", "sample", ("'-1' is not a whole number >= 0",)),
    Bad("fractional_sample", "t.csv", text(H.strip() + ",sample\nc9,Q0,h9,human,3,1.5\n"),
        "row 1", "sample", ("'1.5' is not a whole number >= 0",)),
    Bad("text_sample", "t.csv", text(H.strip() + ",sample\nc9,Q0,h9,human,3,first\n"),
        "row 1", "sample", ("'first' is not a whole number",)),
    Bad("huge_sample", "t.csv", text(H.strip() + ",sample\nc9,Q0,h9,human,3,99999999999\n"),
        "row 1", "sample", ("not a whole number",)),
    Bad("confidence_above_1", "t.csv", text(H.strip() + ",confidence\nc9,Q0,h9,human,3,1.2\n"),
        "row 1", "confidence", ("'1.2' is not a number in [0, 1]", "between 0 and 1")),
    Bad("confidence_negative", "t.csv", text(H.strip() + ",confidence\nc9,Q0,h9,human,3,-0.1\n"),
        "row 1", "confidence", ("'-0.1' is not a number in [0, 1]",)),
    Bad("conversation_id_not_a_value", "t.jsonl", jsonl(row(cid={"id": 1}, label="3")),
        "line 1", "conversation_id", ("JSON dict, not a single value",)),
    Bad("jsonl_line_not_an_object", "t.jsonl", text(json.dumps(row(label="3")) + "\n[1, 2]\n"),
        "line 2", None, ("expected a JSON object, found list",)),
    # --- option probabilities ---
    Bad("probabilities_do_not_sum_to_1", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,0.5,0.5,0.5,0\n"),
        "row 1", "prob_1", ("sum to 1.5000, not 1", "--renormalize")),
    Bad("probability_above_1", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,1.5,0,0,0\n"),
        "row 1", "prob_1", ("probability is not a number in [0, 1]",)),
    Bad("probability_negative", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,0.5,0.6,-0.1,0\n"),
        "row 1", "prob_3", ("not a number in [0, 1]",)),
    Bad("partial_probabilities", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,0.5,,0.5,0\n"),
        "row 1", "prob_2", ("some option probabilities are empty", "0 if none")),
    Bad("probability_column_names_no_option", "t.csv",
        text("conversation_id,dimension,rater_id,rater_kind,prob_1,prob_2,prob_3,prob_7\nc9,Q0,j9,judge,.5,.5,0,0\n"),
        "row 1", "prob_7", ("'prob_7' names no option", OPTIONS_Q0)),
    Bad("probabilities_all_zero", "t.csv", text(PROBS_H + "c9,Q0,j9,judge,0,0,0,0\n"),
        "row 1", "prob_1", ("all option probabilities are 0",), opts={**LLM, "renormalize": True}),
    # --- very long text fields (the message must stay short) ---
    Bad("label_1mb", "t.csv", text(H + "c9,Q0,h9,human," + "x" * MB + "\n"),
        "row 1", "label", ("is not an option", "...")),
    Bad("dimension_1mb", "t.csv", text(H + "c9," + "Q" * MB + ",h9,human,3\n"),
        "row 1", "dimension", ("unknown dimension", DIMS)),
    Bad("rater_kind_1mb", "t.jsonl", jsonl(row(kind="k" * MB, label="3")),
        "line 1", "rater_kind", ("is not one of human, judge, simulator",)),
    Bad("column_name_1mb", "t.csv",
        text("conversation_id,dimension,rater_id," + "r" * MB + ",label\nc9,Q0,h9,human,3\n"),
        None, "rater_kind", ("missing required column 'rater_kind'", "rrrr...")),
    Bad("probability_column_name_1mb", "t.csv",
        text(H.strip() + ",prob_" + "9" * MB + "\nc9,Q0,h9,human,3,0.5\n"),
        "row 1", None, ("names no option",)),
    Bad("conversation_id_1mb_duplicated", "t.csv",
        text(H + ("z" * MB + ",Q0,h9,human,3\n") * 2), "row 2", "conversation_id", ("duplicate rating",)),
    Bad("values_that_look_like_rich_markup", "t.csv", text(H + "c9,[/bold][red]Q0,h9,human,3\n"),
        "row 1", "dimension", ("unknown dimension '[/bold][red]Q0'", DIMS)),
    # --- files that are not data files ---
    Bad("unknown_suffix", "t.xlsx", text("conversation_id\nc9\n"), None, None,
        ("unknown file type '.xlsx'", ".csv", ".jsonl", ".parquet", ".tsv")),
    Bad("no_suffix", "ratings", text(H + "c9,Q0,h9,human,3\n"), None, None, ("unknown file type",)),
    Bad("a_directory", "d.csv", mkdir, None, None, ("is a directory",)),
    Bad("missing_file", "nope.csv", None, None, None, ("file not found", "check the path")),
    # --- conflicts with what is stored ---
    Bad("conflicts_with_stored_signal", "t.csv", text(H + "c9,Q0,h9,human,3\nc1,Q0,h1,human,2\n"),
        "row 2", "value", ("conflicts with a stored signal", "'c1'", "base_signals.csv", "stored ok label '3'",
                           "this file ok label '2'", "--replace")),
    Bad("rater_stored_with_another_kind", "t.csv", text(H + "c9,Q0,h1,judge,3\n"),
        "row 1", "rater_kind", ("'h1' is stored as kind 'human'", "--rater-kind human")),
    Bad("rater_two_kinds_in_one_file", "t.csv", text(H + "c9,Q0,h9,human,3\nc8,Q0,h9,judge,3\n"),
        "row 2", "rater_kind", ("rater 'h9' has kind 'judge' here but 'human' at row 1",)),
    Bad("conversation_task_mismatch", "t.csv", text(H.strip() + ",task_id\nc1,Q2,h9,human,3,t9\n"),
        "row 1", "task_id", ("'c1' is stored with task 't1'", "this file says 't9'")),
    Bad("conversation_two_tasks_in_one_file", "t.csv",
        text(H.strip() + ",task_id\nc9,Q0,h9,human,3,t8\nc9,Q1,h9,human,3,t9\n"),
        "row 2", "task_id", ("conversation 'c9' has task 't9' here but 't8' at row 1",)),
    # --- the 1000th row is bad: nothing from the first 999 may land ---
    Bad("row_1000_bad_label", "t.csv", thousand_rows("n1000,Q0,h7,human,7\n"),
        "row 1000", "label", ("'7' is not an option",)),
    Bad("row_1000_conflicts_with_store", "t.csv", thousand_rows("c2,Q0,h2,human,3\n", rater="h2"),
        "row 1000", "value", ("conflicts with a stored signal", "(1 conflicting row(s) in all)")),
    Bad("row_1000_rater_stored_with_another_kind", "t.csv", thousand_rows("n1000,Q0,j1,human,3\n"),
        "row 1000", "rater_kind", ("'j1' is stored as kind 'judge'",)),
    Bad("row_1000_task_mismatch", "t.csv",
        text(H.strip() + ",task_id\n" + "".join(f"n{i},Q0,h7,human,2,t{i}\n" for i in range(1, 1000))
             + "c1,Q3,h7,human,2,t5\n"),
        "row 1000", "task_id", ("stored with task 't1'",)),
    # --- conversations ---
    Bad("messages_not_json", "c.csv", text('conversation_id,messages\nk9,"hello there"\n'),
        "row 1", "messages", ("'messages' is not valid JSON", "JSON list"), command="conversations", opts=CONV),
    Bad("messages_not_a_list", "c.jsonl", jsonl({"conversation_id": "k9", "messages": {"role": "user"}}),
        "line 1", "messages", ("expected a list of messages, found dict",), command="conversations", opts=CONV),
    Bad("messages_a_string_in_jsonl", "c.jsonl", jsonl({"conversation_id": "k9", "messages": "hi"}),
        "line 1", "messages", ("'messages' is not valid JSON",), command="conversations", opts=CONV),
    Bad("message_without_role", "c.jsonl", jsonl({"conversation_id": "k9", "messages": [{"content": "hi"}]}),
        "line 1", "messages", ("message 0 is not an object with a 'role'",), command="conversations", opts=CONV),
    Bad("messages_truncated_json_in_csv", "c.csv",
        text('conversation_id,messages\nk9,"[{""role"": ""user"", ""content"": ""hi""}"\n'),
        "row 1", "messages", ("not valid JSON",), command="conversations", opts=CONV),
    Bad("reward_not_a_number", "c.csv", text("conversation_id,messages,reward\nk9,[],high\n"),
        "row 1", "reward", ("reward 'high' is not a finite number",), command="conversations", opts=CONV),
    Bad("reward_inf", "c.csv", text("conversation_id,messages,reward\nk9,[],inf\n"),
        "row 1", "reward", ("is not a finite number",), command="conversations", opts=CONV),
    Bad("keep_not_a_boolean", "c.csv", text("conversation_id,messages,keep\nk9,[],maybe\n"),
        "row 1", "keep", ("keep 'maybe' is not true/false", "true or false"), command="conversations", opts=CONV),
    Bad("json_not_a_list", "c.json", text('"just a string"'), None, None,
        ("expected a JSON list of objects",), command="conversations", opts=CONV),
    Bad("json_list_of_numbers", "c.json", text("[1, 2, 3]"), None, None,
        ("expected a JSON list of objects",), command="conversations", opts=CONV),
    Bad("conversation_duplicated_in_file", "c.csv", text("conversation_id,messages\nk9,[]\nk8,[]\nk9,[]\n"),
        "row 3", "conversation_id", ("'k9' also appears at row 1",), command="conversations", opts=CONV),
    Bad("conversation_conflicts_with_stored", "c.jsonl", jsonl({"conversation_id": "c1", "task_id": "t2"}),
        "line 1", "task_id", ("'c1' is already stored with a different task_id", "--replace"),
        command="conversations", opts=CONV),
    Bad("conversations_missing_id_column", "c.csv", text("id,messages\nk9,[]\n"), None, "conversation_id",
        ("missing required column 'conversation_id'", "id, messages"), command="conversations", opts=CONV),
    Bad("conversations_map_missing_column", "c.csv", text("id,messages\nk9,[]\n"), None, "uid",
        ("no column 'uid'",), command="conversations", opts={"mapping": {"uid": "conversation_id"}}),
    Bad("conversations_row_1000_bad", "c.jsonl",
        conversations_thousand({"conversation_id": "k1000", "messages": [{"role": "user", "content": "x"}],
                                "reward": "lots"}),
        "line 1000", "reward", ("'lots' is not a finite number",), command="conversations", opts=CONV),
    # --- tau-bench ---
    Bad("tau_wrong_shape", "r.json", text('{"results": []}'), None, None,
        ("neither a tau-bench results list nor a tau2-bench Results object",), command="tau-bench", opts=TAU),
    Bad("tau_record_without_traj", "r.json", text('[{"task_id": 1, "reward": 1}]'), "row 1", "task_id",
        ("not a tau-bench EnvRunResult",), command="tau-bench", opts=TAU),
    Bad("tau_traj_not_a_list", "r.json", text('[{"task_id": 1, "reward": 1, "traj": "hi"}]'), "row 1", "messages",
        ("expected a list of messages",), command="tau-bench", opts=TAU),
    Bad("tau_reward_not_a_number", "r.json", text('[{"task_id": 1, "reward": "yes", "traj": []}]'), "row 1",
        "reward", ("reward 'yes' is not a finite number",), command="tau-bench", opts=TAU),
    Bad("tau_reward_nan", "r.json", text('[{"task_id": 1, "reward": NaN, "traj": []}]'), None, "0.reward",
        ("NaN is not valid JSON",), command="tau-bench", opts=TAU),
    Bad("tau_truncated", "r.json", text(json.dumps(TAU_RUNS)[:-20]), "line 1", None,
        ("not valid JSON", "truncated"), command="tau-bench", opts=TAU),
    Bad("tau_run_twice_in_file", "r.json", text(json.dumps([TAU_RUNS[0], TAU_RUNS[0]])), "row 2", "task_id",
        ("appears twice",), command="tau-bench", opts=TAU),
    Bad("tau2_simulations_not_a_list", "r.json", text('{"info": {}, "simulations": "none"}'), None, "simulations",
        ("'simulations' is a JSON str, expected a list",), command="tau-bench", opts=TAU),
    Bad("tau2_reward_info_not_an_object", "r.json",
        text('{"simulations": [{"id": "s1", "task_id": "3", "messages": [], "reward_info": 1}]}'), "row 1",
        "reward_info", ("expected an object",), command="tau-bench", opts=TAU),
    Bad("tau2_simulation_without_task_id", "r.json", text('{"simulations": [{"id": "s1", "messages": []}]}'),
        "row 1", "task_id", ("simulation without task_id",), command="tau-bench", opts=TAU),
    Bad("tau_empty_file", "r.json", raw(b""), None, None, ("the file is empty",), command="tau-bench", opts=TAU),
    Bad("tau_latin1", "r.json", raw('[{"task_id": 1, "traj": [{"role": "user", "content": "caf\xe9"}]}]'
                                    .encode("latin-1")), "line 1", None, ("not valid UTF-8",),
        command="tau-bench", opts=TAU),
    Bad("tau_a_directory", "r.json", mkdir, None, None, ("is a directory",), command="tau-bench", opts=TAU),
    Bad("tau_missing_file", "r.json", None, None, None, ("file not found",), command="tau-bench", opts=TAU),
    Bad("tau_conflicts_with_stored_reward", "base_tau.json",
        text(json.dumps([{**TAU_RUNS[0], "reward": 0.0}])), "row 1", "reward",
        ("already stored with a different reward", "--replace"), command="tau-bench", opts=TAU),
    Bad("tau_list_without_domain", "r.json", text(json.dumps(TAU_RUNS)), None, None,
        ("does not name its domain", "--domain"), command="tau-bench", opts={}),
    # --- numbers a double cannot hold, ids that do not show what they hold ---
    Bad("label_underflows_to_zero", "t.csv", text(H + "c9,Q0,h9,human,3\nc8,Q0,h9,human,1e-400\n"),
        "row 2", "label", ("'1e-400' is not an option",)),
    Bad("value_underflows_to_zero", "t.csv", text(H.replace("label", "value") + "c8,Q0,h9,human,1e-400\n"),
        "row 1", "value", ("'1e-400'", "not a finite number")),
    Bad("jsonl_value_underflows", "t.jsonl", text('{"conversation_id": "c8", "dimension": "Q0", "rater_id": "h9", '
                                                  '"rater_kind": "human", "value": 1e-400}\n'),
        "line 1", "value", ("outside the range of a double", "read as 0")),
    Bad("jsonl_value_overflows", "t.jsonl", text('{"conversation_id": "c8", "dimension": "Q0", "rater_id": "h9", '
                                                 '"rater_kind": "human", "value": 1e400}\n'),
        "line 1", "value", ("outside the range of a double", "infinity")),
    Bad("zero_width_space_in_conversation_id", "t.csv", text(H + "c9,Q0,h9,human,3\nc\u200b9,Q0,h9,human,3\n"),
        "row 2", "conversation_id", ("invisible character U+200B", "zero width space", "remove it")),
    Bad("bidi_mark_in_rater_id", "t.csv", text(H + "c9,Q0,h\u200e9,human,3\n"),
        "row 1", "rater_id", ("invisible character U+200E", "left-to-right mark")),
    Bad("zero_width_space_in_conversations_file", "c.jsonl",
        jsonl({"conversation_id": "k\u200b1", "messages": [{"role": "user", "content": "hi"}]}),
        "line 1", "conversation_id", ("invisible character U+200B",), command="conversations", opts=CONV),
    Bad("metadata_overflows", "c.jsonl",
        text('{"conversation_id": "k1", "messages": [], "score": 1e400}\n'),
        "line 1", "score", ("outside the range of a double",), command="conversations", opts=CONV),
    Bad("metadata_infinite_in_parquet", "c.parquet",
        parquet(pd.DataFrame({"conversation_id": ["k1"], "messages": ["[]"], "score": [float("inf")]})),
        "row 1", "score", ("inf", "JSON cannot hold"), command="conversations", opts=CONV),
    Bad("unknown_chat_role", "c.jsonl",
        jsonl({"conversation_id": "k1", "messages": [{"role": "customer", "content": "hi"}]}),
        "line 1", "messages", ("role 'customer'", "not a chat role", "'user'"), command="conversations", opts=CONV),
]


# -- running a case -----------------------------------------------------------------------------------------
def make_input(case: Bad, folder: Path) -> Path:
    """Write the case's file into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.name
    if case.make is not None:
        case.make(path)
    return path


def call_api(store: Store, case: Bad, path: Path):
    if case.command == "signals":
        return store.ingest_signals(path, **case.opts)
    if case.command == "conversations":
        return store.ingest_conversations(path, **case.opts)
    return store.ingest_tau_bench(path, **case.opts)


def cli_args(db: Path, case: Bad, path: Path) -> list[str]:
    """The `auditor` command line equivalent to :func:`call_api`."""
    args = ["--db", str(db), "ingest", case.command, str(path)]
    for k, v in case.opts.items():
        flag = "--" + k.replace("_", "-")
        if k == "mapping":
            for a, b in v.items():
                args += ["--map", f"{a}={b}"]
        elif v is True:
            args.append(flag)
        else:
            args += [flag, str(v)]
    return args


def check_message(msg: str, case: Bad, path: Path) -> None:
    """The one-line error names the file, the row or line, the field, the problem and the fix."""
    assert "\n" not in msg and "\r" not in msg, msg
    assert len(msg) < 600, f"{len(msg)} characters: {msg[:300]}..."
    head = str(path)
    assert msg.startswith(head), msg
    rest = msg[len(head):]
    if case.where:
        assert rest.startswith(f", {case.where}:") or rest.startswith(f", {case.where}, "), msg
    else:
        assert not rest.startswith((", row", ", line")), msg
    if case.field:
        assert f"field '{case.field}': " in msg, msg
    assert " Fix: " in msg and len(msg.split(" Fix: ", 1)[1]) > 5, msg
    for needle in case.needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
