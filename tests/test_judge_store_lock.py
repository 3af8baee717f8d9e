"""While a judge run holds the store, other commands are refused with one line of ours (issue 17).

DuckDB's lock error carries its own hint (``-readonly`` is a flag of DuckDB's CLI, not of auditor) and a docs link;
the line shows neither: it names the process that holds the store and auditor's fix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from auditor import Store
from auditor.errors import StoreLockedError
from conftest_judge import ENV, fake, make_store, write_config  # noqa: F401

AUDITOR = str(Path(sys.executable).parent / "auditor")
DUCKDB_1X = ('IO Error: Could not set lock on file "{path}": Conflicting lock is held in /usr/bin/python3 (PID 999999)'
             ' by user u. However, you would be able to open this database in read-only mode, e.g. by using the '
             '-readonly parameter in the CLI. See also https://duckdb.org/docs/stable/connect/concurrency')


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUDITOR, "--db", str(db), "--wait", "0", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})


def test_commands_during_a_judge_run_get_one_line_without_duckdbs_hint(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=3)
    cfg = write_config(tmp_path, fake.url, concurrency=1, timeout_s=60)
    fake.hang_after(0)                                   # the run holds the store, waiting for a reply
    run = subprocess.Popen([AUDITOR, "--db", str(db), "judge", "run", str(cfg), "-q"],
                           env={**os.environ, **ENV, "COLUMNS": "200"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not fake.chat_requests():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        for args in (("judge", "list"), ("sql", "SELECT 1"), ("judge", "run", str(cfg), "-q")):
            r = _cli(db, *args)
            lines = r.stderr.strip().splitlines()
            assert r.returncode != 0 and len(lines) == 1, (args, r.stderr)
            line = lines[0]
            assert "the store is in use by process" in line and "`auditor --db" in line and "judge run" in line
            assert "Fix: wait for it to finish, or stop it, and retry" in line
            assert "-readonly" not in line and "duckdb.org" not in line and "Conflicting lock" not in line, line
    finally:
        run.send_signal(signal.SIGINT)
        fake.release()
        run.communicate(timeout=60)


def test_duckdbs_own_hint_is_never_part_of_the_message(tmp_path, monkeypatch):
    """DuckDB 1.x said "...use the -readonly parameter in the CLI. See also https://duckdb.org/...": not shown."""
    path = tmp_path / "s.duckdb"

    def locked(p, **kw):
        raise duckdb.IOException(DUCKDB_1X.format(path=p))

    monkeypatch.setattr("auditor.store._store.duckdb.connect", locked)
    with pytest.raises(StoreLockedError) as e:
        Store(path)
    msg = str(e.value)
    assert "in use by process 999999" in msg and "Fix:" in msg and "\n" not in msg
    assert "-readonly" not in msg and "duckdb.org" not in msg and "read-only mode" not in msg
