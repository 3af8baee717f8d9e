"""Judge runs against the fake OpenAI-compatible server: values, resume, every fault, accounting, isolation."""

from __future__ import annotations

import pandas as pd
import pytest

from auditor import Store
from auditor.judge import load_judge, run_judge
from conftest_judge import ENV, SECRET, expected_label, fake, make_store, signals, write_config  # noqa: F401

FAST = {"backoff_base_s": 0.01}


def _run(db, cfg, **kw):
    with Store(db) as s:
        return run_judge(s, load_judge(cfg), env=ENV, **{**FAST, **kw})


def _assert_no_paid_duplicates(fake):
    dup = {k: n for k, n in fake.successes().items() if n > 1}
    assert not dup, f"requests repeated after a success: {dup}"


def _assert_every_item_stored_once(db, rater, n_items, n_dims):
    df = signals(db, rater)
    assert len(df) == n_items * n_dims
    assert not df.duplicated(["conversation_id", "dimension", "sample"]).any()
    return df


@pytest.mark.parametrize("mode", ["tools", "json", "json_schema"])
def test_run_stores_the_answers_the_server_gave(tmp_path, fake, mode):
    db = make_store(tmp_path / "s.duckdb", n=6)
    cfg = write_config(tmp_path, fake.url, mode=mode, samples=2)
    res = _run(db, cfg)
    judge = load_judge(cfg)
    assert (res.status, res.n_planned, res.n_done, res.n_failed, res.n_cached) == ("finished", 12, 12, 0, 0)
    df = _assert_every_item_stored_once(db, judge.rater_id, 12, 9)
    for r in df.itertuples():
        want = expected_label("llm_rubric", r.conversation_id, r.sample, r.dimension)
        if want == "0":                                   # the rubric's "not answered" code
            assert r.status == "not_answered" and pd.isna(r.label) and pd.isna(r.value)
        else:
            assert r.status == "ok" and r.label == want and r.value == float(want)
        assert r.run_id == res.run_id and r.rationale.startswith("fake rationale")
        assert 0 <= r.confidence <= 1
    # the raw reply is stored once per item, on the row of the rubric's first dimension
    with_raw = df[df["raw"].notna()]
    assert len(with_raw) == 12 and (with_raw["dimension"] == "Q0").all()
    assert with_raw["raw"].str.contains("fake rationale").all()
    # the request carried the rubric's schema in the mode's way, and the key from the environment
    req = fake.chat_requests()[0]
    assert req.auth == f"Bearer {SECRET}"
    if mode == "tools":
        assert req.body["tools"][0]["function"]["name"] == "Ratings"
    elif mode == "json_schema":
        assert req.body["response_format"]["type"] == "json_schema"
    else:
        assert req.body["response_format"] == {"type": "json_object"} and "json_schema" in req.body["messages"][0][
            "content"]
    assert req.body["temperature"] == 0.0 and req.body["max_tokens"] == 256
    with Store(db) as s:
        rater = s.sql("SELECT * FROM raters WHERE rater_id = ?", [judge.rater_id])
        run = s.sql("SELECT * FROM runs WHERE run_id = ?", [res.run_id])
    assert rater["kind"][0] == "judge" and rater["config_hash"][0] == judge.config_hash
    assert run["status"][0] == "finished" and run["config_hash"][0] == judge.config_hash
    assert run["tokens_in"][0] == res.tokens_in > 0 and run["tokens_out"][0] == res.tokens_out > 0
    assert run["cost_usd"][0] == pytest.approx((res.tokens_in * 1.0 + res.tokens_out * 2.0) / 1e6)
    _assert_no_paid_duplicates(fake)


def test_rerun_requests_nothing_and_more_samples_request_only_the_new_ones(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=5)
    cfg = write_config(tmp_path, fake.url)
    assert _run(db, cfg).n_done == 5
    n = len(fake.chat_requests())
    again = _run(db, cfg)
    assert (again.n_cached, again.n_done, again.status) == (5, 0, "finished")
    assert len(fake.chat_requests()) == n
    # samples is not in the hash: raising it reuses sample 0 and asks only for sample 1
    cfg2 = write_config(tmp_path, fake.url, samples=2)
    assert load_judge(cfg2).rater_id == load_judge(cfg).rater_id
    more = _run(db, cfg2)
    assert (more.n_planned, more.n_cached, more.n_done) == (10, 5, 5)
    _assert_no_paid_duplicates(fake)


def test_limit_and_where_select_conversations(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=10)
    cfg = write_config(tmp_path, fake.url)
    res = _run(db, cfg, limit=3)
    assert res.n_planned == 3
    assert sorted(signals(db)["conversation_id"].unique()) == ["c0000", "c0001", "c0002"]
    res = _run(db, cfg, where="user_kind = 'human' AND task_id IN ('t0', 't1', 't2')")
    # c0000 (t0), c0002 (t2), c0006 (t1) are human on those tasks; c0000 and c0002 are already stored
    assert (res.n_planned, res.n_cached, res.n_done) == (3, 2, 1)
    with pytest.raises(Exception, match="--where"):
        _run(db, cfg, where="no_such_column = 1")


def test_transient_faults_are_retried_and_end_stored(tmp_path, fake):
    """429 (honouring Retry-After), 500, a malformed body and a hang past the timeout: retried, then answered."""
    db = make_store(tmp_path / "s.duckdb", n=6)
    cfg = write_config(tmp_path, fake.url, timeout_s=0.5, max_retries=3)
    fake.fault_for("c0000#0", ("429", 0.4))
    fake.fault_for("c0001#0", "500", "500")
    fake.fault_for("c0002#0", "malformed")
    fake.fault_for("c0003#0", ("hang", 3))
    fake.fault_for("c0004#0", "429", "500", "malformed")
    res = _run(db, cfg)
    assert (res.n_done, res.n_failed) == (6, 0)
    _assert_every_item_stored_once(db, load_judge(cfg).rater_id, 6, 9)
    assert (signals(db)["status"] != "failed").all()
    reqs = [r for r in fake.chat_requests() if r.key == "c0000#0"]
    assert [r.outcome for r in reqs] == ["429", "ok"]
    assert reqs[1].t - reqs[0].t >= 0.4              # waited at least Retry-After
    assert [r.outcome for r in fake.chat_requests() if r.key == "c0003#0"] == ["hang", "ok"]
    _assert_no_paid_duplicates(fake)


def test_invalid_replies_are_reasked_then_recorded_as_failed_with_raw_and_reason(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=4)
    cfg = write_config(tmp_path, fake.url, max_retries=2)
    fake.fault_for("c0000#0", "invalid", "bad_json")               # fixed by the re-asks
    fake.fault_for("c0001#0", "invalid", "invalid", "invalid")     # still invalid after 2 re-asks
    fake.fault_for("c0002#0", "truncated")                        # finish_reason=length: not re-asked
    fake.fault_for("c0003#0", "500", "500", "500")                # transport retries exhausted
    res = _run(db, cfg)
    assert (res.n_done, res.n_failed) == (1, 3)
    df = _assert_every_item_stored_once(db, load_judge(cfg).rater_id, 4, 9)
    by = df.groupby("conversation_id")
    ok = by.get_group("c0000")
    assert (ok["status"] != "failed").all()
    reask = [r for r in fake.chat_requests() if r.key == "c0000#0"]
    assert [r.outcome for r in reask] == ["invalid", "bad_json", "ok"]
    # instructor's re-ask sends the validation error back as a tool message
    assert any(m.get("role") == "tool" and "Validation Error" in (m.get("content") or "")
               for m in reask[1].body["messages"])
    bad = by.get_group("c0001")
    assert (bad["status"] == "failed").all() and bad["label"].isna().all() and bad["value"].isna().all()
    assert "NOT-AN-OPTION" in bad["raw"].iloc[0]
    assert bad["error"].iloc[0].startswith("invalid reply after 2 re-asks") and "Q0" in bad["error"].iloc[0]
    trunc = by.get_group("c0002")
    assert (trunc["status"] == "failed").all() and "truncated" in trunc["error"].iloc[0]
    assert "max_tokens=256" in trunc["error"].iloc[0] and trunc["raw"].iloc[0]
    assert len([r for r in fake.chat_requests() if r.key == "c0002#0"]) == 1
    http = by.get_group("c0003")
    assert "HTTP 500" in http["error"].iloc[0] and "gave up after 2 retries" in http["error"].iloc[0]
    assert len([r for r in fake.chat_requests() if r.key == "c0003#0"]) == 3
    # the run record and `show` carry the reasons
    with Store(db) as s:
        from auditor.judge._records import get_run

        rec = get_run(s, res.run_id)
    assert rec["n_failed"] == 3 and {f["items"] for f in rec["failures"]} == {1}
    assert sorted(f["reason"] for f in rec["failures"]) == ["HTTP 500", "invalid reply after 2 re-asks", "truncated"]
    _assert_no_paid_duplicates(fake)

    # failures are retried by the next run and replaced; successes are not asked again
    before = fake.successes()
    again = _run(db, cfg)
    assert (again.n_cached, again.n_done, again.n_failed) == (1, 3, 0)
    df = _assert_every_item_stored_once(db, load_judge(cfg).rater_id, 4, 9)
    assert (df["status"] != "failed").all()
    assert fake.successes()["c0000#0"] == before["c0000#0"] == 1
    _assert_no_paid_duplicates(fake)


def test_a_reply_that_always_hangs_becomes_a_timeout_failure(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=3)
    cfg = write_config(tmp_path, fake.url, timeout_s=0.3, max_retries=1)
    fake.fault_for("c0001#0", ("hang", 10), ("hang", 10))
    res = _run(db, cfg)
    hung = [r.t for r in fake.chat_requests() if r.key == "c0001#0"]
    assert len(hung) == 2 and hung[1] - hung[0] < 2   # gave up on the first after 0.3 s, not 10 s
    assert (res.n_done, res.n_failed) == (2, 1)
    df = signals(db)
    err = df[df.conversation_id == "c0001"]["error"].iloc[0]
    assert err.startswith("timeout: no reply within timeout_s=0.3 s") and "gave up after 1 retry" in err


def test_retry_after_pauses_all_workers(tmp_path, fake):
    """A Retry-After on one request holds back the other workers' next requests too (a shared gate)."""
    db = make_store(tmp_path / "s.duckdb", n=8)
    cfg = write_config(tmp_path, fake.url, concurrency=4, max_retries=3)
    fake.latency = 0.2                               # answers take 0.2 s; the 429 comes back at once
    fake.fault_next(("429", 0.4), 1)
    res = _run(db, cfg)
    assert res.n_done == 8
    reqs = fake.chat_requests()
    first = reqs[:4]                                 # the four workers' first requests, sent before any reply
    r429 = next(r for r in reqs if r.outcome == "429")
    assert r429 in first
    later = [r.t - r429.t for r in reqs if r not in first]   # every request sent after the 429 came back
    assert len(later) == 5 and min(later) >= 0.39, later


def test_refused_key_stops_the_run(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=6)
    cfg = write_config(tmp_path, fake.url)
    fake.fault_all("401")
    res = _run(db, cfg)
    assert res.status == "failed" and "HTTP 401" in res.error and "$AUDITOR_TEST_KEY" in res.error
    assert SECRET not in res.error and res.n_done == 0
    assert len(signals(db)) == 0                     # nothing to retry later: the next run asks again
    with Store(db) as s:
        assert s.sql("SELECT status FROM runs")["status"].tolist() == ["failed"]
    fake.fault_all(None)
    assert _run(db, cfg).n_done == 6


def test_unreachable_endpoint_stops_the_run(tmp_path):
    db = make_store(tmp_path / "s.duckdb", n=8)
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", timeout_s=0.5, max_retries=0, concurrency=2)
    res = _run(db, cfg)
    assert res.status == "failed" and "cannot reach http://127.0.0.1:9/v1" in res.error
    assert res.n_failed < 8                           # stopped early, not after trying everything


def test_missing_key_fails_before_any_request(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=2)
    cfg = write_config(tmp_path, fake.url)
    with Store(db) as s, pytest.raises(Exception, match="AUDITOR_TEST_KEY, which is not set"):
        run_judge(s, load_judge(cfg), env={})
    assert fake.chat_requests() == []


def test_two_configs_on_one_store_keep_their_signals_apart(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=4)
    a = write_config(tmp_path / "a", fake.url, name="judge-a")
    b = write_config(tmp_path / "b", fake.url, name="judge-b", rubric="tau_usi", role="simulator",
                     template="Survey for {{ conversation.id }}:\n{{ transcript }}")
    ra, rb = _run(db, a), _run(db, b)
    ja, jb = load_judge(a), load_judge(b)
    assert ra.n_done == rb.n_done == 4
    with Store(db) as s:
        per = s.sql("SELECT rater_id, rubric, count(*) AS n, count(DISTINCT run_id) AS runs FROM signals GROUP BY ALL "
                    "ORDER BY 1")
        kinds = dict(s.sql("SELECT rater_id, kind FROM raters").itertuples(index=False))
        runs = s.sql("SELECT rater_id, config_hash FROM runs ORDER BY started_at")
    assert per.to_dict("records") == [
        {"rater_id": ja.rater_id, "rubric": "llm_rubric", "n": 36, "runs": 1},
        {"rater_id": jb.rater_id, "rubric": "tau_usi", "n": 32, "runs": 1}]
    assert kinds == {ja.rater_id: "judge", jb.rater_id: "simulator"}
    assert runs["config_hash"].tolist() == [ja.config_hash, jb.config_hash]
    # a changed prompt is a new config: a new rater, asked again, the old signals untouched
    a2 = write_config(tmp_path / "a", fake.url, name="judge-a", template="Rate {{ conversation.id }}\n{{ transcript }}")
    ra2 = _run(db, a2)
    assert ra2.n_done == 4 and load_judge(a2).rater_id != ja.rater_id
    assert len(signals(db, ja.rater_id)) == 36


def test_progress_callback_and_no_key_in_store_bytes(tmp_path, fake):
    db = make_store(tmp_path / "s.duckdb", n=5)
    cfg = write_config(tmp_path, fake.url, price_in_per_1m=None, price_out_per_1m=None)
    fake.fault_for("c0001#0", "500", "500", "500")
    fake.fault_for("c0002#0", "invalid", "invalid", "invalid")
    seen = []
    res = _run(db, cfg, progress=lambda p: seen.append((p.done, p.failed, p.cached, p.to_do, p.cost_usd)))
    assert seen[-1] == (3, 2, 0, 5, None) and res.cost_usd is None
    assert [d + f for d, f, *_ in seen] == sorted(d + f for d, f, *_ in seen)
    for f in tmp_path.glob("s.duckdb*"):
        assert SECRET.encode() not in f.read_bytes(), f


def test_judges_the_demo_store_with_the_example_config(tmp_path, fake, demo_db):
    """The example LLM-Rubric judge runs on the store `auditor demo` builds (pointed at the fake server)."""
    import shutil

    import yaml

    from conftest_judge import KEY_ENV

    ex = tmp_path / "ex"
    shutil.copytree(__import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "judges", ex)
    cfg = yaml.safe_load((ex / "llm_rubric_judge.yaml").read_text())
    cfg.update(base_url=fake.url, api_key_env=KEY_ENV)
    (ex / "llm_rubric_judge.yaml").write_text(yaml.safe_dump(cfg))
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    res = _run(db, ex / "llm_rubric_judge.yaml", limit=10, concurrency=5)
    assert (res.status, res.n_done) == ("finished", 10)
    with Store(db) as s:
        paired = s.sql("SELECT count(*) AS n FROM paired WHERE llm_rater = ?", [load_judge(
            ex / "llm_rubric_judge.yaml").rater_id])["n"][0]
    assert paired > 0                                 # the new judge pairs with the demo's human ratings
