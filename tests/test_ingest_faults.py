"""A rejected file lists all its faults in one run, in file order (the first 20, then counts per kind), and the
store is unchanged; CSV files written with ';', tab or '|' are read with the delimiter their header uses."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from _bad_inputs import snapshot
from auditor import IngestError, Store
from auditor.ingest._faults import IngestFaults

H = "conversation_id,dimension,rater_id,rater_kind,label\n"
from _campaigns import AUDITOR


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.duckdb")
    (tmp_path / "ok.csv").write_text(H + "c1,Q0,h1,human,3\n")
    s.ingest_signals(str(tmp_path / "ok.csv"), rubric="llm_rubric")
    yield s
    s.close()


def test_four_faults_in_one_run_in_file_order(store, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(H + "c2,Q9,h1,human,3\n"          # row 1: unknown dimension
                 "c3,Q0,h1,human,3\n"               # row 2: fine
                 "c4,Q0,h1,robot,3\n"               # row 3: unknown kind
                 "c5,Q0,,human,3\n"                 # row 4: empty rater
                 "c6,Q1,h1,human,7\n"               # row 5: not an option
                 "c3,Q0,h1,human,3\n")              # row 6: duplicate of row 2
    before = snapshot(store.con)
    with pytest.raises(IngestFaults) as info:
        store.ingest_signals(str(f), rubric="llm_rubric")
    assert snapshot(store.con) == before
    e = info.value
    assert [x.row for x in e.faults] == [1, 3, 4, 5, 6]
    assert [x.field for x in e.faults] == ["dimension", "rater_kind", "rater_id", "label", "conversation_id"]
    lines = str(e).splitlines()
    assert lines[0] == f"{f}: 5 rows are rejected, nothing was loaded; in file order:"
    assert lines[1] == (f"  {f}, row 1, field 'dimension': unknown dimension 'Q9' for rubric 'llm_rubric' Fix: use "
                        "one of: Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7, Q8 (or --map to rename).")
    assert "rater_kind 'robot' is not one of human, judge, simulator" in lines[2]
    assert "'7' is not an option of dimension 'Q1'" in lines[4]
    assert "also appears at row 2" in lines[5]
    assert len(lines) == 6
    # the error's own fields are the first fault's (API users reading e.row keep working)
    assert (e.row, e.field) == (1, "dimension")


def test_more_than_twenty_faults_are_counted_per_kind(store, tmp_path):
    rows = [f"c{i},Q0,h1,human,9\n" for i in range(30)] + [f"d{i},Q0,h1,alien,3\n" for i in range(5)]
    f = tmp_path / "many.csv"
    f.write_text(H + "".join(rows))
    with pytest.raises(IngestFaults) as info:
        store.ingest_signals(str(f), rubric="llm_rubric")
    e = info.value
    assert len(e.faults) == 20 and [x.row for x in e.faults] == list(range(1, 21))
    assert e.more == {"the label is not an option": 10, "unknown rater_kind": 5}
    assert str(e).splitlines()[-2:] == ["  and 10 more row(s) with the same fault: the label is not an option",
                                        "  and 5 more row(s) with the same fault: unknown rater_kind"]
    assert e.total == 35


def test_wide_row_reports_its_first_faulty_cell(store, tmp_path):
    f = tmp_path / "w.csv"
    f.write_text("conversation_id,rater_id,rater_kind,Q0,Q1\nw1,h1,human,9,8\nw2,h1,human,3,3\nw3,h1,human,3,x\n")
    with pytest.raises(IngestFaults) as info:
        store.ingest_signals(str(f), rubric="llm_rubric", wide=True)
    assert [(x.row, x.problem) for x in info.value.faults] == [
        (1, "'9' is not an option of dimension 'Q0'"), (3, "'x' is not an option of dimension 'Q1'")]


def test_single_fault_is_one_line(store, tmp_path):
    f = tmp_path / "one.csv"
    f.write_text(H + "c2,Q0,h1,human,3\nc3,Q0,h1,human,5\n")
    with pytest.raises(IngestError) as info:
        store.ingest_signals(str(f), rubric="llm_rubric")
    assert not isinstance(info.value, IngestFaults)
    assert str(info.value).startswith(f"{f}, row 2, field 'label': '5' is not an option")
    assert "\n" not in str(info.value)


def test_cli_lists_faults_and_exits_1(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(H + "c2,Q9,h1,human,3\nc4,Q0,h1,robot,3\n")
    r = subprocess.run([AUDITOR, "--db", str(tmp_path / "s.duckdb"), "ingest", "signals", str(f), "--rubric",
                                  "llm_rubric"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0] == f"Error: {f}: 2 rows are rejected, nothing was loaded; in file order:"
    assert lines[1].startswith(f"  {f}, row 1, field 'dimension'") and lines[2].startswith(f"  {f}, row 2, field "
                                                                                           "'rater_kind'")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("sep,name", [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_delimiter_of_the_header_is_used(store, tmp_path, sep, name):
    f = tmp_path / "s.csv"
    f.write_text((H + "c2,Q0,h1,human,3\nc3,Q1,h1,human,\"2\"\n").replace(",", sep))
    res = store.ingest_signals(str(f), rubric="llm_rubric")
    assert res.n_inserted == 2
    assert any(f"read as {name}-separated" in n for n in res.notes), res.notes
    got = store.con.execute("SELECT conversation_id, label FROM signals WHERE conversation_id <> 'c1' "
                            "ORDER BY 1").fetchall()
    assert got == [("c2", "3"), ("c3", "2")]


def test_tsv_written_with_commas(store, tmp_path):
    f = tmp_path / "s.tsv"
    f.write_text(H + "c2,Q0,h1,human,3\n")
    res = store.ingest_signals(str(f), rubric="llm_rubric")
    assert res.n_inserted == 1 and any("read as comma-separated" in n for n in res.notes)


def _refusal(store, path, text: str) -> str:
    """The message of the IngestError a signals file holding ``text`` is refused with."""
    path.write_text(text)
    with pytest.raises(IngestError) as info:
        store.ingest_signals(str(path), rubric="llm_rubric")
    return str(info.value)


def test_two_delimiters_in_the_header_is_named(store, tmp_path):
    msg = _refusal(store, tmp_path / "mixed.csv",
                   "conversation_id;dimension|rater_id;rater_kind;label\nc2;Q0|h1;human;3\n")
    assert "missing required column 'conversation_id'" in msg and "semicolon" in msg and "pipe" in msg, msg


@pytest.mark.parametrize("sep,said", [(":", "':' (colon)"), (" ", "spaces"), ("#", "'#' (number sign)")])
def test_a_delimiter_no_reader_takes_is_named(store, tmp_path, sep, said):
    head = sep.join(["conversation_id", "dimension", "rater_id", "rater_kind", "label"])
    msg = _refusal(store, tmp_path / "odd.csv", f"{head}\n{sep.join(['c2', 'Q0', 'h1', 'human', '3'])}\n")
    assert f"its names separated by {said}, which is not a delimiter auditor reads" in msg, msg
    assert "write the file with commas" in msg and "--map" not in msg


def test_a_one_column_header_of_unknown_names_keeps_the_map_hint(store, tmp_path):
    """A header that no character splits into known column names is a missing column, not a delimiter fault."""
    msg = _refusal(store, tmp_path / "one.csv", "conversation id:x\nc2\n")
    assert "--map SOURCE=conversation_id" in msg and "separated by" not in msg, msg


def test_parquet_faults_and_nested_cells(store, tmp_path):
    f = tmp_path / "n.parquet"
    pd.DataFrame({"conversation_id": ["a", "b", "c"], "dimension": ["Q0", "Q0", "Q0"], "rater_id": ["h1"] * 3,
                  "rater_kind": ["human"] * 3, "label": ["3", "3", "3"],
                  "sample": [[1, 2], None, [3]]}).to_parquet(f)
    with pytest.raises(IngestFaults) as info:
        store.ingest_signals(str(f), rubric="llm_rubric")
    assert [(x.row, x.field) for x in info.value.faults] == [(1, "sample"), (3, "sample")]
    assert "not a single value" in info.value.faults[0].problem


def test_parquet_float_ids_read_as_csv_does_and_booleans_are_no_rating(store, tmp_path):
    """Issue 17's silent acceptances: a Parquet float id 901.0 is stored as "901" (what the CSV of the same data
    gives), and a boolean label is refused instead of becoming option '1'."""
    f = tmp_path / "f.parquet"
    pd.DataFrame({"conversation_id": [901.0, 902.0], "dimension": ["Q0", "Q0"], "rater_id": ["h1", "h1"],
                  "rater_kind": ["human", "human"], "label": [1.0, 2.0]}).to_parquet(f)
    store.ingest_signals(str(f), rubric="llm_rubric")
    got = store.con.execute("SELECT conversation_id, label FROM signals WHERE conversation_id LIKE '90%' ORDER BY 1"
                            ).fetchall()
    assert got == [("901", "1"), ("902", "2")]
    b = tmp_path / "b.parquet"
    pd.DataFrame({"conversation_id": ["x1"], "dimension": ["Q0"], "rater_id": ["h1"], "rater_kind": ["human"],
                  "label": [True]}).to_parquet(b)
    with pytest.raises(IngestError) as info:
        store.ingest_signals(str(b), rubric="llm_rubric")
    assert "'True' is not an option of dimension 'Q0'" in str(info.value)


def test_semicolon_file_with_quoted_header_and_its_header_faults(store, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('"conversation_id";"dimension";"rater_id";"rater_kind";"label"\n"c2";"Q0";"h1";"human";"3"\n')
    assert store.ingest_signals(str(f), rubric="llm_rubric").n_inserted == 1
    d = tmp_path / "d.csv"
    d.write_text("conversation_id;dimension;dimension;rater_kind;label\nc3;Q0;h1;human;3\n")
    with pytest.raises(IngestError) as info:
        store.ingest_signals(str(d), rubric="llm_rubric")
    assert "line 1, field 'dimension': the header repeats column(s) dimension" in str(info.value)
