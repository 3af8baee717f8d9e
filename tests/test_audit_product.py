"""Published numbers through the product path: store -> `auditor audit --json`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import Store
from auditor.cli import app

runner = CliRunner()
REPO_EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


def _audit_json(db, *args) -> pd.DataFrame:
    res = runner.invoke(app, ["--db", str(db), "audit", "--json", *args])
    assert res.exit_code == 0, res.output
    return pd.DataFrame(json.loads(res.stdout)["rows"])


@pytest.mark.parametrize("judge,expected", [
    ("gpt-3.5-turbo-16k:expected", {"rmse": 0.918676, "pearson": 0.177301, "spearman": 0.086675,
                                    "kendall_tau_b": 0.065928}),
    ("gpt-3.5-turbo-16k:argmax", {"rmse": 1.201643, "pearson": 0.140091, "spearman": 0.086990,
                                  "kendall_tau_b": 0.081134}),
])
def test_llm_rubric_q0_readme_numbers(demo_db, judge, expected):
    """LLM-Rubric README, real conversations, Q0, N = 223 (microsoft/LLM-Rubric, scripts/run_real_data_baselines.sh)."""
    rows = _audit_json(demo_db, "--llm", judge, "--dimension", "Q0", "--bootstrap", "200")
    got = rows[(rows.rater == judge) & (rows.dimension == "Q0")].set_index("statistic")
    for stat, value in expected.items():
        assert round(got.loc[stat, "value"], 6) == pytest.approx(value, abs=1e-6), stat
        assert got.loc[stat, "n"] == 223
        assert got.loc[stat, "ci_low"] <= got.loc[stat, "value"] <= got.loc[stat, "ci_high"]


def test_audit_rows_have_the_documented_shape(demo_db):
    res = runner.invoke(app, ["--db", str(demo_db), "audit", "--json", "--bootstrap", "50", "--dimension", "Q2"])
    payload = json.loads(res.stdout)
    keys = {"rater", "reference", "design", "dimension", "statistic", "value", "ci_low", "ci_high", "n", "note"}
    assert payload["rows"] and all(keys <= set(r) for r in payload["rows"])
    names = {r["statistic"] for r in payload["rows"]}
    for s in ["krippendorff_alpha", "cohen_kappa", "weighted_kappa_linear", "weighted_kappa_quadratic", "icc",
              "pearson", "spearman", "kendall_tau_b", "exact_agreement", "adjacent_agreement", "mae", "rmse",
              "mean_diff", "leniency_rate", "severity_rate", "wasserstein", "js_divergence", "variance_ratio"]:
        assert s in names, s
    # the demo has one human per conversation: the ceiling is undefined and says why
    loo = [r for r in payload["rows"] if r["rater"] == "human_loo"]
    assert loo and all(r["value"] is None and "no conversation" in r["note"] for r in loo)


def test_fail_under_gate(demo_db):
    argmax = ["--llm", "gpt-3.5-turbo-16k:argmax"]
    ok = runner.invoke(app, ["--db", str(demo_db), "audit", "--bootstrap", "0", "--dimension", "Q0", *argmax,
                             "--fail-under", "exact_agreement=0.01"])
    assert ok.exit_code == 0, ok.output
    # the expected-value judge is off the option scale: exact agreement is undefined, and undefined fails a gate
    nan = runner.invoke(app, ["--db", str(demo_db), "audit", "--bootstrap", "0", "--dimension", "Q0",
                              "--llm", "gpt-3.5-turbo-16k:expected", "--fail-under", "exact_agreement=0.01"])
    assert nan.exit_code == 1 and "undefined" in nan.output
    bad = runner.invoke(app, ["--db", str(demo_db), "audit", "--bootstrap", "0", "--dimension", "Q0",
                              "--fail-under", "krippendorff_alpha=0.667"])
    assert bad.exit_code == 1 and "gate failed" in bad.output and "krippendorff_alpha" in bad.output
    over = runner.invoke(app, ["--db", str(demo_db), "audit", "--bootstrap", "0", "--dimension", "Q0",
                               "--fail-over", "mae=0.5"])
    assert over.exit_code == 1


def test_hanna_gwet_ac1_through_the_store(shared_data, tmp_path):
    """HANNA user study (Chhun et al. 2024; authors' notebook): AC1 0.90, 0.97, 0.66, 0.60, 0.81."""
    raw = pd.read_csv(shared_data / "hanna" / "user_study.csv")
    flags = {c: c.split("-")[2].split(".")[0] for c in raw.columns if c.startswith("Answer.")}
    wide = raw.rename(columns=flags)[list(flags.values())].copy()
    wide["conversation_id"] = [f"item{i // 3}" for i in range(len(raw))]   # rows come in consecutive triples
    wide["rater_id"] = [f"slot{i % 3}" for i in range(len(raw))]
    db = tmp_path / "hanna.duckdb"
    with Store(db) as s:
        s.ingest_signals(wide, rubric="hanna_issues", wide=True, rater_kind="human",
                         source_name="user_study.csv")
    rows = _audit_json(db, "--bootstrap", "200")
    ac1 = rows[(rows.rater == "humans") & (rows.statistic == "gwet_ac1")].set_index("dimension")["value"]
    published = {"guidelines": 0.90, "syntax": 0.97, "superfluous": 0.66, "unsubstantiated": 0.60,
                 "incoherence": 0.81}
    exact = {"guidelines": 0.90231, "syntax": 0.96554, "superfluous": 0.66265, "unsubstantiated": 0.60189,
             "incoherence": 0.81115}
    for dim, v in published.items():
        assert round(ac1[dim], 2) == pytest.approx(v, abs=1e-9), dim
        assert ac1[dim] == pytest.approx(exact[dim], abs=5e-6), dim


def test_results_do_not_depend_on_the_number_of_threads(demo_db):
    from auditor.audit import audit

    with Store(demo_db, read_only=True) as s:
        one = audit(s, n_boot=200, threads=1)
        two = audit(s, n_boot=200, threads=2)
    assert len(one) > 100 and one["dimension"].nunique() > 2
    pd.testing.assert_frame_equal(one, two)
    r = CliRunner().invoke(app, ["--db", str(demo_db), "audit", "--threads", "1", "--dimension", "Q0", "--statistic",
                                 "rmse", "--json", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    assert [row["statistic"] for row in json.loads(r.stdout)["rows"]] == ["rmse"] * len(json.loads(r.stdout)["rows"])
