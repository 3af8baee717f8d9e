"""Campaigns in the store: creation, answers as human signals, edits with history, closing, the audit after."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _campaigns import JUDGE, copy_of, judges_store, run_cli
from auditor import Store
from auditor.audit import audit
from auditor.campaign import (campaign_audit, close_campaign, create_campaign, item_view, next_item, progress,
                              resolve_annotator, skip, submit)
from auditor.errors import AuditorError, CampaignClosed, InvalidAnswer, NotAllowed


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    return judges_store(tmp_path_factory.mktemp("campaigns") / "base.duckdb")


@pytest.fixture
def store(base_db, tmp_path):
    with Store(copy_of(base_db, tmp_path)) as s:
        yield s


ALL3 = {f"Q{i}": "3" for i in range(9)}


def _answer_all(store, made, pick):
    """Every annotator answers every item; ``pick(annotator, conversation)`` gives the answers."""
    for name, token in made.annotators.items():
        who = resolve_annotator(store, token)
        while (item := next_item(store, who)) is not None:
            submit(store, who, item["item_id"], pick(name, item["conversation"]["conversation_id"]))


def test_create_records_items_probabilities_and_hashed_tokens(store):
    made = create_campaign(store, "pilot", rubric="llm_rubric", annotators="alice,bob,carol", sample=30, seed=4)
    assert made.n_items == 30 and made.population == 224 and made.loads == {"alice": 20, "bob": 20, "carol": 20}
    items = store.sql("SELECT * FROM campaign_items")
    assert len(items) == 30 and items.conversation_id.is_unique
    assert items.inclusion_prob.eq(30 / 224).all()
    assert store.sql("SELECT count(*) AS n FROM campaign_assignments")["n"][0] == 60
    hashes = store.sql("SELECT token_hash FROM campaign_annotators").token_hash.tolist()
    for token in [*made.annotators.values(), made.admin_token]:
        assert len(token) >= 43                               # 256 bits, URL-safe base64
        assert token not in hashes
    assert store.sql("SELECT kind FROM raters WHERE rater_id = 'alice'")["kind"][0] == "human"
    links = made.links("http://127.0.0.1:8765/")
    assert set(links) == {"campaign", "items", "annotators", "admin_url"}
    assert links["annotators"][0]["url"] == f"http://127.0.0.1:8765/a/{links['annotators'][0]['token']}"


def test_store_file_never_holds_a_token_in_clear(base_db, tmp_path):
    path = copy_of(base_db, tmp_path, "s.duckdb")
    with Store(path) as s:
        made = create_campaign(s, "c", rubric="llm_rubric", annotators="a,b", sample=5)
    data = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("s.duckdb*"))
    for token in [*made.annotators.values(), made.admin_token]:
        assert token.encode() not in data


def test_stratified_by_llm_score_records_per_stratum_probabilities(store):
    made = create_campaign(store, "strat", rubric="llm_rubric", annotators="a,b", stratify_by="llm_score",
                           sample=20, seed=1)
    df = store.sql("SELECT stratum, count(*) AS n, any_value(inclusion_prob) AS p FROM campaign_items GROUP BY 1")
    pop = store.sql("WITH per AS (SELECT conversation_id, round(avg(value))::INT AS score FROM signals WHERE "
                    "rater_id = ? AND dimension = 'Q0' AND status = 'ok' GROUP BY 1) SELECT score, count(*) AS n "
                    "FROM per GROUP BY 1", [JUDGE])
    sizes = {f"Q0={r.score}": r.n for r in pop.itertuples()}
    assert df.stratum.isna().sum() == 1         # the conversation no judge scored is a stratum of its own
    for r in df.itertuples():
        if isinstance(r.stratum, str):
            assert r.p == pytest.approx(r.n / sizes[r.stratum])
    assert made.strategy == "stratified" and df.n.sum() == 20


def test_answers_are_idempotent_edits_keep_history(store):
    made = create_campaign(store, "edit", rubric="llm_rubric", annotators="alice,bob", sample=4)
    who = resolve_annotator(store, made.annotators["alice"])
    item = next_item(store, who)
    assert set(item) >= {"item_id", "conversation", "questions", "progress"}
    assert item["progress"] == {"total": 4, "done": 0, "skipped": 0}
    assert submit(store, who, item["item_id"], ALL3) == {"stored": 9, "unchanged": 0}
    assert submit(store, who, item["item_id"], ALL3) == {"stored": 0, "unchanged": 9}
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'alice'")["n"][0] == 9
    changed = {**ALL3, "Q0": "1", "Q4": None}
    assert submit(store, who, item["item_id"], changed) == {"stored": 2, "unchanged": 7}
    cur = store.sql("SELECT dimension, status, label, value FROM signals WHERE rater_id = 'alice' AND dimension IN "
                    "('Q0', 'Q4') ORDER BY 1")
    assert cur.values.tolist()[0][:3] == ["Q0", "ok", "1"] and cur.status.tolist() == ["ok", "not_answered"]
    hist = store.sql("SELECT dimension, label, value FROM signal_history ORDER BY 1")
    assert hist.values.tolist() == [["Q0", "3", 3.0], ["Q4", "3", 3.0]]
    view = item_view(store, who, item["item_id"])
    assert view["answers"]["Q0"] == "1" and view["answers"]["Q4"] is None
    batch = store.sql("SELECT kind, n_inserted, n_replaced, n_unchanged FROM ingest_batches WHERE kind = 'campaign'")
    assert batch.values.tolist() == [["campaign", 9, 2, 16]]


def test_wrong_token_unassigned_item_closed_campaign_and_bad_answers(store):
    made = create_campaign(store, "rules", rubric="llm_rubric", annotators="alice,bob,carol", sample=6)
    with pytest.raises(NotAllowed):
        resolve_annotator(store, "not-a-token")
    alice = resolve_annotator(store, made.annotators["alice"])
    mine = set(store.sql("SELECT item_id FROM campaign_assignments WHERE annotator = 'alice'").item_id)
    other = next(i for i in range(6) if i not in mine)
    with pytest.raises(NotAllowed, match="not assigned"):
        submit(store, alice, other, ALL3)
    item = next(iter(mine))
    for bad, match in [({**ALL3, "Q9": "1"}, "unknown dimension 'Q9'"), ({**ALL3, "Q0": "7"}, "unknown option '7'"),
                       ({"Q0": "1"}, "no answer for Q1"), ("3", "must be an object"),
                       ({**ALL3, "Q0": [1]}, "option label or null")]:
        with pytest.raises(InvalidAnswer, match=match):
            submit(store, alice, item, bad)
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'alice'")["n"][0] == 0
    close_campaign(store, "rules")
    with pytest.raises(CampaignClosed):
        submit(store, alice, item, ALL3)
    with pytest.raises(CampaignClosed):
        skip(store, alice, item)
    assert store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'alice'")["n"][0] == 0


def test_skipped_items_come_back_after_the_pending_ones(store):
    made = create_campaign(store, "skip", rubric="llm_rubric", annotators="alice", overlap=1, sample=3)
    who = resolve_annotator(store, made.annotators["alice"])
    first = next_item(store, who)["item_id"]
    skip(store, who, first)
    seen = []
    while (item := next_item(store, who)) is not None:
        seen.append(item["item_id"])
        submit(store, who, item["item_id"], ALL3)
    assert seen[-1] == first and len(seen) == 3


def test_audit_shows_the_ceiling_after_a_campaign(store):
    made = create_campaign(store, "ceil", rubric="llm_rubric", annotators="alice,bob,carol", sample=24, seed=2)
    judge = dict(store.con.execute("SELECT conversation_id, value FROM signals WHERE rater_id = ? AND dimension = "
                                   "'Q0'", [JUDGE]).fetchall())

    def pick(name, conv):
        base = min(4, max(1, round(judge.get(conv, 3))))
        shift = {"alice": 0, "bob": 0, "carol": 1}[name]
        return {f"Q{i}": str(min(4, base + (shift if i % 2 else 0))) for i in range(9)}

    _answer_all(store, made, pick)
    rows = audit(store, n_boot=100, statistics=["krippendorff_alpha", "mean_diff"])
    humans = rows[(rows.rater == "humans") & (rows.dimension == "Q0")]
    assert humans["value"].iloc[0] == pytest.approx(1.0)            # every Q0 answer equal across annotators
    assert not rows[rows.rater == "human_loo"].empty
    sub = campaign_audit(store, "ceil", None)
    a = rows.set_index(["rater", "dimension", "statistic"])["value"]
    b = sub.set_index(["rater", "dimension", "statistic"])["value"]
    assert a.loc[("humans", "Q1", "krippendorff_alpha")] == pytest.approx(b.loc[("humans", "Q1",
                                                                                  "krippendorff_alpha")], abs=1e-12)
    prog = progress(store, "ceil")
    assert prog.done.tolist() == [16, 16, 16]


def test_create_refuses_what_would_go_wrong(store):
    cases = [
        (dict(annotators="alice,bob", overlap=3, sample=5), "--overlap 3 needs at least 3 annotators"),
        (dict(annotators="alice,,bob", sample=5), "empty name"),
        (dict(annotators="alice,alice", sample=5), "more than once"),
        (dict(annotators=f"{JUDGE},bob", sample=5), "already a judge rater"),
        (dict(annotators="a,b", sample=5, strategy="all"), "--sample goes with"),
        (dict(annotators="a,b", stratify_by="colour", sample=5), "unknown --stratify-by"),
        (dict(annotators="a,b", stratify_by="system", sample=5), "no conversation in the population has a system_id"),
        (dict(annotators="a,b", where="nonsense_column = 1"), "--where 'nonsense_column = 1' failed"),
        (dict(annotators="a,b", where="1=1; DROP TABLE signals"), "not a valid SQL condition"),
        (dict(annotators="a,b", where="1=1); DELETE FROM signals WHERE (1=1"), "one condition"),
        (dict(annotators="a,b", where="conversation_id = 'none'"), "population is empty"),
    ]
    for kw, match in cases:
        with pytest.raises(AuditorError, match=match):
            create_campaign(store, "bad", rubric="llm_rubric", **kw)
    with pytest.raises(AuditorError, match="not usable"):
        create_campaign(store, "../x", rubric="llm_rubric", annotators="a")
    assert store.sql("SELECT count(*) AS n FROM campaigns")["n"][0] == 0
    assert store.sql("SELECT count(*) AS n FROM signals")["n"][0] > 0       # the store is intact
    create_campaign(store, "ok", rubric="llm_rubric", annotators="a,b", where="conversation_id LIKE '65c5%'")
    with pytest.raises(AuditorError, match="already exists"):
        create_campaign(store, "ok", rubric="llm_rubric", annotators="c,d", sample=2)


def test_an_annotator_who_already_rated_is_refused_with_a_fix(store):
    made = create_campaign(store, "r1", rubric="llm_rubric", annotators="alice", overlap=1, sample=3)
    _answer_all(store, made, lambda *_: ALL3)
    with pytest.raises(AuditorError, match="already has ratings .* Fix: leave them out with --where"):
        create_campaign(store, "r2", rubric="llm_rubric", annotators="alice", overlap=1)


def test_cli_create_list_show_close_and_audit(base_db, tmp_path):
    db = copy_of(base_db, tmp_path, "cli.duckdb")
    r = run_cli(db, "annotate", "create", "pilot", "--rubric", "llm_rubric", "--annotators", "alice,bob,carol",
                "--sample", "12", "--json")
    assert r.returncode == 0, r.stderr
    links = json.loads(r.stdout)
    assert links["items"] == 12 and [a["name"] for a in links["annotators"]] == ["alice", "bob", "carol"]
    r = run_cli(db, "annotate", "list", "--json")
    assert json.loads(r.stdout)["campaigns"][0]["campaign"] == "pilot"
    r = run_cli(db, "annotate", "show", "pilot")
    assert r.returncode == 0 and "random" in r.stdout and "alice" in r.stdout
    assert links["annotators"][0]["token"] not in r.stdout + run_cli(db, "annotate", "list").stdout
    r = run_cli(db, "audit", "--campaign", "pilot")
    assert r.returncode == 1 and "nothing to audit yet" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(db, "annotate", "close", "pilot")
    assert r.returncode == 0 and "closed" in r.stdout
    r = run_cli(db, "annotate", "show", "nope")
    assert r.returncode == 1 and "no campaign named 'nope'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(db, "annotate", "create", "x", "--rubric", "llm_rubric", "--annotators", "a", "--overlap", "2")
    assert r.returncode == 1 and "Fix:" in r.stderr and "Traceback" not in r.stderr


def test_the_alternative_annotator_test_runs_on_campaign_data(store):
    """With three annotators per item the audit's alt-test compares the judge with each of them, no extra step."""
    made = create_campaign(store, "alt", rubric="llm_rubric", annotators="a,b,c,d", overlap=3, sample=40, seed=2)
    _answer_all(store, made, lambda name, conv: {f"Q{i}": str(1 + (len(conv) + i + (name == "d")) % 4)
                                                 for i in range(9)})
    rows = audit(store, n_boot=50, dimensions=["Q0"])
    alt = rows[(rows.rater == JUDGE) & rows.statistic.str.startswith("alt_test")]
    assert set(alt.statistic) == {"alt_test_winning_rate", "alt_test_advantage", "alt_test_passed"}
    assert "4 humans" in alt[alt.statistic == "alt_test_winning_rate"].note.iloc[0]


def test_a_relabelling_queue_takes_the_largest_disagreements_and_refuses_corrected_estimates(store):
    first = create_campaign(store, "round1", rubric="llm_rubric", annotators="alice,bob", sample=40, seed=3)
    _answer_all(store, first, lambda name, conv: {f"Q{i}": "2" for i in range(9)})
    rows = audit(store, n_boot=50, dimensions=["Q0"], statistics=["ppi_mean", "mean_diff"])
    ppi = rows[(rows.rater == JUDGE) & (rows.statistic == "ppi_mean")]
    assert ppi["value"].notna().all()                       # a random sample: PPI is computed
    with pytest.raises(AuditorError, match="needs --top"):
        create_campaign(store, "q", rubric="llm_rubric", annotators="carol", overlap=1, from_disagreements=JUDGE)
    with pytest.raises(AuditorError, match="not an LLM rater"):
        create_campaign(store, "q", rubric="llm_rubric", annotators="carol", overlap=1, from_disagreements="alice",
                        top=5)
    queue = create_campaign(store, "adjudicate", rubric="llm_rubric", annotators="carol", overlap=1,
                            from_disagreements=JUDGE, top=8)
    assert queue.strategy == "disagreement" and queue.n_items == 8 and queue.population == 40
    assert queue.design["probability_sample"] is False
    items = store.sql("SELECT conversation_id, inclusion_prob FROM campaign_items WHERE campaign = 'adjudicate'")
    assert items.inclusion_prob.isna().all()
    # they are the 8 largest mean |judge - human| gaps, rescaled by the option range (here 1..4)
    gaps = store.sql(
        "WITH j AS (SELECT conversation_id, dimension, value FROM signals WHERE rater_id = ? AND status = 'ok'), "
        "h AS (SELECT conversation_id, dimension, avg(value) AS value FROM signals WHERE rater_id IN ('alice', 'bob') "
        "AND status = 'ok' GROUP BY ALL) SELECT conversation_id, avg(abs(j.value - h.value) / 3) AS gap FROM j JOIN "
        "h USING (conversation_id, dimension) GROUP BY 1 ORDER BY gap DESC, conversation_id LIMIT 8", [JUDGE])
    assert set(items.conversation_id) == set(gaps.conversation_id)
    _answer_all(store, queue, lambda name, conv: {f"Q{i}": "4" for i in range(9)})
    rows = audit(store, n_boot=50, dimensions=["Q0"], statistics=["ppi_mean", "naive_llm_mean", "mean_diff"])
    j = rows[rows.rater == JUDGE].set_index("statistic")
    assert pd.isna(j.loc["ppi_mean", "value"]) and "refused: 8 of the 40" in j.loc["ppi_mean", "note"]
    assert "largest disagreement (campaign adjudicate)" in j.loc["ppi_mean", "note"]
    assert pd.notna(j.loc["naive_llm_mean", "value"])                # it uses no human label
    assert pd.notna(j.loc["mean_diff", "value"]) and "warning: 8 of these conversations" in j.loc["mean_diff", "note"]


def test_a_lost_link_is_reissued_and_the_old_one_stops_working(store):
    from auditor.campaign import reissue_link

    made = create_campaign(store, "lost", rubric="llm_rubric", annotators="alice,bob", sample=4)
    who = resolve_annotator(store, made.annotators["alice"])
    item = next_item(store, who)
    submit(store, who, item["item_id"], ALL3)
    new = reissue_link(store, "lost", "alice")
    with pytest.raises(NotAllowed):
        resolve_annotator(store, made.annotators["alice"])
    again = resolve_annotator(store, new)
    assert again.name == "alice" and next_item(store, again)["progress"]["done"] == 1      # answers kept
    admin = reissue_link(store, "lost")
    from auditor.campaign import admin_campaigns
    assert admin_campaigns(store, admin) == ["lost"]
    with pytest.raises(NotAllowed):
        admin_campaigns(store, made.admin_token)
    with pytest.raises(AuditorError, match="no annotator 'zed'"):
        reissue_link(store, "lost", "zed")
