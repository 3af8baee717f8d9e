"""A real `auditor serve` process under load, killed, raced, and beside other commands on the same store.

Every answer acknowledged with a 200 must be in the store exactly once, after a clean stop and after SIGKILL; a
submission racing a close is stored whole or refused with 409; other commands on the held store end in one line
naming the server. (Submission latency under this load is measured by benchmarks/bench_serve.py, not here.)
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from _campaigns import (Server, answers_for, check_acked_stored, copy_of, free_port, judges_store, run_cli,
                        run_load)
from auditor import Store
from auditor.campaign import create_campaign


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    return judges_store(tmp_path_factory.mktemp("serve") / "base.duckdb", xss=False)


def _campaign(base_db, tmp_path, n_annotators=50, overlap=9, name="load"):
    db = copy_of(base_db, tmp_path)
    with Store(db) as s:
        made = create_campaign(s, name, rubric="llm_rubric", overlap=overlap,
                               annotators=[f"ann{i:02d}" for i in range(n_annotators)])
    return db, made


@pytest.mark.slow
def test_fifty_concurrent_annotators_every_acknowledged_answer_stored_once(base_db, tmp_path):
    db, made = _campaign(base_db, tmp_path)
    with Server(db) as srv:
        acked, latencies, errors = run_load(srv.url, made.annotators, limit=40)
    assert errors == [] and len(acked) == 50 * 40
    assert check_acked_stored(db, acked) == 50 * 40 * 9
    log = srv.log.read_text()
    assert "/api/a/<token>/next 200" in log
    for secret in [*made.annotators.values(), made.admin_token]:
        assert secret not in log


def test_sigkill_mid_load_loses_no_acknowledged_answer_and_the_campaign_resumes(base_db, tmp_path):
    db, made = _campaign(base_db, tmp_path)
    srv = Server(db).start()
    acked, box = [], {}
    loader = threading.Thread(target=lambda: box.update(errors=run_load(srv.url, made.annotators, limit=40,
                                                                        acked=acked)[2]))
    loader.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(acked) < 150:
        time.sleep(0.01)
    srv.kill()                                       # mid-load: requests in flight are cut off
    loader.join(timeout=120)
    assert 150 <= len(acked) < 2000 and box["errors"], "the kill should have cut the load short"
    n = check_acked_stored(db, acked)                # every 200 survived the kill, exactly once
    assert n >= len(acked) * 9
    with Server(db) as srv2:                         # restart: each annotator resumes where they stopped
        more, _, errors = run_load(srv2.url, made.annotators, limit=2)
        assert errors == [] and len(more) == 100
        again = {(a, i) for a, i, _ in acked}
        assert not again & {(a, i) for a, i, _ in more}          # nothing already answered is served again
    check_acked_stored(db, acked + more)


def test_a_submission_racing_close_is_stored_whole_or_refused(base_db, tmp_path):
    db, made = _campaign(base_db, tmp_path, n_annotators=20, overlap=4, name="race")
    results: list[tuple[str, int, int]] = []
    with Server(db) as srv:
        admin = httpx.get(f"{srv.url}/api/campaigns/race", headers={"Authorization": f"Bearer {made.admin_token}"})
        form_token = admin.json()["form_token"]
        go = threading.Event()

        def annotate(name, token):
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                go.wait()
                for _ in range(30):
                    r = c.get(f"/api/a/{token}/next")
                    if r.status_code != 200:
                        return
                    item = r.json()
                    r = c.post(f"/api/a/{token}/items/{item['item_id']}",
                               json={"answers": answers_for(name, item["item_id"])},
                               headers={"X-Form-Token": item["form_token"]})
                    results.append((name, item["item_id"], r.status_code))
                    if r.status_code == 409:
                        return

        threads = [threading.Thread(target=annotate, args=kv) for kv in made.annotators.items()]
        for t in threads:
            t.start()
        go.set()
        time.sleep(1.0)
        r = httpx.post(f"{srv.url}/api/campaigns/race/close",
                       headers={"Authorization": f"Bearer {made.admin_token}", "X-Form-Token": form_token})
        assert r.status_code == 200
        for t in threads:
            t.join(timeout=120)
    codes = {c for _, _, c in results}
    assert codes <= {200, 409} and 200 in codes and 409 in codes
    with Store(db, read_only=True) as s:
        per = dict(((a, i), n) for a, i, n in s.con.execute(
            "SELECT annotator, item_id, count(*) FROM campaign_answers GROUP BY 1, 2").fetchall())
        signals = s.con.execute("SELECT count(*) FROM signals s JOIN raters r USING (rater_id) WHERE "
                                "r.kind = 'human'").fetchall()[0][0]
    for name, item, code in results:
        assert per.get((name, item), 0) == (9 if code == 200 else 0), (name, item, code)   # whole, or nothing
    assert signals == 9 * sum(1 for *_, c in results if c == 200)


def test_other_commands_on_the_held_store_wait_then_name_the_server(base_db, tmp_path):
    db, made = _campaign(base_db, tmp_path, n_annotators=2, overlap=1, name="held")
    data = tmp_path / "more.csv"
    data.write_text("conversation_id,dimension,rater_id,rater_kind,label\nc1,Q0,zed,human,2\n")
    with Server(db) as srv:
        pid = srv.proc.pid
        cmds = [["audit"], ["sql", "SELECT 1"], ["report", "--out", str(tmp_path / "r.html")], ["compare"],
                ["ingest", "signals", str(data), "--rubric", "llm_rubric"], ["annotate", "close", "held"],
                ["annotate", "list"]]
        def one(cmd):                          # the seven commands wait side by side (each its own process)
            t0 = time.monotonic()
            return cmd, run_cli(db, "--wait", "1", *cmd), time.monotonic() - t0

        with ThreadPoolExecutor(len(cmds)) as pool:
            results = list(pool.map(one, cmds))
        for cmd, r, took in results:
            assert r.returncode == 1, (cmd, r.stdout, r.stderr)
            err = r.stderr.strip()
            assert len(err.splitlines()) == 1 and "Traceback" not in err, (cmd, err)
            assert f"process {pid}" in err and "auditor" in err and "serve" in err, err
            assert "Fix:" in err and took >= 1.0
        # the server keeps working meanwhile
        tok = made.annotators["ann00"]
        assert httpx.get(f"{srv.url}/api/a/{tok}/next").status_code == 200
    r = run_cli(db, "annotate", "list", "--json")                   # and after it stops, the store is free
    assert r.returncode == 0 and '"held"' in r.stdout


def test_serve_on_a_busy_port_or_a_held_store_says_so_in_one_line(base_db, tmp_path):
    db, _ = _campaign(base_db, tmp_path, n_annotators=2, overlap=1, name="busy")
    with Server(db) as srv:
        r = run_cli(db, "serve", "--port", str(srv.port))
        assert r.returncode == 1 and "cannot listen on 127.0.0.1" in r.stderr and "Fix:" in r.stderr
        r = run_cli(db, "--wait", "0.5", "serve", "--port", str(free_port()))     # a free port, the store held
        assert r.returncode == 1 and f"process {srv.proc.pid}" in r.stderr and "Traceback" not in r.stderr
