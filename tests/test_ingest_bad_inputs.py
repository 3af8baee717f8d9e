"""Every rejected input gets one line naming the file, row/line, field, fault and fix, and leaves the store unchanged.

Each case of the corpus (``_bad_inputs.CASES``) is loaded into a populated store twice: through the Python API (an
:class:`~auditor.errors.IngestError`) and through the CLI (exactly one line on stderr, exit code 1). "Unchanged" means
every table has the same row count and the same content hash (all columns, all rows) as before; for the CLI, a store
file whose bytes are identical to the base's is unchanged by construction, any other is compared table by table.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _bad_inputs import (CASES, H, MB, Bad, build_base_store, call_api, check_message, cli_args, make_input,
                         snapshot, text)
from auditor import IngestError, Store
from auditor.cli import app

runner = CliRunner()


# cases whose point is size and that take over 10 s each: in the slow run (`pytest -m slow`, which CI also runs)
SLOW_CASES = {"probability_column_name_1mb"}
CASE_PARAMS = [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.id in SLOW_CASES else []) for c in CASES]


@pytest.fixture(scope="session")
def base_db(tmp_path_factory) -> Path:
    return build_base_store(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="session")
def base_snapshot(base_db) -> dict:
    with Store(base_db, read_only=True) as s:
        snap = snapshot(s.con)
    # tasks: t1, airline_1, airline_2
    assert (snap["signals"][0], snap["conversations"][0], snap["ingest_batches"][0], snap["tasks"][0]) == (6, 5, 4, 3)
    return snap


@pytest.fixture
def store_file(base_db, tmp_path) -> Path:
    dst = tmp_path / "store.duckdb"
    shutil.copy(base_db, dst)
    return dst


@pytest.fixture(scope="module")
def api_store(base_db, tmp_path_factory):
    """One open store for every API case: each case must leave it exactly as the base (checked after each)."""
    path = tmp_path_factory.mktemp("api") / "store.duckdb"
    shutil.copy(base_db, path)
    s = Store(path)
    yield s
    s.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cli_db(base_db, tmp_path_factory) -> Path:
    """One store file for every CLI case (a failing case restores it, so the next case starts clean)."""
    path = tmp_path_factory.mktemp("cli") / "store.duckdb"
    shutil.copy(base_db, path)
    return path


def stored(db: Path) -> dict:
    with Store(db, read_only=True) as s:
        return snapshot(s.con)


def assert_unchanged(db: Path, base_db: Path, base_snapshot: dict) -> None:
    """The store file's contents equal the base: identical bytes prove it at once, else compare every table."""
    wal = db.with_name(db.name + ".wal")
    if not wal.exists() and file_digest(db) == file_digest(base_db):
        return
    try:
        assert stored(db) == base_snapshot
    finally:
        wal.unlink(missing_ok=True)
        shutil.copy(base_db, db)


def test_snapshot_notices_any_change(base_db, tmp_path):
    """The check itself: one changed value, one extra row, in any table, changes the snapshot."""
    path = tmp_path / "s.duckdb"
    shutil.copy(base_db, path)
    with Store(path) as s:
        before = snapshot(s.con)
        assert s.con.execute("UPDATE signal_rows_lean SET value = 0.5 WHERE rater_id = 'h2'").fetchall()[0][0] == 1
        after = snapshot(s.con)
        assert after != before and after["signals"][0] == before["signals"][0]
        s.con.execute("INSERT INTO tasks (task_id) VALUES ('new')")
        assert snapshot(s.con)["tasks"][0] == before["tasks"][0] + 1


def test_corpus_is_large_and_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 35
    assert {c.command for c in CASES} == {"signals", "conversations", "tau-bench"}


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_bad_input_api(case: Bad, api_store, base_snapshot, tmp_path):
    path = make_input(case, tmp_path)
    with pytest.raises(IngestError) as info:
        call_api(api_store, case, path)
    assert snapshot(api_store.con) == base_snapshot
    api_store.con.execute("BEGIN TRANSACTION")     # fails if the load left a transaction open
    api_store.con.execute("ROLLBACK")
    err = info.value
    check_message(str(err), case, path)
    assert err.path == str(path) and err.fix
    if case.where:
        assert err.row == int(case.where.split()[1])
    if case.field:
        assert err.field == case.field
    if "1000" in case.id:   # said outright: none of the 999 good rows before the bad one landed
        for table in ("signals", "conversations"):
            assert api_store.sql(f"SELECT count(*) AS n FROM {table} WHERE conversation_id LIKE 'n%' "
                                 "OR conversation_id LIKE 'k%'")["n"][0] == 0
        assert api_store.sql("SELECT count(*) AS n FROM raters WHERE rater_id = 'h7'")["n"][0] == 0


def test_api_store_file_unchanged_after_every_case(api_store, base_db, base_snapshot):
    """After all the API cases (defined above, so run before), the closed file still holds the base contents."""
    api_store.close()
    assert_unchanged(Path(api_store.path), base_db, base_snapshot)
    assert stored(Path(api_store.path)) == base_snapshot


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_bad_input_cli(case: Bad, cli_db, base_db, base_snapshot, tmp_path):
    path = make_input(case, tmp_path / "in")
    res = runner.invoke(app, cli_args(cli_db, case, path))
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 1
    assert res.stdout == ""
    assert res.stderr.startswith("Error: ") and res.stderr.endswith("\n") and res.stderr.count("\n") == 1, res.stderr
    check_message(res.stderr[len("Error: "):-1], case, path)
    assert_unchanged(cli_db, base_db, base_snapshot)


def test_installed_script_prints_one_line(store_file, base_snapshot, tmp_path):
    """The real console script (not the in-process runner): a 1 MB label gives one short line and exit code 1."""
    case = next(c for c in CASES if c.id == "label_1mb")
    path = make_input(case, tmp_path / "in")
    exe = Path(sys.executable).with_name("auditor")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "auditor.cli"]
    proc = subprocess.run(cmd + cli_args(store_file, case, path), capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "40", "TERM": "dumb"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[:2000]
    check_message(lines[0][len("Error: "):], case, path)
    assert stored(store_file) == base_snapshot


def test_conflict_then_replace(store_file, base_snapshot, tmp_path):
    """A different value for a stored key is refused naming both sides; --replace then overwrites only that row."""
    case = next(c for c in CASES if c.id == "conflicts_with_stored_signal")
    path = make_input(case, tmp_path / "in")
    res = runner.invoke(app, cli_args(store_file, case, path))
    assert res.exit_code == 1 and "--replace" in res.stderr
    assert stored(store_file) == base_snapshot

    res = runner.invoke(app, cli_args(store_file, case, path) + ["--replace"])
    assert res.exit_code == 0, res.stderr
    assert "1 inserted, 1 replaced" in res.stdout
    with Store(store_file, read_only=True) as s:
        got = s.sql("SELECT conversation_id, rater_id, label, value FROM signals WHERE dimension = 'Q0' "
                    "AND rater_id IN ('h1', 'h9') ORDER BY ALL").values.tolist()
        assert got == [["c1", "h1", "2", 2.0], ["c2", "h1", "4", 4.0], ["c9", "h9", "3", 3.0]]
        assert s.sql("SELECT count(*) AS n FROM ingest_batches")["n"][0] == base_snapshot["ingest_batches"][0] + 1
        assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] == base_snapshot["signals"][0] + 1


def test_conflict_then_replace_api(store_file, tmp_path):
    path = tmp_path / "fix.csv"
    text(H + "c1,Q0,h1,human,1\n")(path)
    with Store(store_file) as s:
        with pytest.raises(IngestError, match="stored ok label '3' value 3, this file ok label '1' value 1"):
            s.ingest_signals(path, rubric="llm_rubric")
        res = s.ingest_signals(path, rubric="llm_rubric", replace=True)
        assert (res.n_inserted, res.n_replaced, res.n_unchanged) == (0, 1, 0) and res.batch_id
        assert s.sql("SELECT value FROM signals WHERE conversation_id = 'c1' AND dimension = 'Q0' "
                     "AND rater_id = 'h1'")["value"].tolist() == [1.0]
        # the same file again: nothing changes, no batch
        again = s.ingest_signals(path, rubric="llm_rubric", replace=True)
        assert (again.n_inserted, again.n_replaced, again.n_unchanged, again.batch_id) == (0, 0, 1, None)


def test_in_memory_store_is_unchanged_too():
    """Same guarantee on a ``:memory:`` store (one connection, no file to reopen)."""
    with Store(":memory:") as s:
        s.ingest_signals(pd_frame(), rubric="llm_rubric", source_name="frame")
        before = snapshot(s.con)
        with pytest.raises(IngestError, match=r"frame, row 2, field 'value'"):
            s.ingest_signals(pd_frame(value2=9), rubric="llm_rubric", source_name="frame")
        assert snapshot(s.con) == before


def pd_frame(value2: int = 2):
    import pandas as pd

    return pd.DataFrame({"conversation_id": ["m1", "m2"], "dimension": ["Q0", "Q0"], "rater_id": ["h1", "h1"],
                         "rater_kind": ["human", "human"], "value": [1, value2]})


def test_long_fields_keep_the_message_short(tmp_path):
    """1 MB in any field the message quotes: the message stays under 600 characters."""
    assert all(len(str(e)) < 600 for e in _long_field_errors(tmp_path))


def _long_field_errors(tmp_path):
    big = "y" * MB
    files = {
        "a.csv": H + f"c9,Q0,h9,{big},3\n",
        "b.csv": H + f"c9,Q0,h9,human,{big}\n",
        "c.csv": H.replace("label", "value") + f"c9,Q0,h9,human,{big}\n",
        "d.csv": H.strip() + f",sample\nc9,Q0,h9,human,3,{big}\n",
        "e.csv": H.strip() + f",confidence\nc9,Q0,h9,human,3,{big}\n",
        "f.csv": H + f"c9,Q0,{big},human,3\nc8,Q0,{big},judge,3\n",
    }
    errors = []
    with Store(":memory:") as s:
        for name, content in files.items():
            (tmp_path / name).write_text(content, encoding="utf-8")
            with pytest.raises(IngestError) as info:
                s.ingest_signals(tmp_path / name, rubric="llm_rubric")
            errors.append(info.value)
        (tmp_path / "g.jsonl").write_text(f'{{"conversation_id": "c", "messages": [], "reward": "{big}"}}\n')
        with pytest.raises(IngestError) as info:
            s.ingest_conversations(tmp_path / "g.jsonl")
        errors.append(info.value)
    return errors
