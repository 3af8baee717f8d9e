"""Endpoint faults of issue 17, each through the real CLI against the fake server (real HTTP on 127.0.0.1).

An HTML page with status 200, a JSON body without ``choices``, a connection reset mid-reply, nothing listening, a
long ``Retry-After``, a 50 MB reply (with a Content-Length and chunked), a slow-loris reply and a hung connection:
each ends in one line naming what happened and the fix, a non-zero exit when no item succeeded, bounded memory and
wall time, and a run summary that says where the time went. The bounds are generous correctness bounds (a run
that reads 50 MB whole peaked at 3-5 GB; one that ignores ``timeout_s`` runs for minutes), not benchmarks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor import Store
from conftest_judge import ENV, SECRET, fake, make_store, write_config  # noqa: F401

AUDITOR = str(Path(sys.executable).parent / "auditor")
# Runs the CLI as this wrapper's only child, then reports the child's peak RSS (KiB on Linux) on its last line.
_MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "sys.stderr.write('\\nPEAK_RSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
            "sys.exit(r.returncode)")
RSS_BOUND_MB = 1024
WALL_BOUND_S = 30


def _judge_run(db: Path, cfg: Path, *extra: str, timeout: float = 120):
    """(completed process, peak RSS of the CLI in MB, wall seconds) for `auditor judge run CONFIG`."""
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-c", _MEASURE, AUDITOR, "--db", str(db), "judge", "run", str(cfg), *extra],
                       capture_output=True, text=True, timeout=timeout, env={**os.environ, **ENV, "COLUMNS": "200"})
    wall = time.monotonic() - t
    m = re.search(r"PEAK_RSS_KB (\d+)\s*$", r.stderr)
    assert m, r.stderr
    r.stderr = r.stderr[:m.start()]
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert SECRET not in r.stdout + r.stderr
    return r, int(m.group(1)) / 1024, wall


def _error_line(r) -> str:
    lines = [x for x in r.stderr.splitlines() if x.startswith("Error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _failed_rows(db: Path):
    with Store(db, read_only=True) as s:
        return s.sql("SELECT conversation_id, sample, dimension, error, raw FROM signals WHERE status = 'failed' "
                     "ORDER BY 1, 2, 3")


def test_an_html_page_with_status_200_is_named_and_kept(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=2)
    cfg = write_config(tmp_path, fake.url, max_retries=2, concurrency=1)
    fake.fault_all("html")
    r, _, _ = _judge_run(db, cfg, "-q")
    assert r.returncode == 1
    line = _error_line(r)
    assert "all 2 item(s) failed" in line and "the endpoint returned an HTML page" in line
    assert "first bytes: '<!DOCTYPE html>" in line and "ends in /v1" in line and "No choices" not in line
    assert len(fake.chat_requests()) == 2                    # neither re-asked nor retried: an HTML page stays one
    rows = _failed_rows(db)
    raws = rows["raw"].dropna()
    assert len(raws) == 2 and raws.str.startswith("<!DOCTYPE html>").all()   # the body, kept once per item
    assert raws.str.len().max() <= 2000
    assert raws.str.contains("<!-- Bearer [redacted] -->", regex=False).all()   # the page echoed the key
    for f in tmp_path.glob("s.duckdb*"):
        assert SECRET.encode() not in f.read_bytes(), f


def test_a_json_body_without_choices_is_named(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=1)
    cfg = write_config(tmp_path, fake.url, max_retries=1)
    fake.fault_all("no_choices")
    r, _, _ = _judge_run(db, cfg, "-q")
    line = _error_line(r)
    assert r.returncode == 1 and "a body without choices" in line and "upstream model overloaded" in line
    assert _failed_rows(db)["raw"].dropna().str.contains("upstream model overloaded").all()


def test_a_reset_mid_reply_is_not_called_an_unreachable_server(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=5)
    cfg = write_config(tmp_path, fake.url, max_retries=1, concurrency=1)
    fake.fault_all("reset")
    r, _, _ = _judge_run(db, cfg, "-q")
    line = _error_line(r)
    assert r.returncode == 1 and "closed the connection mid-reply" in line, line
    assert "start the server" not in line and "cannot reach" not in line
    assert len(fake.chat_requests()) == 10                   # reachable: every item tried (and retried once)
    errors = _failed_rows(db)["error"]
    assert errors.str.contains(f"the server at 127.0.0.1:{fake.port} closed the connection mid-reply").all()
    # against a port where nothing listens, the words are different, and the run stops
    dead = write_config(tmp_path / "dead", "http://127.0.0.1:9/v1", name="dead", max_retries=0, concurrency=1)
    r, _, _ = _judge_run(db, dead, "-q")
    line = _error_line(r)
    assert r.returncode == 1 and "cannot reach http://127.0.0.1:9/v1" in line
    assert "nothing listens on 127.0.0.1:9 (connection refused)" in line and "start the server" in line


def test_every_item_failing_exits_non_zero_with_the_first_reason(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=3)
    cfg = write_config(tmp_path, fake.url, max_retries=1, concurrency=1)
    fake.fault_all("invalid")
    r, _, _ = _judge_run(db, cfg, "-q")
    line = _error_line(r)
    assert r.returncode == 1 and "all 3 item(s) failed; the first: invalid reply after 1 re-ask" in line
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT status FROM runs")["status"].tolist() == ["failed"]
    fake.fault_all(None)                                     # one success is a run that worked: exit 0 ...
    fake.fault_for("c0001#0", "invalid", "invalid")
    r, _, _ = _judge_run(db, cfg, "-q", "--max-failure-rate", "0.5")
    assert r.returncode == 0 and "2 done, 1 failed" in r.stdout, r.stdout + r.stderr
    with Store(db) as s:                                     # ... unless more than --max-failure-rate failed
        s.delete_signals("true")
    fake.fault_for("c0001#0", "invalid", "invalid")
    r, _, _ = _judge_run(db, cfg, "-q")
    assert r.returncode == 1 and "1 of 3 requested item(s) failed (33.3% > --max-failure-rate 5.0%)" in \
        _error_line(r)


@pytest.mark.slow   # over 10 s (a whole CLI session): CI runs it with -m slow
def test_a_long_retry_after_is_announced(tmp_path, fake):
    """The server asks for 2.5 s: the wait is said on stderr (with and without -q), and counted in the summary."""
    db = make_store(tmp_path / "s.duckdb", n=2)
    cfg = write_config(tmp_path, fake.url, max_retries=2, concurrency=1)
    fake.fault_for("c0000#0", ("429", 2.5))
    r, _, wall = _judge_run(db, cfg)
    assert r.returncode == 0, r.stderr
    note = re.search(r"note waiting (\d+\.\d) s before retry 1 of c0000#0: the server asked \(HTTP 429, Retry-After "
                     r"2\.5 s\)", r.stderr)
    assert note and 2.5 <= float(note.group(1)) <= 2.8, r.stderr
    waits = re.search(r"requests (\d+\.\d) s, retry waits (\d+\.\d) s", r.stdout)
    assert waits and float(waits.group(2)) >= 2.5, r.stdout
    fake.fault_for("c0001#0", ("429", 2.5))
    with Store(db) as s:
        s.delete_signals("s.conversation_id = 'c0001'")
    r, _, _ = _judge_run(db, cfg, "-q")
    assert r.returncode == 0 and "waiting 2." in r.stderr and "the server asked (HTTP 429" in r.stderr


@pytest.mark.parametrize("kind", ["huge", "huge_chunked"])
def test_a_50_mb_reply_is_refused_with_bounded_memory(tmp_path, fake, kind):
    db = make_store(tmp_path / "s.duckdb", n=2)
    cfg = write_config(tmp_path, fake.url, max_retries=2, concurrency=2)
    fake.fault_for("c0000#0", kind)
    r, rss_mb, wall = _judge_run(db, cfg, "-q", "--max-failure-rate", "1")
    print(f"{kind}: peak RSS {rss_mb:.0f} MB, wall {wall:.1f} s")
    assert rss_mb < RSS_BOUND_MB and wall < WALL_BOUND_S
    assert r.returncode == 0 and "1 done, 1 failed" in r.stdout, r.stdout + r.stderr
    rows = _failed_rows(db)
    assert set(rows["conversation_id"]) == {"c0000"}
    err = rows["error"].iloc[0]
    assert err.startswith("reply too large: over max_reply_bytes=1,000,000") and "Fix: lower max_tokens" in err
    assert ("52,4" in err) if kind == "huge" else ("chunked" in err)
    raws = rows["raw"].dropna()
    assert len(raws) == 1 and len(raws.iloc[0]) <= 2000 and raws.iloc[0].startswith('{"id": "chatcmpl-')
    assert len([q for q in fake.chat_requests() if q.key == "c0000#0"]) == 1     # not asked again
    assert sum(f.stat().st_size for f in tmp_path.glob("s.duckdb*")) < 20 * 2**20
    # a larger cap, when such replies are expected, is a config field
    fake.fault_for("c0000#0", ("huge", 3 * 2**20))
    big = write_config(tmp_path, fake.url, max_retries=0, max_reply_bytes=2 * 2**20, filename="big.yaml")
    r, _, _ = _judge_run(db, big, "-q")
    assert "max_reply_bytes=2,097,152" in _failed_rows(db)["error"].iloc[0]


@pytest.mark.parametrize("kind", ["slowloris", "hang"])
def test_timeout_bounds_a_slow_or_hung_reply_and_the_summary_says_where_time_went(tmp_path, fake, kind):
    db = make_store(tmp_path / "s.duckdb", n=1)
    cfg = write_config(tmp_path, fake.url, timeout_s=1, max_retries=1, concurrency=1)
    fake.fault_all((kind, 0.2 if kind == "slowloris" else 60))   # a byte every 0.2 s / no reply for a minute
    r, rss_mb, wall = _judge_run(db, cfg)
    print(f"{kind}: peak RSS {rss_mb:.0f} MB, wall {wall:.1f} s")
    assert wall < WALL_BOUND_S and rss_mb < RSS_BOUND_MB
    line = _error_line(r)
    assert r.returncode == 1 and "timeout: no reply within timeout_s=1 s (gave up after 1 retry" in line
    m = re.search(r"time: start-up (\d+\.\d) s, requests (\d+\.\d) s, retry waits (\d+\.\d) s", r.stdout)
    assert m, r.stdout
    assert 1.9 <= float(m.group(2)) < 10                     # two requests of timeout_s=1 each
    fake.release()


def test_fault_kinds_are_known_to_the_fake():
    from fake_openai import FAULTS

    assert {"html", "no_choices", "reset", "huge", "huge_chunked", "slowloris"} <= set(FAULTS)


def test_connection_failures_are_told_apart():
    """Refused, unresolvable and mid-reply failures, as the HTTP stack chains them, in words."""
    import socket

    import httpx2
    import openai

    from auditor.judge._transport import connection_failure

    def chain(*excs):
        for outer, inner in zip(excs, excs[1:]):
            outer.__cause__ = inner
        return excs[0]

    req = httpx2.Request("POST", "http://h.example:8000/v1/chat/completions")
    url = "http://h.example:8000/v1"
    refused = chain(openai.APIConnectionError(request=req), httpx2.ConnectError("All connection attempts failed"),
                    ConnectionRefusedError(111, "Connect call failed"))
    dns = chain(openai.APIConnectionError(request=req), httpx2.ConnectError("Name or service not known"),
                socket.gaierror(-2, "Name or service not known"))
    cut = chain(openai.APIConnectionError(request=req), httpx2.RemoteProtocolError("peer closed connection"))
    assert connection_failure(refused, url) == ("nothing listens on h.example:8000 (connection refused)", True)
    what, down = connection_failure(dns, url)
    assert down and what.startswith("cannot resolve the host name 'h.example'")
    what, down = connection_failure(cut, url)
    assert not down and "closed the connection mid-reply (peer closed connection)" in what
