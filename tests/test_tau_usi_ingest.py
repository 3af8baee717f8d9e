"""`auditor ingest tau-usi`: the tau-bench human study's release format (human annotations, simulator runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor import IngestError, Store
from auditor.cli import app
from auditor.ingest.tau_usi import is_meta_message, read_tau_usi

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tau_usi"
HUMAN = EXAMPLE / "human_annotations_synthetic.json"
SIM = EXAMPLE / "sim-synthetic.json"
runner = CliRunner()


def ingest(db, path, *args):
    return runner.invoke(app, ["--db", str(db), "ingest", "tau-usi", str(path), *args])


def counts(db) -> dict:
    with Store(db, read_only=True) as s:
        c = s.counts()
        c["not_answered"] = int(s.sql("SELECT count(*) AS n FROM signals WHERE status = 'not_answered'")["n"][0])
    return c


@pytest.fixture
def loaded(tmp_path):
    db = tmp_path / "t.duckdb"
    r1 = ingest(db, HUMAN, "--kind", "human")
    assert r1.exit_code == 0, r1.output
    r2 = ingest(db, SIM, "--kind", "simulator")
    assert r2.exit_code == 0, r2.output
    return db


def test_example_files_are_marked_synthetic():
    assert "SYNTHETIC" in (EXAMPLE / "README.md").read_text()
    assert "SYNTHETIC" in json.loads(SIM.read_text())["_comment"]


def test_ingest_example_pair_through_the_cli(loaded):
    c = counts(loaded)
    assert c["conversations"] == 18 + 60
    assert c["signals"] == (18 + 60) * 8
    assert c["not_answered"] == 2 + 2
    assert c["tasks"] == 6
    with Store(loaded, read_only=True) as s:
        raters = dict(s.sql("SELECT rater_id, kind FROM raters").itertuples(index=False))
        assert raters == {"human-batch1": "human", "human-batch2": "human", "human-batch3": "human",
                          "sim-synthetic": "simulator"}
        conv = s.sql("SELECT * FROM conversations WHERE conversation_id = 'human:airline_21_ann2'").iloc[0]
        assert (conv.task_id, conv.user_kind, conv.human_batch, conv.user_id) == \
            ("airline_21", "human", "2", "human-batch2")
        keep = s.sql("SELECT conversation_id FROM conversations WHERE keep = false")["conversation_id"].tolist()
        assert keep == ["human:retail_59_ann3"]
        sim = s.sql("SELECT user_kind, human_batch, metadata->>'run' AS run, reward FROM conversations "
                    "WHERE conversation_id = 'sim-synthetic:retail_34_7'").iloc[0]
        assert (sim.user_kind, sim.human_batch, sim.run) == ("sim-synthetic", None, "7")
        runs = s.sql("SELECT task_id, count(*) AS n, min((metadata->>'run')::INT) AS lo, "
                     "max((metadata->>'run')::INT) AS hi FROM conversations WHERE user_kind = 'sim-synthetic' "
                     "GROUP BY 1")
        assert set(runs["n"]) == {10} and set(runs["lo"]) == {1} and set(runs["hi"]) == {10}
        domains = dict(s.sql("SELECT task_id, domain FROM tasks").itertuples(index=False))
        assert domains["airline_18"] == "airline" and domains["retail_34"] == "retail"
        na = s.sql("SELECT conversation_id, dimension, label, value FROM signals WHERE status = 'not_answered' "
                   "ORDER BY 1, 2")
        assert na[["conversation_id", "dimension"]].values.tolist() == [
            ["human:airline_21_ann2", "human_like"], ["human:retail_5_ann3", "reuse"],
            ["sim-synthetic:airline_3_2", "answer_effort_time"], ["sim-synthetic:retail_34_7", "answer_effort_time"]]
        assert na["label"].isna().all() and na["value"].isna().all()
        # "Too few" and "Too many" share the value 1 but keep their labels
        qap = s.sql("SELECT DISTINCT label, value FROM signals WHERE dimension = 'question_amount_preference' "
                    "ORDER BY 1")
        assert dict(qap.itertuples(index=False)) == {"About right": 2.0, "Too few": 1.0, "Too many": 1.0}


def test_meta_messages_are_dropped(loaded):
    with Store(loaded, read_only=True) as s:
        msgs = s.sql("SELECT conversation_id, messages::VARCHAR AS m, n_turns, metadata FROM conversations")
    for cid, m, n_turns, meta in msgs.itertuples(index=False):
        contents = [x["content"] for x in json.loads(m)]
        assert not any(is_meta_message(c) for c in contents), cid
        assert n_turns == len(contents)
        if cid.startswith("human:"):
            assert json.loads(meta)["meta_messages_dropped"] == 3        # \tau start, /stop, <|survey|>
    assert is_meta_message("\\tau start airline task") and is_meta_message("\\reward 1")
    assert is_meta_message("<|survey|> Please answer") and is_meta_message(" /stop ")
    assert is_meta_message("###STOP###")
    assert not is_meta_message("Thank you! ###STOP###") and not is_meta_message("\\taurus") \
        and not is_meta_message("please /stop it")


def test_reload_is_idempotent(loaded):
    before = counts(loaded)
    with Store(loaded, read_only=True) as s:
        n_batches = s.counts()["ingest_batches"]
    for path, kind in ((HUMAN, "human"), (SIM, "simulator")):
        r = ingest(loaded, path, "--kind", kind, "--json")
        assert r.exit_code == 0, r.output
        res = json.loads(r.output)
        assert res["n_inserted"] == 0 and res["n_replaced"] == 0 and res["batch_id"] is None
    assert counts(loaded) == before
    with Store(loaded, read_only=True) as s:
        assert s.counts()["ingest_batches"] == n_batches


def _edited_human(tmp_path, edit) -> Path:
    data = json.loads(HUMAN.read_text())
    edit(data)
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(data))
    return p


def test_bad_option_text_fails_with_the_allowed_texts_and_loads_nothing(tmp_path):
    db = tmp_path / "t.duckdb"

    def edit(d):
        d["retail_5_ann2"]["survey"]["task_success"]["answer"] = "Yes - task completed"     # wrong case
    path = _edited_human(tmp_path, edit)
    r = ingest(db, path, "--kind", "human")
    assert r.exit_code == 1
    err = " ".join(r.output.split())
    assert str(path.name) in err and "'retail_5_ann2'" in err and "survey.task_success.answer" in err
    assert "'Yes - Task completed'" in err and "'Fully - Exceeded expectations'" in err
    assert counts(db)["conversations"] == 0 and counts(db)["signals"] == 0


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update({"airline_3_run2": d["airline_3"]}), "not '{domain}_{index}'"),
    (lambda d: d["airline_3"].update({"conversation": "hi"}), "'conversation' is a str"),
    (lambda d: d["airline_3"].update({"reward": "yes"}), "reward 'yes' is not a number"),
    (lambda d: d["airline_3"].update({"keep": "no"}), "keep 'no' is not true/false"),
    (lambda d: d["airline_3"]["survey"]["reuse"].update({"answer": 4}), "answer '4' is not an option"),
])
def test_bad_human_entries(tmp_path, edit, message):
    path = _edited_human(tmp_path, edit)
    with pytest.raises(IngestError) as e:
        read_tau_usi(path, kind="human")
    assert message in str(e.value)


def test_wrong_kind_is_refused_with_a_hint(tmp_path):
    with pytest.raises(IngestError, match="use --kind human"):
        read_tau_usi(HUMAN, kind="simulator")
    with pytest.raises(IngestError, match="use --kind simulator"):
        read_tau_usi(SIM, kind="human")
    r = ingest(tmp_path / "t.duckdb", SIM, "--kind", "judge")
    assert r.exit_code == 1 and "--kind 'judge'" in r.output


def test_simulator_dict_format_and_rater_id(tmp_path):
    runs = json.loads(SIM.read_text())["results"]
    keyed = {r["instance_id"]: {k: v for k, v in r.items() if k not in ("instance_id", "domain", "task_index")}
             for r in runs}
    p = tmp_path / "eval_results_other.json"
    p.write_text(json.dumps(keyed))
    d = read_tau_usi(p, kind="simulator", rater_id="other-sim")
    assert set(d.signals["rater_id"]) == {"other-sim"} and set(d.signals["rater_kind"]) == {"simulator"}
    conv = d.conversations.set_index("conversation_id")
    assert conv.loc["other-sim:retail_59_10", "task_id"] == "retail_59"
    assert json.loads(conv.loc["other-sim:retail_59_10", "metadata"])["run"] == 10
    assert set(conv["user_kind"]) == {"other-sim"}
    # default rater id = file stem
    assert set(read_tau_usi(p, kind="simulator").signals["rater_id"]) == {"eval_results_other"}


def test_runs_without_suffix_are_numbered_in_order(tmp_path):
    runs = [r for r in json.loads(SIM.read_text())["results"] if r["instance_id"].startswith("airline_3_")][:3]
    for r in runs:
        r.pop("instance_id")
    p = tmp_path / "noid.json"
    p.write_text(json.dumps({"results": runs}))
    conv = read_tau_usi(p, kind="simulator").conversations
    assert conv["conversation_id"].tolist() == ["noid:airline_3_1", "noid:airline_3_2", "noid:airline_3_3"]
    assert [json.loads(m)["run"] for m in conv["metadata"]] == [1, 2, 3]


def test_duplicate_run_is_refused(tmp_path):
    runs = json.loads(SIM.read_text())["results"][:2]
    runs[1]["instance_id"] = runs[0]["instance_id"]
    p = tmp_path / "dup.json"
    p.write_text(json.dumps({"results": runs}))
    with pytest.raises(IngestError, match="run 1 of task 'airline_3' also appears"):
        read_tau_usi(p, kind="simulator")


def test_changed_value_needs_replace(loaded, tmp_path):
    def edit(d):
        d["airline_3"]["reward"] = 1 - d["airline_3"]["reward"]
    path = _edited_human(tmp_path, edit)
    r = ingest(loaded, path, "--kind", "human")
    assert r.exit_code == 1 and "--replace" in r.output
    r = ingest(loaded, path, "--kind", "human", "--replace", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_replaced"] == 1


def test_conversations_and_signals_are_one_transaction(loaded):
    """A signals write that fails (the rater id is a stored human) leaves no conversation behind."""
    before = counts(loaded)
    r = ingest(loaded, SIM, "--kind", "simulator", "--rater-id", "human-batch1")
    assert r.exit_code == 1 and "stored as kind 'human'" in " ".join(r.output.split())
    assert counts(loaded) == before


def test_store_method(mem_store):
    res = mem_store.ingest_tau_usi(HUMAN, kind="human", rater_id="crowd")
    assert res.n_not_answered == 2 and res.batch_id
    raters = set(mem_store.sql("SELECT rater_id FROM raters")["rater_id"])
    assert raters == {"crowd-batch1", "crowd-batch2", "crowd-batch3"}
    assert mem_store.sql("SELECT count(*) AS n FROM conversations WHERE conversation_id LIKE 'crowd:%'")["n"][0] == 18
