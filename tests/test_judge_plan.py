"""A judge run's plan streams: item keys up front, messages page by page, in order, nothing missed or repeated."""

from __future__ import annotations

import json

from auditor import Store
from auditor.judge import load_judge, run_judge
from auditor.judge._records import PAGE_ITEMS, plan_items
from conftest_judge import ENV, conversations, fake, make_store, signals, write_config  # noqa: F401

FAST = {"backoff_base_s": 0.01}


def test_a_plan_streams_its_items_page_by_page_in_order_and_the_run_does_each_once(tmp_path, fake):
    n = 700
    db = make_store(tmp_path / "s.duckdb", n=n)
    cfg1 = write_config(tmp_path, fake.url)
    # the first 300 conversations are judged once; c0005's reply is malformed every time, so it is stored as failed
    fake.fault_fn = lambda key, body: "malformed" if key == "c0005#0" else None
    with Store(db) as s:
        first = run_judge(s, load_judge(cfg1), env=ENV, limit=300, **FAST)
    assert (first.n_done, first.n_failed) == (299, 1)
    fake.fault_fn = None
    cfg2 = write_config(tmp_path, fake.url, samples=2)      # same rater: sample 1 is new for every conversation
    judge = load_judge(cfg2)
    want = [(f"c{i:04d}", smp) for i in range(n) for smp in (0, 1) if not (i < 300 and smp == 0 and i != 5)]
    assert len(want) > 2 * PAGE_ITEMS                       # three pages
    msgs = dict(zip(conversations(n)["conversation_id"], conversations(n)["messages"]))
    with Store(db) as s:
        plan = plan_items(s, judge, samples=2)
        assert (plan.n_conversations, plan.n_planned, plan.n_cached, plan.n_retrying, plan.n_todo) == \
            (n, 2 * n, 299, 1, len(want))
        got = []
        for item in plan.items:
            got.append((item.conversation_id, item.sample))
            assert json.loads(item.conversation["messages"]) == json.loads(msgs[item.conversation_id])
            assert item.replaces_failure == (item.conversation_id == "c0005" and item.sample == 0)
        assert got == want
        plan.close()                                        # closing an exhausted plan is harmless
        again = plan_items(s, judge, samples=2)
        next(iter(again.items))
        again.close()                                       # and so is closing one part-way
        res = run_judge(s, judge, env=ENV, **FAST)
    assert (res.status, res.n_planned, res.n_cached, res.n_done, res.n_failed) == ("finished", 2 * n, 299, len(want), 0)
    df = signals(db, judge.rater_id)
    assert len(df) == 2 * n * 9 and not df.duplicated(["conversation_id", "dimension", "sample"]).any()
    assert (df["status"] != "failed").all()
    assert max(fake.successes().values()) == 1              # no item paid for twice
