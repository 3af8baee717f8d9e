"""A rubric first used from a file is stored and from then on usable by its name (ingest, campaigns, rubrics)."""

from __future__ import annotations

import json

import yaml

from _campaigns import run_cli

RUBRIC = {"name": "support_quality", "version": "2", "description": "Support answers",
          "dimensions": [{"name": "helpful", "question": "Was the answer helpful?", "level": "ordinal",
                          "options": [{"label": "no", "value": 1}, {"label": "partly", "value": 2},
                                      {"label": "yes", "value": 3}]}]}


def test_a_rubric_loaded_from_a_file_is_usable_by_name(tmp_path):
    db = tmp_path / "s.duckdb"
    rub = tmp_path / "rubrics" / "support.yaml"
    rub.parent.mkdir()
    rub.write_text(yaml.safe_dump(RUBRIC), encoding="utf-8")
    convs = tmp_path / "c.jsonl"
    convs.write_text("".join(json.dumps({"conversation_id": f"c{i}", "messages": [{"role": "user", "content": "hi"}]})
                             + "\n" for i in range(4)), encoding="utf-8")
    sig = tmp_path / "s.csv"
    sig.write_text("conversation_id,dimension,rater_id,rater_kind,label\n" +
                   "".join(f"c{i},helpful,bot,judge,yes\n" for i in range(4)), encoding="utf-8")
    r = run_cli(db, "rubrics", "show", "support_quality")
    assert r.returncode == 1 and "unknown rubric 'support_quality'" in r.stderr
    assert run_cli(db, "ingest", "conversations", str(convs)).returncode == 0
    r = run_cli(db, "ingest", "signals", str(sig), "--rubric", str(rub))
    assert r.returncode == 0, r.stderr
    more = tmp_path / "more.csv"                                  # later loads name the stored rubric
    more.write_text("conversation_id,dimension,rater_id,rater_kind,label\nc0,helpful,ann,human,partly\n")
    r = run_cli(db, "ingest", "signals", str(more), "--rubric", "support_quality")
    assert r.returncode == 0, r.stderr
    r = run_cli(db, "rubrics", "list", "--json")
    rows = {x["rubric"]: x for x in json.loads(r.stdout)["rubrics"]}
    assert rows["likert5"]["source"] == "built-in" and "support.yaml" in rows["support_quality"]["source"]
    r = run_cli(db, "rubrics", "show", "support_quality", "--json")
    assert json.loads(r.stdout)["version"] == "2"
    r = run_cli(db, "annotate", "create", "round1", "--rubric", "support_quality", "--annotators", "a,b", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["items"] == 4, r.stderr
    r = run_cli(db, "ingest", "signals", str(more), "--rubric", "no_such_rubric")
    assert r.returncode == 1 and "stored in this store: support_quality" in r.stderr
