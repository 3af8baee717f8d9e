"""`auditor judge run|validate|list|show`, including SIGKILL and Ctrl-C of a real `auditor judge run` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.cli import app
from auditor.judge import load_judge
from conftest_judge import ENV, KEY_ENV, SECRET, fake, make_store, signals, write_config  # noqa: F401

AUDITOR = [sys.executable, "-c", "from auditor.cli import main; main()"]


def _cli(*args, env=ENV):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def _no_secret(*texts):
    for t in texts:
        assert SECRET not in (t if isinstance(t, str) else t.decode(errors="replace"))


def _store_bytes_have_no_secret(db: Path):
    for f in db.parent.glob(db.name + "*"):
        assert SECRET.encode() not in f.read_bytes(), f


def test_validate_run_list_show(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=4)
    cfg = write_config(tmp_path, fake.url)
    judge = load_judge(cfg)
    fake.fault_for("c0002#0", "invalid", "invalid", "invalid")

    r = _cli("judge", "validate", cfg, "--show-prompt")
    assert r.exit_code == 0, r.output
    assert judge.rater_id in r.output and judge.config_hash in r.output and f"${KEY_ENV} is set" in r.output
    assert "Conversation example-1" in r.output
    r = _cli("judge", "validate", cfg, "--json")
    info = json.loads(r.stdout)
    assert info["config_hash"] == judge.config_hash and info["dimensions"][0] == "Q0"

    r = _cli("--db", db, "judge", "run", cfg, "--json")
    assert r.exit_code == 1, r.output            # 1 of 4 failed: above the default --max-failure-rate of 5 %
    res = json.loads(r.stdout)
    assert (res["status"], res["n_done"], res["n_failed"]) == ("finished", 3, 1)
    assert "1 of 4 requested item(s) failed" in r.stderr
    r = _cli("--db", db, "judge", "run", cfg, "-q")
    assert r.exit_code == 0 and "1 done, 0 failed, 3 already stored" in r.output, r.output

    r = _cli("--db", db, "judge", "list", "--json")
    runs = json.loads(r.stdout)["runs"]
    assert [x["status"] for x in runs] == ["finished", "finished"] and runs[1]["n_failed"] == 1
    r = _cli("--db", db, "judge", "show", res["run_id"])
    assert r.exit_code == 0 and "Why items failed" in r.output and "invalid reply after 2 re-asks" in r.output
    r = _cli("--db", db, "judge", "show", "latest", "--json")
    assert json.loads(r.stdout)["n_cached"] == 3
    r = _cli("--db", db, "judge", "show", "r-nope")
    assert r.exit_code == 2 and "no run 'r-nope'" in r.output
    _no_secret(r.output)
    _store_bytes_have_no_secret(db)


def test_cli_errors_are_one_clean_line(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=2)
    bad = write_config(tmp_path, fake.url, temperature=9)
    r = _cli("judge", "validate", bad)
    assert r.exit_code == 1 and f"{bad}: invalid judge config: field 'temperature'" in r.output
    cfg = write_config(tmp_path, fake.url, filename="ok.yaml")
    r = _cli("--db", db, "judge", "run", cfg, "-q", env={})
    assert r.exit_code == 1 and f"${KEY_ENV}, which is not set" in r.output
    r = _cli("--db", db, "judge", "run", cfg, "-q", "--where", "1=1; DROP TABLE signals")
    assert r.exit_code == 1 and "--where" in r.output
    fake.fault_all("401")
    r = _cli("--db", db, "judge", "run", cfg, "-q")
    assert r.exit_code == 1 and "HTTP 401" in r.output and KEY_ENV in r.output
    _no_secret(r.output)


def _start(db, cfg, *extra):
    env = {**os.environ, KEY_ENV: SECRET}
    return subprocess.Popen([*AUDITOR, "--db", str(db), "judge", "run", str(cfg), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_until_gated(fake, proc, n_ok, n_hang, timeout=90):
    """Wait until the server has answered n_ok items and every worker sits in a hanging request: each worker
    hands its finished item to the writer before asking for the next, so all n_ok are queued for commit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fake.outcomes()
        if out["ok"] >= n_ok and out["hang"] >= n_hang:
            return
        if proc.poll() is not None:
            raise AssertionError(f"auditor exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out; server outcomes {fake.outcomes()}")


def _check_complete(db, fake, cfg, n):
    rater = load_judge(cfg).rater_id
    df = signals(db, rater)
    assert len(df) == n * 9, "lost or duplicated signals"
    assert not df.duplicated(["conversation_id", "dimension", "sample"]).any()
    assert (df["status"] != "failed").all()
    succ = fake.successes()
    assert len(succ) == n and set(succ.values()) == {1}, "a request was repeated after its success"


@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_killed_run_resumes_with_nothing_lost_and_nothing_paid_twice(tmp_path, fake, how):
    n, n_ok, k = 30, 12, 4
    db = make_store(tmp_path / "s.duckdb", n=n)
    cfg = write_config(tmp_path, fake.url, concurrency=k)
    fake.hang_after(n_ok)
    proc = _start(db, cfg, "-q")
    _wait_until_gated(fake, proc, n_ok, k)
    if how == "sigkill":
        time.sleep(1.5)                      # the writer commits queued items within milliseconds
        proc.kill()
    else:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (-signal.SIGKILL if how == "sigkill" else 130), (out, err)
    fake.hang_after(None)
    fake.release()
    _store_bytes_have_no_secret(db)          # includes the write-ahead log a killed process leaves behind
    with Store(db) as s:                     # reopening replays the WAL
        stored = s.sql("SELECT count(DISTINCT conversation_id) AS n FROM signals")["n"][0]
        run1 = s.sql("SELECT status, n_done, metadata::VARCHAR AS m FROM runs").iloc[0]
    assert stored == n_ok                    # everything answered before the kill is stored
    if how == "sigint":
        assert run1["status"] == "interrupted" and run1["n_done"] == n_ok
        assert "interrupted" in err.decode()

    rerun = _cli("--db", db, "judge", "run", cfg, "--json")   # in-process: a second interpreter start costs seconds
    assert rerun.exit_code == 0, rerun.output
    out2, err2 = rerun.stdout, rerun.stderr
    res = json.loads(out2)
    assert (res["status"], res["n_cached"], res["n_done"]) == ("finished", n_ok, n - n_ok)
    _check_complete(db, fake, cfg, n)
    with Store(db) as s:
        statuses = s.sql("SELECT status FROM runs ORDER BY started_at")["status"].tolist()
    assert statuses == ["interrupted", "finished"]   # a killed run is closed as interrupted by the next run
    _no_secret(out, err, out2, err2)
    _store_bytes_have_no_secret(db)


def test_nothing_to_judge_is_an_error_and_writes_nothing(tmp_path):
    """An empty store, a --where that matches nothing and --limit 0 end in one line and exit 1, and leave no judge
    config or rater behind (the check runs before anything is written; no request is made: the URL is dead)."""
    empty = tmp_path / "empty.duckdb"
    Store(empty).close()
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1")
    r = _cli("--db", empty, "judge", "run", cfg, "-q")
    assert r.exit_code == 1 and "no conversation to judge" in r.output and "auditor ingest conversations" in r.output
    db = make_store(tmp_path / "s.duckdb", n=3)
    r = _cli("--db", db, "judge", "run", cfg, "-q", "--where", "task_id = 'no-such-task'")
    assert r.exit_code == 1 and "matched no conversation" in r.output
    r = _cli("--db", db, "judge", "run", cfg, "-q", "--where", "no_such_column = 1")
    assert r.exit_code == 1 and "--where" in r.output
    r = _cli("--db", db, "judge", "run", cfg, "-q", "--limit", "0")
    assert r.exit_code == 1 and "--limit 0" in r.output
    for path in (empty, db):
        with Store(path, read_only=True) as s:
            assert s.con.execute("SELECT (SELECT count(*) FROM judge_configs) + (SELECT count(*) FROM runs) + "
                                 "(SELECT count(*) FROM raters)").fetchall()[0][0] == 0


def test_failures_above_the_max_failure_rate_exit_1_after_storing_the_rest(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=10)
    cfg = write_config(tmp_path / "cfg", fake.url, max_retries=0)
    fake.fault_fn = lambda key, body: "invalid" if key.startswith(("c0000#", "c0001#")) else None   # 2 of 10 fail
    r = _cli("--db", db, "judge", "run", cfg, "--quiet")
    assert r.exit_code == 1, r.output
    assert "2 of 10 requested item(s) failed (20.0% > --max-failure-rate 5.0%); the first: " in r.stderr, r.stderr
    assert "8 done, 2 failed" in r.stdout
    with Store(db, read_only=True) as s:        # what succeeded is stored
        assert s.sql("SELECT count(DISTINCT conversation_id) AS n FROM signals WHERE status = 'ok'")["n"][0] == 8
    fake.fault_fn = lambda key, body: "invalid" if key.startswith("c0000#") else None           # 1 of the 2 retried
    r = _cli("--db", db, "judge", "run", cfg, "--quiet", "--max-failure-rate", "0.5")
    assert r.exit_code == 0, r.output
    assert "1 done, 1 failed, 8 already stored" in r.stdout
