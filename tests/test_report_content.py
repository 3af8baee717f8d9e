"""What the report says (issue 17, "What a reader sees"): the same agreement columns for every rater, the humans'
multi-rater statistics, ties among the largest disagreements, one reliability diagram for raters with identical
forecasts, honest captions and plurals, and a humans-only report that says what to load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _report_store import CLOSE_JUDGE, EVIL_JUDGE, build_store
from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.cli import app
from auditor.report import write_report
from auditor.report._data import _share_reliability
from auditor.report._disagreements import _ties

B = 30


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("content") / "store.duckdb")


@pytest.fixture(scope="module")
def report(store_path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("content-out") / "r.html"
    with Store(store_path, read_only=True) as s:
        rows = audit(s, AuditOptions(n_boot=B, seed=1))
        paths = write_report(s, out, audit_rows=rows, n_boot=B, seed=1, top=3)
    return {"rows": rows, "data": json.loads(Path(paths["json"]).read_text(encoding="utf-8")),
            "html": Path(paths["html"]).read_text(encoding="utf-8"),
            "md": Path(paths["md"]).read_text(encoding="utf-8")}


def test_every_rater_gets_the_same_agreement_columns(report):
    secs = report["data"]["rubrics"][0]["raters"]
    cols = [[c["key"] for c in s["agreement"]["columns"]] for s in secs]
    assert len(secs) == 2 and cols[0] == cols[1]
    assert "ece" in cols[0]                            # only judge-close has confidences: the other shows n/a
    evil = next(s for s in secs if s["rater"] == EVIL_JUDGE)
    assert all(r["text"]["ece"] == "n/a" for r in evil["agreement"]["rows"])


def test_humans_agreement_shows_the_multirater_statistics(report):
    ha = report["data"]["rubrics"][0]["humans"]
    stats = [c["statistic"] for c in ha["columns"]]
    assert {"krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "icc"} <= set(stats)
    rows = report["rows"]
    for r in ha["rows"]:
        for st in ("fleiss_kappa", "gwet_ac1"):
            want = rows[(rows.rater == "humans") & (rows.dimension == r["dimension"]) & (rows.statistic == st)]
            assert r["cells"][st]["value"] == pytest.approx(float(want.value.iloc[0]))
    icc = next(c for c in ha["columns"] if c["statistic"] == "icc")
    assert icc["label"] == ha["icc_form"] == "ICC(2,1)"       # the form the audit's `icc` row holds, from its note
    for text in (report["html"], report["md"]):
        assert "Fleiss κ" in text and "Gwet AC1" in text and "ICC(2,1)" in text


def test_ties_at_the_cut():
    s = np.array([0.9, 0.7, 0.7, 0.7, 0.5])
    assert _ties(s, 2) == {"score": 0.7, "n_tied": 3, "n_tied_shown": 1, "at_top": False}
    assert _ties(s, 4) is None and _ties(s, 1) is None and _ties(s, 5) is None and _ties(s, 0) is None
    assert _ties(np.array([0.5] * 12), 10) == {"score": 0.5, "n_tied": 12, "n_tied_shown": 10, "at_top": True}


def test_ties_are_said_in_html_and_markdown(report):
    for sec in report["data"]["rubrics"][0]["raters"]:
        dd = sec["disagreements"]
        assert len(dd["items"]) == 3
        scores = [it["score"] for it in dd["items"]]
        t = dd["ties"]
        if t is None:
            continue
        assert t["score"] == pytest.approx(scores[-1]) and t["n_tied"] > t["n_tied_shown"]
        assert t["n_tied_shown"] == sum(np.isclose(scores, t["score"]))
        for text in (report["html"], report["md"]):
            assert f"{t['n_tied']} conversations tie at" in text


def test_top_defaults_to_ten_and_ties_reach_the_cli(store_path, tmp_path):
    import shutil

    db = shutil.copy(store_path, tmp_path / "s.duckdb")
    out = tmp_path / "r.html"
    r = CliRunner().invoke(app, ["--db", str(db), "report", "--bootstrap", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["settings"]["top_disagreements"] == 10
    assert all(len(s["disagreements"]["items"]) == 10 for s in data["rubrics"][0]["raters"])


def test_identical_forecasts_share_one_diagram():
    rel = {"rubric": "r", "n_bins": 10, "pooled": {"n": 3}, "dimensions": [], "definition": "d"}
    secs = [{"rater": "a", "reliability": {**rel, "rater": "a"}}, {"rater": "b", "reliability": None},
            {"rater": "c", "reliability": {**rel, "rater": "c"}},
            {"rater": "d", "reliability": {**rel, "rater": "d", "pooled": {"n": 4}}}]
    _share_reliability(secs)
    assert secs[0]["reliability_covers"] == ["a", "c"] and secs[0]["reliability_same_as"] is None
    assert secs[2]["reliability_same_as"] == "a"
    assert secs[3]["reliability_same_as"] is None and secs[3]["reliability_covers"] == ["d"]


def test_wording(report):
    for text in (report["html"], report["md"]):
        # the report's own words count ("6 dimensions", "1 message"); the audit's notes are quoted as they are
        assert not re.search(r"(dimension|message|task|answer)\(s\)", text)
        assert "conv.." not in text
    # no rater's values lie between options in this store: no caption about hatched bars
    assert not any(s["off_options"] for p in report["data"]["rubrics"][0]["distributions"] for s in p["series"])
    assert "Hatched" not in report["html"]


def test_humans_only_report_says_what_to_load(store_path, tmp_path):
    import shutil

    db = shutil.copy(store_path, tmp_path / "humans.duckdb")
    with Store(db) as s:
        with s.transaction() as con:
            s.delete_signals("s.rater_id IN (?, ?)", [CLOSE_JUDGE, EVIL_JUDGE])
            con.execute("DELETE FROM runs")
            con.execute("DELETE FROM raters WHERE kind <> 'human'")
    out = tmp_path / "h.html"
    r = CliRunner().invoke(app, ["--db", str(db), "report", "--bootstrap", "0", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["no_llm"] == {"n_humans": 3, "n_llm_stored": 0, "rubrics": ["xss_demo"]}
    for text in (out.read_text(encoding="utf-8"), out.with_suffix(".md").read_text(encoding="utf-8")):
        assert "No LLM rater in these data" in text and "3 human raters" in text
        assert "auditor ingest signals FILE --rubric xss" in text and "auditor judge run CONFIG" in text
        assert "Empty: no LLM rater was audited" in text
        assert "Agreement among all humans" in text            # what the humans alone can say is still shown
    assert "Largest disagreements" not in out.read_text(encoding="utf-8").split("<main>", 1)[1].split("</nav>")[1]
