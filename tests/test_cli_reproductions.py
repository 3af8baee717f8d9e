"""Reproductions from the reliability sweep (issue 17), each through the real CLI: one line, non-zero exit, no
traceback, and the store unchanged (or, for a good load, the success line printed whole)."""

from __future__ import annotations

import json
import os

import pytest

from _campaigns import run_cli

GOOD = "conversation_id,dimension,rater_id,rater_kind,label\nc1,score,ann,human,4\nc2,score,ann,human,5\n"


def _one_line_failure(r, says: str, code: int = 1) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert says in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_path_that_looks_like_rich_markup_loads_and_prints_whole(tmp_path):
    folder = tmp_path / "[bold]x["                   # the path reads ".../[bold]x[/x].csv": markup twice
    folder.mkdir()
    f = folder / "x].csv"
    f.write_text(GOOD)
    db = tmp_path / "s.duckdb"
    r = run_cli(db, "ingest", "signals", str(f), "--rubric", "likert5")
    assert r.returncode == 0 and "[bold]x[/x].csv" in r.stdout, (r.stdout, r.stderr)
    r = run_cli(db, "ingest", "signals", str(f), "--rubric", "likert5")     # and again: nothing new, no crash
    assert r.returncode == 0 and "nothing new" in r.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_pipes_and_devices_are_refused(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    db = tmp_path / "s.duckdb"
    _one_line_failure(run_cli(db, "ingest", "signals", str(fifo), "--rubric", "likert5", timeout=30),
                      "is not a regular file")
    _one_line_failure(run_cli(db, "ingest", "signals", "/dev/zero", "--rubric", "likert5", timeout=30),
                      "is not a regular file")


def test_rubric_paths_that_are_not_files_and_unreadable_inputs(tmp_path):
    db = tmp_path / "s.duckdb"
    f = tmp_path / "ok.csv"
    f.write_text(GOOD)
    _one_line_failure(run_cli(db, "ingest", "signals", str(f), "--rubric", str(tmp_path)), "is not a rubric file")
    if os.geteuid() != 0:                             # root reads anything: the permission case needs a user
        f.chmod(0)
        _one_line_failure(run_cli(db, "ingest", "signals", str(f), "--rubric", "likert5"), "permission denied")


@pytest.mark.parametrize("maps, says", [
    (["--map", "a=label", "--map", "b=label"], "both fill 'label'"),
    (["--map", "a=label", "--map", "a=value"], "is given twice"),
    (["--map", "=label"], "both sides must be column names"),
])
def test_contradictory_maps_are_refused(tmp_path, maps, says):
    f = tmp_path / "x.csv"
    f.write_text("a,b,conversation_id,dimension,rater_id,rater_kind\n4,5,c1,score,ann,human\n")
    _one_line_failure(run_cli(tmp_path / "s.duckdb", "ingest", "signals", str(f), "--rubric", "likert5", *maps),
                      says)


def test_report_on_a_store_where_some_conversations_have_no_messages(demo_db, tmp_path):
    import shutil

    db = tmp_path / "s.duckdb"
    shutil.copy(demo_db, db)
    extra = tmp_path / "more.csv"                     # creates conversations without messages
    extra.write_text("conversation_id,dimension,rater_id,rater_kind,label\n"
                     "nomsg-1,Q0,annotator-x,human,1\nnomsg-1,Q0,gpt-3.5-turbo-16k:argmax,judge,4\n")
    assert run_cli(db, "ingest", "signals", str(extra), "--rubric", "llm_rubric").returncode == 0
    r = run_cli(db, "report", "--out", str(tmp_path / "r.html"), "--bootstrap", "20")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "r.json").read_text())


@pytest.mark.slow   # over 10 s (a whole CLI session): CI runs it with -m slow
def test_report_out_paths_a_newcomer_would_try(demo_db, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    _one_line_failure(run_cli(demo_db, "report", "--out", ""), "--out is empty")
    _one_line_failure(run_cli(demo_db, "report", "--out", str(tmp_path / "afile" / "r.html")), "is a file, not a folder")
    r = run_cli(demo_db, "report", "--out", str(tmp_path / "folder"), "--bootstrap", "10")
    assert r.returncode == 0 and (tmp_path / "folder" / "report.html").exists(), r.stderr
    r = run_cli(demo_db, "report", "--out", str(tmp_path / "r.md"), "--bootstrap", "10")
    assert r.returncode == 0 and {p.name for p in tmp_path.glob("r.*")} == {"r.html", "r.md", "r.json"}


def test_cr_only_line_endings_load_and_deep_json_is_refused(tmp_path):
    db = tmp_path / "s.duckdb"
    f = tmp_path / "cr.csv"
    f.write_bytes(GOOD.replace("\n", "\r").encode())
    r = run_cli(db, "ingest", "signals", str(f), "--rubric", "likert5")
    assert r.returncode == 0 and "2 inserted" in r.stdout, r.stderr
    deep = "[" * 100_000 + "]" * 100_000
    j = tmp_path / "deep.jsonl"
    j.write_text('{"conversation_id": "c9", "messages": ' + deep + "}\n")
    _one_line_failure(run_cli(db, "ingest", "conversations", str(j)), "nested too deeply")
    c = tmp_path / "deep.csv"
    c.write_text('conversation_id,messages\nc9,"' + deep + '"\n')
    _one_line_failure(run_cli(db, "ingest", "conversations", str(c)), "nested too deeply")


def test_a_file_name_that_is_not_utf8_loads_and_is_recorded_readably(tmp_path):
    if os.uname().sysname == "Darwin":          # macOS refuses such names
        pytest.skip("the file system requires UTF-8 names")
    name = os.fsdecode(b"ratings\xff.csv")      # a Latin-1 name on a UTF-8 system: Python keeps the byte escaped
    f = tmp_path / name
    f.write_text(GOOD)
    db = tmp_path / "s.duckdb"
    import subprocess

    from _campaigns import AUDITOR

    r = subprocess.run([AUDITOR, "--db", str(db), "ingest", "signals", str(f), "--rubric", "likert5"],
                       capture_output=True, timeout=120)       # bytes: the name is echoed as the file system has it
    assert r.returncode == 0 and b"2 inserted" in r.stdout, (r.stdout, r.stderr)
    r = run_cli(db, "sql", "SELECT source FROM ingest_batches", "--csv")
    assert r.returncode == 0 and "ratings\\xff.csv" in r.stdout, r.stdout


def test_table_cells_are_text_and_tables_fit_the_terminal(demo_db):
    r = run_cli(demo_db, "sql", "SELECT '[red]x[/red] [/bogus]' AS a, chr(27) || '[31mRED' AS b")
    assert r.returncode == 0, r.stderr
    assert "[red]x[/red] [/bogus]" in r.stdout and "\\x1b[31mRED" in r.stdout and "\x1b" not in r.stdout
    r = run_cli(demo_db, "audit", "--bootstrap", "20", env={"COLUMNS": "120"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 120, max(lines, key=len)
    assert any(line.startswith("not shown at this terminal width (120 columns): ") for line in lines)
    header = next(line for line in lines if "rater" in line and "dimension" in line)
    assert "krippendorff_alpha" in header          # a name is never cut in two
