"""Batch mode (`judge run --batch`, `judge collect`) against the fake Files/Batches API on 127.0.0.1.

What is checked: the requests are the synchronous path's, byte for byte; answers are stored exactly as a
synchronous run stores them; scripted provider behaviour (in progress for a while, partial failures, expired and
rejected batches, malformed output lines) ends in stored answers or failures with their reason; a process killed
(SIGKILL) while uploading, right after the provider created its batch, or while collecting loses nothing and
never pays for an item twice; batch prices; no secret anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.cli import app
from auditor.judge import load_judge, run_judge
from auditor.judge._batch import collect_batches, submit_batches
from conftest_judge import ENV, KEY_ENV, SECRET, expected_label, fake, make_store, signals, write_config  # noqa: F401

AUDITOR = [sys.executable, "-c", "from auditor.cli import main; main()"]
SIGNAL_COLS = ["conversation_id", "rubric", "dimension", "rater_id", "sample", "status", "label", "value",
               "value_source", "confidence", "raw", "rationale", "error"]


def _cli(*args, env=ENV):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def _uploaded_lines(fake) -> list[dict]:
    return [json.loads(x) for f in fake.batch.files.values() if f["purpose"] == "batch"
            for x in f["data"].decode().splitlines()]


def _collect(store, **kw):
    return collect_batches(store, env=ENV, wait=True, poll_s=0.001, poll_max_s=0.01, sleep=lambda s: None, **kw)


def _stored_as_expected(db, cfg, n, *, exclude=()):
    judge = load_judge(cfg)
    df = signals(db, judge.rater_id)
    df = df[~df["conversation_id"].isin(exclude)]
    assert len(df) == (n - len(exclude)) * 9 and not df.duplicated(["conversation_id", "dimension", "sample"]).any()
    for row in df.itertuples():
        want = expected_label("llm_rubric", row.conversation_id, row.sample, row.dimension)
        if want == "0":                                   # the rubric's "not answered" code
            assert row.status == "not_answered" and pd.isna(row.label), row
        else:
            assert row.status == "ok" and row.label == want and row.value == float(want), row
    return df


def test_batch_requests_and_answers_are_the_synchronous_ones(tmp_path, fake):
    n = 7
    a, b = make_store(tmp_path / "a.duckdb", n=n), make_store(tmp_path / "b.duckdb", n=n)
    cfg = write_config(tmp_path, fake.url, samples=2)
    with Store(a) as s:
        run_judge(s, load_judge(cfg), env=ENV)
    sync_bodies = {r.key: r.body for r in fake.chat_requests()}
    with Store(b) as s:
        res = submit_batches(s, load_judge(cfg), env=ENV, batch_size=5)
        assert res.n_submitted == 2 * n and [x["items"] for x in res.batches] == [5, 5, 4]
        assert s.sql("SELECT status FROM runs")["status"].tolist() == ["submitted"]
        c = _collect(s)
    assert c.n_ok == 2 * n and c.n_failed == 0 and c.n_resubmitted == 0
    lines = _uploaded_lines(fake)
    assert {ln["custom_id"]: ln["body"] for ln in lines} == sync_bodies          # the same requests, item by item
    assert {ln["url"] for ln in lines} == {"/v1/chat/completions"}
    sa, sb = signals(a)[SIGNAL_COLS], signals(b)[SIGNAL_COLS]
    assert sa.equals(sb)                              # the same stored signals (run ids aside)
    assert set(fake.batch.answered.values()) == {1} and len(fake.batch.answered) == 2 * n
    with Store(b) as s:
        run = s.sql("SELECT * FROM runs").iloc[0]
        assert run["status"] == "finished" and run["n_done"] == 2 * n and run["n_failed"] == 0
        # nothing is asked again: the stored answers serve a synchronous run of the same config
        fake.reset_log()
        again = run_judge(s, load_judge(cfg), env=ENV)
    assert again.n_cached == 2 * n and fake.chat_requests() == []


def test_scripted_provider_faults_end_in_answers_or_reasons(tmp_path, fake):
    n = 12
    db = make_store(tmp_path / "s.duckdb", n=n)
    cfg = write_config(tmp_path, fake.url, max_retries=2)
    fake.batch.script.polls = 3                       # in progress for three looks
    fake.fault_for("c0001#0", "429")                  # transient: re-submitted, then answered
    fake.fault_for("c0002#0", "500", "500", "500")    # transient three times: gives up after 2 re-submissions
    fake.fault_for("c0003#0", "400")                  # refused: a failure, not re-submitted
    fake.fault_for("c0004#0", "invalid")              # re-asked with instructor's correction, then answered
    fake.fault_for("c0005#0", "invalid", "invalid", "invalid")   # invalid after 2 re-asks
    fake.fault_for("c0006#0", "malformed")            # an output line that is not JSON: re-submitted
    fake.fault_for("c0007#0", "truncated")            # finish_reason=length: a failure naming max_tokens
    fake.fault_for("c0008#0", "drop")                 # no line at all: re-submitted
    with Store(db) as s:
        submit_batches(s, load_judge(cfg), env=ENV)
        first = collect_batches(s, env=ENV)           # one look: still in progress, nothing stored
        assert first.n_open == 1 and first.n_collected == 0 and first.statuses == {"in_progress": 1}
        assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] == 0
        c = _collect(s)
        runs = s.sql("SELECT status, n_done, n_failed FROM runs").iloc[0].tolist()
        subs = s.sql("SELECT attempt, n_items, state FROM judge_batches ORDER BY attempt, created_at")
    assert runs == ["finished", 8, 4]
    assert subs["attempt"].tolist() == [1, 2, 3] and subs["n_items"].tolist() == [12, 6, 2]
    assert set(subs["state"]) == {"collected"}
    df = signals(db, load_judge(cfg).rater_id)
    why = df[df["status"] == "failed"].groupby("conversation_id")["error"].first().to_dict()
    assert set(why) == {"c0002", "c0003", "c0005", "c0007"}
    assert why["c0002"].startswith("HTTP 500: internal error (gave up after 2 re-submissions; max_retries=2)")
    assert why["c0003"] == "HTTP 400: bad request: unsupported parameter (the provider rejected the request)"
    assert why["c0005"].startswith("invalid reply after 2 re-asks: ValidationError")
    assert why["c0007"].startswith("truncated: the reply stopped at max_tokens=256")
    _stored_as_expected(db, cfg, n, exclude=set(why))
    # the re-ask carried instructor's correction after the invalid reply; plain re-submissions repeat the request
    by_item: dict = {}
    for ln in _uploaded_lines(fake):
        by_item.setdefault(ln["custom_id"], []).append(ln["body"]["messages"])
    assert len(by_item["c0004#0"]) == 2 and len(by_item["c0004#0"][1]) > len(by_item["c0004#0"][0])
    assert "NOT-AN-OPTION" in json.dumps(by_item["c0004#0"][1][len(by_item["c0004#0"][0]):])
    assert by_item["c0001#0"][0] == by_item["c0001#0"][1]
    assert c.n_ok == 8 and c.n_failed == 4
    assert set(fake.batch.answered.values()) == {1}   # no item answered (paid) twice


@pytest.mark.parametrize("outcome", ["expired", "failed"])
def test_expired_and_rejected_batches(tmp_path, fake, outcome):
    n = 10
    db = make_store(tmp_path / "s.duckdb", n=n)
    cfg = write_config(tmp_path, fake.url)
    fake.batch.script.outcomes.append(outcome)
    with Store(db) as s:
        submit_batches(s, load_judge(cfg), env=ENV)
        c = _collect(s)
        status = s.sql("SELECT status FROM runs")["status"][0]
    if outcome == "expired":                          # the first half answered, the rest re-submitted and answered
        assert c.n_ok == n and c.n_resubmitted == n // 2 and status == "finished"
        _stored_as_expected(db, cfg, n)
    else:                                             # rejected at validation: every item fails with the reason
        assert c.n_ok == 0 and c.n_failed == n and c.runs and set(c.runs.values()) == {"failed"}
        df = signals(db)
        assert set(df["status"]) == {"failed"}
        assert df["error"].str.contains("the provider rejected batch batch-00002: scripted validation failure").all()
        r = _cli("--db", db, "judge", "run", cfg, "--batch", "-q")      # failed items are planned again
        assert r.exit_code == 0 and "submitted 10 item(s)" in r.output


def test_cli_submit_wait_show_and_batch_prices(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=6)
    cfg = write_config(tmp_path, fake.url, price_in_per_1m=2.0, price_out_per_1m=8.0)
    r = _cli("--db", db, "judge", "run", cfg, "--batch", "--batch-size", "4")
    assert r.exit_code == 0, r.output
    assert "submitted 6 item(s) in 2 batch(es)" in r.output and "auditor judge collect" in r.output
    r = _cli("--db", db, "judge", "run", cfg, "--batch")        # nothing twice while pending
    assert r.exit_code == 0 and "nothing to submit" in r.output and "6 waiting in earlier batches" in r.output
    r = _cli("--db", db, "judge", "run", cfg, "-q")             # nor synchronously
    assert r.exit_code == 0 and "6 item(s) are waiting in provider batches" in r.output
    assert fake.chat_requests() == []
    r = _cli("--db", db, "judge", "collect", "--wait", "--poll-every", "0.01")
    assert r.exit_code == 0, r.output
    assert "collected 2 batch(es): 6 item(s) answered, 0 failed" in r.output
    assert "estimated: half the synchronous prices" in r.output
    out_lines = [json.loads(x) for f in fake.batch.files.values() if f["purpose"] == "batch_output"
                 for x in f["data"].decode().splitlines()]
    t_in = sum(ln["response"]["body"]["usage"]["prompt_tokens"] for ln in out_lines)
    t_out = sum(ln["response"]["body"]["usage"]["completion_tokens"] for ln in out_lines)
    with Store(db, read_only=True) as s:
        run = s.sql("SELECT * FROM runs WHERE status = 'finished' AND n_done > 0").iloc[0]
    assert (run["tokens_in"], run["tokens_out"]) == (t_in, t_out)
    assert run["cost_usd"] == pytest.approx((t_in * 1.0 + t_out * 4.0) / 1e6)        # half of 2 / 8
    r = _cli("--db", db, "judge", "show", run["run_id"])
    assert r.exit_code == 0 and "Provider batches" in r.output and "batch-00002" in r.output
    assert "(estimated: half the synchronous prices)" in r.output and "batch" in r.output
    # explicit batch prices, and `batch: true` in the config instead of --batch
    db2 = make_store(tmp_path / "t.duckdb", n=3)
    cfg2 = write_config(tmp_path / "b", fake.url, name="priced", price_in_per_1m=2.0, price_out_per_1m=8.0,
                        price_in_per_1m_batch=0.5, price_out_per_1m_batch=1.5, batch=True)
    r = _cli("--db", db2, "judge", "run", cfg2, "--wait", "--poll-every", "0.01", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["submitted"]["n_submitted"] == 3 and out["collected"]["n_ok"] == 3
    with Store(db2, read_only=True) as s:
        run = s.sql("SELECT * FROM runs").iloc[0]
    assert run["status"] == "finished"
    assert run["cost_usd"] == pytest.approx((run["tokens_in"] * 0.5 + run["tokens_out"] * 1.5) / 1e6)


def test_cli_mistakes_end_in_one_line(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=3)
    cfg = write_config(tmp_path, fake.url)
    r = _cli("--db", db, "judge", "collect")
    assert r.exit_code == 1 and r.output.startswith("Error: no batch is waiting to be collected. Fix:")
    r = _cli("--db", db, "judge", "run", cfg, "--wait")
    assert r.exit_code == 1 and "--wait applies to batch runs only. Fix: add --batch" in r.output
    r = _cli("--db", db, "judge", "collect", "r-nope")
    assert r.exit_code == 2 and "no run 'r-nope'" in r.output
    fake.batch.script.unavailable = True
    r = _cli("--db", db, "judge", "run", cfg, "--batch")
    assert r.exit_code == 1 and "has no Batch API (HTTP 404" in r.output and "Fix: run without --batch" in r.output
    assert len(r.output.strip().splitlines()) == 1
    with Store(db, read_only=True) as s:     # no batch can exist: nothing is left waiting, and the run says why
        assert s.sql("SELECT count(*) AS n FROM judge_batches")["n"][0] == 0
        assert s.sql("SELECT status FROM runs")["status"].tolist() == ["failed"]
    fake.batch.script.unavailable = False
    r = _cli("--db", db, "judge", "run", cfg, "--batch", env={})
    assert r.exit_code == 1 and f"${KEY_ENV}, which is not set" in r.output
    fake.batch.script.fail_upload = 3        # HTTP 500 on upload (and the SDK's 2 retries): dropped too
    r = _cli("--db", db, "judge", "run", cfg, "--batch")
    assert r.exit_code == 1 and "could not upload the batch file: HTTP 500: upload failed. Fix:" in r.output
    assert "the items of this batch were not submitted and are planned again" in r.output
    fake.batch.script.reset_create = 1       # created, but we never heard: kept, looked for, adopted by collect
    r = _cli("--db", db, "judge", "run", cfg, "--batch")
    assert r.exit_code == 1 and "could not create the batch: cannot reach" in r.output
    assert "then `auditor judge collect`: it looks for the batch the provider may have created" in r.output
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT state FROM judge_batches")["state"].tolist() == ["preparing"]
    r = _cli("--db", db, "judge", "collect", "--wait", "--poll-every", "0.01")
    assert r.exit_code == 0 and "3 item(s) answered" in r.output and "adopted 1 batch" in r.output, r.output
    for f in db.parent.glob(db.name + "*"):
        assert SECRET.encode() not in f.read_bytes()
    assert all(SECRET.encode() not in f["data"] for f in fake.batch.files.values())


def test_connection_reset_after_create_is_adopted_not_resubmitted(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=5)
    cfg = write_config(tmp_path, fake.url)
    fake.batch.script.reset_create = 1               # the provider created the batch; we never heard its id
    with Store(db) as s:
        with pytest.raises(Exception, match="could not create the batch"):
            submit_batches(s, load_judge(cfg), env=ENV)
        assert s.sql("SELECT state FROM judge_batches")["state"].tolist() == ["preparing"]
        c = _collect(s)
    assert c.n_adopted == 1 and c.n_ok == 5
    assert [op for op, _ in fake.batch.log].count("create") == 1
    assert set(fake.batch.answered.values()) == {1}
    _stored_as_expected(db, cfg, 5)


def _run_and_kill(db, cfg, fake, hook: str, *args):
    """Start `auditor judge <args>` and SIGKILL it from inside the server's hook (no reply is sent meanwhile)."""
    env = {**os.environ, KEY_ENV: SECRET}
    holder: dict = {}

    def kill(*_):
        holder["proc"].send_signal(signal.SIGKILL)
        holder["proc"].wait(30)

    setattr(fake.batch.script, hook, kill)
    holder["proc"] = subprocess.Popen([*AUDITOR, "--db", str(db), "judge", *args], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    holder["proc"].wait(120)
    setattr(fake.batch.script, hook, None)
    assert holder["proc"].returncode == -signal.SIGKILL


@pytest.mark.parametrize("hook", ["on_upload", "after_create", "on_download"])
def test_sigkill_anywhere_loses_nothing_and_pays_nothing_twice(tmp_path, fake, hook):
    n = 8
    db = make_store(tmp_path / "s.duckdb", n=n)
    cfg = write_config(tmp_path, fake.url)
    if hook == "on_download":
        fake.fault_for("c0003#0", "429")             # so that collecting also re-submits
        r = _cli("--db", db, "judge", "run", cfg, "--batch")
        assert r.exit_code == 0
        _run_and_kill(db, cfg, fake, hook, "collect", "--wait", "--poll-every", "0.01")
        with Store(db, read_only=True) as s:         # killed inside the collect: nothing half-stored
            assert s.sql("SELECT count(*) AS n FROM signals")["n"][0] == 0
            assert s.sql("SELECT state FROM judge_batches")["state"].tolist() == ["submitted"]
    else:
        _run_and_kill(db, cfg, fake, hook, "run", str(cfg), "--batch")
        with Store(db, read_only=True) as s:
            assert s.sql("SELECT state FROM judge_batches")["state"].tolist() == ["preparing"]
        r = _cli("--db", db, "judge", "run", cfg, "--batch")        # a new run neither duplicates nor forgets
        assert r.exit_code == 0 and "nothing to submit" in r.output and f"{n} waiting" in r.output
        assert ("adopted 1 batch" in r.output) == (hook == "after_create")
    r = _cli("--db", db, "judge", "collect", "--wait", "--poll-every", "0.01")
    assert r.exit_code == 0, r.output
    creates = [op for op, _ in fake.batch.log].count("create")
    assert creates == (2 if hook == "on_download" else 1)
    assert len(fake.batch.answered) == n and set(fake.batch.answered.values()) == {1}
    _stored_as_expected(db, cfg, n)
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT status FROM runs WHERE n_done > 0")["status"].tolist() == ["finished"]


def test_ctrl_c_while_waiting_keeps_everything_and_collect_resumes(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=4)
    cfg = write_config(tmp_path, fake.url)
    fake.batch.script.polls = 10 ** 6                 # never finishes while we wait
    proc = subprocess.Popen([*AUDITOR, "--db", str(db), "judge", "run", str(cfg), "--batch", "--wait", "--poll-every",
                             "0.05"], env={**os.environ, KEY_ENV: SECRET}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while [op for op, _ in fake.batch.log].count("retrieve") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "`auditor judge collect` resumes" in err, (out, err)
    assert "Traceback" not in err and SECRET not in out + err
    fake.batch.script.polls = 0
    for b in fake.batch.batches.values():
        b["_polls"] = 0
    r = _cli("--db", db, "judge", "collect", "--wait", "--poll-every", "0.01")
    assert r.exit_code == 0 and "4 item(s) answered" in r.output, r.output
    assert [op for op, _ in fake.batch.log].count("create") == 1
    _stored_as_expected(db, cfg, 4)
