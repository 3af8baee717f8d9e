"""`auditor plan`: the recommended number of conversations gives the target half-width when a fresh study of that
size is audited, the alt-test power agrees with a direct simulation of the test, PPI's effective n, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.cli import app
from auditor.errors import AuditorError
from auditor.plan import plan
from auditor.stats.alt_test import alt_test
from auditor.stats.paired import paired_statistics


def _likert(rng, n):
    t = rng.integers(1, 6, n)
    h = np.clip(t + rng.integers(-1, 2, n), 1, 5)
    ll = np.clip(t + rng.integers(-1, 2, n) + (rng.random(n) < 0.3), 1, 5)
    return h.astype(float), ll.astype(float)


def _store(tmp_path, h, ll, name="p", extra_llm=0):
    ids = [f"c{i}" for i in range(h.size)]
    rows = [dict(conversation_id=c, rater_id="h", rater_kind="human", dimension="score", value=v)
            for c, v in zip(ids, h)]
    rows += [dict(conversation_id=c, rater_id="judge", rater_kind="judge", dimension="score", value=v)
             for c, v in zip(ids, ll)]
    rows += [dict(conversation_id=f"u{i}", rater_id="judge", rater_kind="judge", dimension="score",
                  value=float(v)) for i, v in enumerate(np.random.default_rng(9).integers(1, 6, extra_llm))]
    s = Store(tmp_path / f"{name}.duckdb")
    s.ingest_signals(pd.DataFrame(rows), rubric="likert5", source_name=name)
    return s


def test_recommended_n_gives_the_target_halfwidth_on_a_fresh_study(tmp_path):
    rng = np.random.default_rng(0)
    h, ll = _likert(rng, 300)
    with _store(tmp_path, h, ll) as s:
        res = plan(s, target=0.03, statistics=["krippendorff_alpha"], reps=10, n_boot=200, alt_test=False)
    n_star = int(res["recommended"].set_index("statistic").loc["krippendorff_alpha", "recommended_n"])
    assert 300 < n_star < 20_000
    widths = []
    for rep in range(10):                      # fresh studies of n* conversations from the same process
        fh, fl = _likert(np.random.default_rng(100 + rep), n_star)
        r = paired_statistics(fl, fh, level="ordinal", option_values=[1, 2, 3, 4, 5],
                              statistics=["krippendorff_alpha"], n_boot=200, seed=rep)[0]
        widths.append((r.ci_high - r.ci_low) / 2)
    assert np.mean(widths) == pytest.approx(0.03, rel=0.20)


def _binary_study(rng, n, acc_h=0.8, acc_l=0.78):
    truth = rng.integers(0, 2, n)
    H = np.where(rng.random((3, n)) < acc_h, truth, 1 - truth)
    L = np.where(rng.random(n) < acc_l, truth, 1 - truth)
    return H, L


def test_alt_test_power_agrees_with_a_direct_simulation(tmp_path):
    rng = np.random.default_rng(1)
    H, L = _binary_study(rng, 3000)
    ids = [f"c{i}" for i in range(H.shape[1])]
    rows = [dict(conversation_id=c, rater_id=f"h{k}", rater_kind="human", dimension="success", value=int(H[k, i]))
            for k in range(3) for i, c in enumerate(ids)]
    rows += [dict(conversation_id=c, rater_id="judge", rater_kind="judge", dimension="success", value=int(L[i]))
             for i, c in enumerate(ids)]
    sizes, reps = [40, 80, 160], 100
    with Store(tmp_path / "b.duckdb") as s:
        s.ingest_signals(pd.DataFrame(rows), rubric="binary_success", source_name="b")
        res = plan(s, target=0.1, statistics=["mean_diff"], sizes=sizes, reps=reps, n_boot=20, epsilon=0.1)
    got = res["alt_test"].set_index("n")["power"]
    direct = {}
    for n in sizes:
        passed = 0
        for r in range(reps):
            Hs, Ls = _binary_study(np.random.default_rng(1000 * n + r), n)
            out = alt_test(np.tile(np.arange(n), 3), np.repeat([0, 1, 2], n), Hs.ravel().astype(float),
                           np.arange(n), Ls.astype(float), scoring="accuracy", epsilon=0.1)
            passed += out.passed == 1
        direct[n] = passed / reps
    for n in sizes:
        p = (got[n] + direct[n]) / 2
        se = np.sqrt(max(p * (1 - p), 0.01) * 2 / reps)
        assert abs(got[n] - direct[n]) <= 3 * se + 0.02, (n, got[n], direct[n])
    assert got[sizes[0]] < got[sizes[-1]]                  # power grows with the study


def test_ppi_effective_n_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    t = rng.integers(1, 6, 200).astype(float)
    with _store(tmp_path, t, t.copy(), name="e", extra_llm=2000) as s:   # a perfect judge, 2,000 unlabelled
        res = plan(s, target=0.1, reps=3, n_boot=20, alt_test=False)
        assert res["ppi"]["labelled"] == 200 and res["ppi"]["unlabelled"] == 2000
        assert res["ppi"]["effective_n"] > 1000                          # the LLM's labels are worth a lot
        with_llm = plan(s, target=0.1, reps=5, n_boot=20, alt_test=False, statistics=["ppi_mean"])
    with _store(tmp_path, t, np.clip(np.round(t + rng.normal(0, 1.5, t.size)), 1, 5), name="f") as s2:
        alone = plan(s2, target=0.1, reps=5, n_boot=20, alt_test=False, statistics=["ppi_mean"])
    n_with = with_llm["recommended"]["recommended_n"].iloc[0]
    n_alone = alone["recommended"]["recommended_n"].iloc[0]
    assert n_with < n_alone / 3           # a perfect judge on 2,000 unlabelled conversations saves most labels
    with _store(tmp_path, t, t.copy(), name="g", extra_llm=2000) as s:
        with pytest.raises(AuditorError, match="cannot plan for 'wilcoxon'"):
            plan(s, statistics=["wilcoxon"])
        with pytest.raises(AuditorError, match="positive"):
            plan(s, target=0)
        with pytest.raises(AuditorError, match="not a stored LLM rater"):
            plan(s, rater="h")


def test_cli_plan(tmp_path):
    rng = np.random.default_rng(3)
    h, ll = _likert(rng, 120)
    _store(tmp_path, h, ll).close()
    db = str(tmp_path / "p.duckdb")
    r = CliRunner().invoke(app, ["--db", db, "plan", "--sizes", "30,60", "--reps", "3", "--bootstrap", "50",
                                 "--no-alt-test", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {x["statistic"] for x in out["recommended"]} == {"krippendorff_alpha", "mean_diff"}
    assert out["pilot"]["n"] == 120 and out["alt_test"] == []
    r = CliRunner().invoke(app, ["--db", db, "plan", "--sizes", "10,x"])
    assert r.exit_code == 1 and "--sizes" in r.output


def test_annotate_create_sample_auto(tmp_path):
    rng = np.random.default_rng(4)
    n = 600
    t = rng.integers(1, 6, n)
    db = tmp_path / "a.duckdb"
    with Store(db) as s:
        s.ingest_conversations(pd.DataFrame({"conversation_id": [f"c{i}" for i in range(n)],
                                             "messages": ['[{"role": "user", "content": "hi"}]'] * n}),
                               source_name="convs")
        rows = [dict(conversation_id=f"c{i}", rater_id="judge", rater_kind="judge", dimension="score",
                     value=int(np.clip(t[i] + rng.integers(-1, 2), 1, 5))) for i in range(n)]
        rows += [dict(conversation_id=f"c{i}", rater_id="h", rater_kind="human", dimension="score", value=int(t[i]))
                 for i in range(100)]
        s.ingest_signals(pd.DataFrame(rows), rubric="likert5", source_name="t")
        want = plan(s, statistics=["krippendorff_alpha"], target=0.04, reps=10, n_boot=200, alt_test=False)
    r = CliRunner().invoke(app, ["--db", str(db), "annotate", "create", "more", "--rubric", "likert5",
                                 "--annotators", "a,b", "--overlap", "1", "--sample", "auto", "--target-halfwidth",
                                 "0.04", "--where", "conversation_id NOT IN (SELECT conversation_id FROM signals "
                                 "WHERE rater_id = 'h')"])
    assert r.exit_code == 0, r.output
    more = int(want["recommended"]["recommended_n"].iloc[0]) - 100
    assert f"so {more} more are drawn" in r.output.replace("\n", " ")
    with Store(db, read_only=True) as s:
        assert s.sql("SELECT n_items FROM campaigns WHERE campaign = 'more'").n_items[0] == more
    r = CliRunner().invoke(app, ["--db", str(db), "annotate", "create", "m2", "--rubric", "likert5",
                                 "--annotators", "a,b", "--sample", "auto", "--target-halfwidth", "0.9"])
    assert r.exit_code == 1 and "already give a half-width" in r.output


def test_ceiling_plan_by_annotators_per_conversation(tmp_path):
    """Three humans per conversation (true score + noise): alpha among 3 needs fewer conversations than among 2
    for the same half-width, and the K-of-3 draw never takes one rating twice (alpha among 2 copies would be 1)."""
    rng = np.random.default_rng(5)
    n = 200
    t = rng.integers(1, 6, n)
    rows = [dict(conversation_id=f"c{i}", rater_id=f"h{k}", rater_kind="human", dimension="score",
                 value=int(np.clip(t[i] + rng.integers(-1, 2), 1, 5))) for i in range(n) for k in range(3)]
    rows += [dict(conversation_id=f"c{i}", rater_id="judge", rater_kind="judge", dimension="score",
                  value=int(t[i])) for i in range(n)]
    with Store(tmp_path / "c.duckdb") as s:
        s.ingest_signals(pd.DataFrame(rows), rubric="likert5", source_name="c")
        res = plan(s, target=0.05, reps=5, n_boot=100, alt_test=False, sizes=[50, 100, 200])
    rec = res["ceiling"].set_index("annotators")["recommended_n"]
    assert list(rec.index) == [2, 3] and rec[3] < rec[2]
    curve = res["ceiling_curve"]
    assert (curve["halfwidth"] > 0.02).all()          # duplicated ratings would shrink the interval toward 0


def test_plan_from_assumptions_without_a_store(tmp_path):
    from auditor.plan import _assumed_pilot, PlanOptions

    p = _assumed_pilot(PlanOptions(assume_alpha=0.6, assume_levels=5, assume_annotators=3))
    a = paired_statistics(p.x, p.y, level="ordinal", option_values=[1, 2, 3, 4, 5],
                          statistics=["krippendorff_alpha"], n_boot=0)[0].value
    assert a == pytest.approx(0.6, abs=0.01)
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "none.duckdb"), "plan", "--assume-alpha", "0.6",
                                 "--assume-annotators", "3", "--reps", "3", "--bootstrap", "50", "--sizes",
                                 "100,200", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["pilot"]["note"].startswith("no pilot") and not (tmp_path / "none.duckdb").exists()
    assert [c["annotators"] for c in out["ceiling"]] == [2, 3] and out["alt_test"]
    r = CliRunner().invoke(app, ["plan", "--assume-alpha", "1.5"])
    assert r.exit_code == 1 and "between -1 and 1" in r.output


def test_report_labelling_budget(tmp_path):
    from auditor.report import write_report

    rng = np.random.default_rng(6)
    h, ll = _likert(rng, 150)
    with _store(tmp_path, h, ll) as s:
        paths = write_report(s, str(tmp_path / "r.html"), n_boot=50, plan_halfwidth=0.08)
        want = plan(s, target=0.08, statistics=["krippendorff_alpha"], reps=10, n_boot=200, alt_test=False,
                    dimension="score")
    data = json.load(open(paths["json"], encoding="utf-8"))
    entry = data["rubrics"][0]["plan"][0]
    assert entry["rater"] == "judge" and entry["dimension"] == "score"
    assert entry["recommended_n"] == want["recommended"]["recommended_n"].iloc[0]
    html = open(paths["html"], encoding="utf-8").read()
    assert 'id="plan-0"' in html and 'id="r0-plan-cap"' in html and "<svg" in html
    assert "Labelling budget" in open(paths["md"], encoding="utf-8").read()
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "p.duckdb"), "report", "--out", str(tmp_path / "x.html"),
                                 "--plan-halfwidth", "0"])
    assert r.exit_code == 1 and "--plan-halfwidth" in r.output
