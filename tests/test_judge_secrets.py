"""No secret of a judge run reaches the store, its WAL, stdout or stderr (issue 17's reproductions).

The API key travels in ``Authorization``; an endpoint that echoes request headers in a 429 body with a
``Retry-After`` above the cap took the branch that skipped redaction. A base URL may carry a password and a query
key (``http://user:PASS@host/v1?api-key=...``). Each fault is run through the real CLI against the fake server,
then the secrets are looked for in every file of the store and in the command's output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from auditor import Store
from auditor.judge import load_judge, run_judge
from conftest_judge import ENV, KEY_ENV, SECRET, fake, make_store, write_config  # noqa: F401

PASSWORD = "pw-Hq7vR2xLs9Kd"
QUERY_KEY = "qk-Bn4tY8mWc3Zp"
AUDITOR = str(Path(sys.executable).with_name("auditor"))


def _no_secret_anywhere(folder: Path, *texts: str, secrets=(SECRET, PASSWORD, QUERY_KEY)) -> None:
    for f in folder.glob("s.duckdb*"):
        data = f.read_bytes()
        for s in secrets:
            assert s.encode() not in data, (f, s)
    for t in texts:
        for s in secrets:
            assert s not in t, s


def _cli(db: Path, cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([AUDITOR, "--db", str(db), "judge", "run", str(cfg)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **ENV})


def test_an_echoed_authorization_header_in_a_long_retry_after_is_redacted(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=4)
    cfg = write_config(tmp_path, fake.url, max_retries=1)
    fake.fault_all("429_echo")
    r = _cli(db, cfg)
    assert fake.chat_requests()[0].auth == f"Bearer {SECRET}"           # the key was sent, and echoed back
    with Store(db, read_only=True) as s:
        errors = s.sql("SELECT error, raw FROM signals WHERE status = 'failed'")
        meta = s.sql("SELECT metadata::VARCHAR AS m FROM runs")["m"].tolist()
    assert len(errors) > 0 and errors["error"].str.contains("asked to wait").all()
    raws = errors["raw"].dropna()                                        # one raw reply per item, not per dimension
    assert len(raws) == len(errors) // 9 and raws.str.contains("[redacted]", regex=False).all()
    _no_secret_anywhere(tmp_path, r.stdout, r.stderr, *errors["error"], *errors["raw"].dropna(), *meta)


def test_a_password_and_a_query_key_in_base_url_never_show(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=3)
    host = fake.url.split("://", 1)[1]
    url = f"http://user:{PASSWORD}@{host}?api-key={QUERY_KEY}"
    cfg = write_config(tmp_path, url, max_retries=0)
    fake.fault_all("500")                                   # errors quote the endpoint: none may quote its secrets
    r = _cli(db, cfg)
    with Store(db, read_only=True) as s:
        errors = s.sql("SELECT error FROM signals WHERE status = 'failed'")["error"].tolist()
        cfg_rows = s.sql("SELECT base_url, spec::VARCHAR AS spec FROM judge_configs")
    assert errors and all("HTTP 500" in e for e in errors)
    assert cfg_rows["base_url"][0].endswith(host) or host in cfg_rows["base_url"][0]
    _no_secret_anywhere(tmp_path, r.stdout, r.stderr, *errors, *cfg_rows["spec"])
    # an unreachable endpoint with secrets in its URL: the run stops, naming the URL without them
    dead = tmp_path / "dead"
    dead.mkdir()
    cfg2 = write_config(dead, f"http://user:{PASSWORD}@127.0.0.1:9/v1?api-key={QUERY_KEY}", timeout_s=5,
                        max_retries=0, name="dead", concurrency=1)
    with Store(db) as s:
        res = run_judge(s, load_judge(cfg2), env=ENV, backoff_base_s=0.01)
    assert res.status == "failed" and "cannot reach http://127.0.0.1:9/v1" in res.error
    _no_secret_anywhere(tmp_path, res.error)
    assert yaml.safe_load(cfg2.read_text())["base_url"].startswith("http://user:")   # only the user's file has it


def test_a_run_against_an_endpoint_that_is_down_fails_even_when_it_is_short(tmp_path):
    db = make_store(tmp_path / "s.duckdb", n=2)                      # fewer items than the give-up streak
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", timeout_s=5, max_retries=0, concurrency=8)
    r = _cli(db, cfg)
    assert r.returncode == 1 and "cannot reach http://127.0.0.1:9/v1" in r.stdout + r.stderr
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT status FROM runs")["status"].tolist() == ["failed"]
