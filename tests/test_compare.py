"""`auditor compare`: the leaderboard of LLM raters (values, sources, cost per 1,000 conversations, sorting) and the
paired difference between two raters (joint resampling of conversations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _report_store import CLOSE_JUDGE, EVIL_JUDGE, RUBRIC, build_store, write_rubric
from auditor import AuditorError, Store
from auditor.audit import AuditOptions, audit
from auditor.cli import app
from auditor.report import LEADERBOARD_COLUMNS, leaderboard, paired_difference, sort_leaderboard
from auditor.report._rows import RowIndex
from auditor.stats.paired import paired_statistics

runner = CliRunner()
COPY = "judge-copy"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tau_usi"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    """The report store plus ``judge-copy``: the same answers as ``judge-close`` under another name."""
    path = build_store(tmp_path_factory.mktemp("cmp") / "store.duckdb")
    with Store(path) as s:
        df = s.sql("SELECT conversation_id, dimension, label, confidence FROM signals WHERE rater_id = ?",
                   [CLOSE_JUDGE])
        df["rater_id"], df["rater_kind"] = COPY, "judge"
        s.ingest_signals(df, rubric=str(write_rubric(path.parent)), source_name="copy")
    return path


@pytest.fixture(scope="module")
def rows(db) -> pd.DataFrame:
    with Store(db, read_only=True) as s:
        return audit(s, AuditOptions(n_boot=100, seed=1))


@pytest.fixture(scope="module")
def board(db, rows) -> pd.DataFrame:
    with Store(db, read_only=True) as s:
        return leaderboard(s, rows)


# ---------------------------------------------------------------------------------------------------------
# leaderboard
# ---------------------------------------------------------------------------------------------------------

def test_one_row_per_llm_rater_plus_the_ceiling(board):
    assert list(board.columns[: len(LEADERBOARD_COLUMNS)]) == LEADERBOARD_COLUMNS
    assert set(board["rater"]) == {CLOSE_JUDGE, COPY, EVIL_JUDGE, "humans (ceiling)"}
    ceil = board[board["rater"] == "humans (ceiling)"].iloc[0]
    assert ceil["kind"] == "human" and pd.isna(ceil["mean_bias"]) and pd.isna(ceil["leniency"])
    assert (board[board["kind"] == "judge"]["n"] == 40).all()


def test_values_come_from_the_audit_rows(board, rows):
    idx = RowIndex(rows)
    r = board.set_index("rater").loc[CLOSE_JUDGE]
    assert r["eval"] == pytest.approx(idx.cell(CLOSE_JUDGE, "xss_demo", "all", "eval_score")["value"])
    a = idx.cell(CLOSE_JUDGE, "xss_demo", "all", "krippendorff_alpha")
    assert (r["alpha"], r["alpha_ci_low"], r["alpha_ci_high"]) == pytest.approx((a["value"], a["ci_low"],
                                                                                 a["ci_high"]))
    assert r["alpha_source"] == "pooled"
    kw = [idx.cell(CLOSE_JUDGE, "xss_demo", d["name"], "weighted_kappa_quadratic") for d in RUBRIC["dimensions"]]
    kw = [c["value"] for c in kw if c and c["value"] is not None]
    assert r["kappa_w"] == pytest.approx(np.mean(kw)) and np.isnan(r["kappa_w_ci_low"])
    assert r["kappa_w_source"] == f"mean over {len(kw)} dimensions"
    assert r["mean_bias"] == pytest.approx(idx.cell(CLOSE_JUDGE, "xss_demo", "all", "mean_diff")["value"])


def test_cost_and_time_per_thousand_conversations(board):
    r = board.set_index("rater")
    # one run: $0.50 and 20 s for 40 conversations
    assert r.loc[CLOSE_JUDGE, "cost_per_1k"] == pytest.approx(12.5)
    assert r.loc[CLOSE_JUDGE, "seconds_per_1k"] == pytest.approx(500.0)
    assert np.isnan(r.loc[EVIL_JUDGE, "cost_per_1k"]) and np.isnan(r.loc[COPY, "seconds_per_1k"])


def test_one_dimension(db, rows):
    with Store(db, read_only=True) as s:
        b = leaderboard(s, rows, dimension="quality")
    idx = RowIndex(rows)
    r = b.set_index("rater").loc[EVIL_JUDGE]
    assert r["alpha"] == pytest.approx(idx.cell(EVIL_JUDGE, "xss_demo", "quality", "krippendorff_alpha")["value"])
    assert r["mean_bias"] == pytest.approx(idx.cell(EVIL_JUDGE, "xss_demo", "quality", "mean_diff")["value"])
    assert np.isnan(r["eval"])          # Eval is a rubric-level measure


def test_sorting(board):
    by_alpha = sort_leaderboard(board, "alpha")
    vals = by_alpha["alpha"].dropna().tolist()
    assert vals == sorted(vals, reverse=True)
    assert sort_leaderboard(board, "alpha", reverse=True)["alpha"].dropna().tolist() == sorted(vals)
    bias = sort_leaderboard(board, "mean_bias")["mean_bias"]
    assert bias.dropna().abs().tolist() == sorted(bias.dropna().abs().tolist())
    assert bias.isna().tolist()[-1]                       # undefined last
    cost = sort_leaderboard(board, "cost_per_1k")
    assert cost["rater"].iloc[0] == CLOSE_JUDGE and cost["cost_per_1k"].isna().sum() == 3
    assert sort_leaderboard(board, "rater")["rater"].str.lower().tolist() == sorted(board["rater"].str.lower())
    assert sort_leaderboard(board)["eval"].dropna().tolist() == sorted(board["eval"].dropna(), reverse=True)
    with pytest.raises(LookupError, match="unknown column 'nope'.*alpha"):
        sort_leaderboard(board, "nope")


def test_matched_simulator_in_the_leaderboard(tmp_path):
    db = tmp_path / "tau.duckdb"
    with Store(db) as s:
        s.ingest_tau_usi(EXAMPLE / "human_annotations_synthetic.json", kind="human")
        s.ingest_tau_usi(EXAMPLE / "sim-synthetic.json", kind="simulator")
        b = leaderboard(s, audit(s, AuditOptions(n_boot=50)))
    sim = b.set_index("rater").loc["sim-synthetic"]
    assert sim["design"] == "matched" and sim["kind"] == "simulator"
    assert 0 < sim["eval"] < 100 and 0 <= sim["outcome_ece"] <= 1 and np.isnan(sim["alpha"])
    assert sim["mean_bias"] > 0 and sim["mean_bias_source"].startswith("mean over")   # the "easy mode" user
    ceil = b.set_index("rater").loc["humans (ceiling)"]
    assert ceil["eval"] > sim["eval"]


# ---------------------------------------------------------------------------------------------------------
# paired difference
# ---------------------------------------------------------------------------------------------------------

def test_difference_of_identical_raters_is_exactly_zero(db):
    """Joint resampling: both raters' pairs on a drawn conversation move together, so equal raters differ by 0 in
    every resample. (Independent resampling would give a wide interval around 0.)"""
    with Store(db, read_only=True) as s:
        d = paired_difference(s, CLOSE_JUDGE, COPY, n_boot=200, seed=5)
    ok = d.dropna(subset=["diff"])
    assert len(ok) >= 10
    assert (ok["diff"] == 0).all() and (ok["ci_low"] == 0).all() and (ok["ci_high"] == 0).all()
    assert set(ok["reading"]) == {"no clear difference"}


def test_difference_values_and_interval(db, rows):
    with Store(db, read_only=True) as s:
        d = paired_difference(s, CLOSE_JUDGE, EVIL_JUDGE, n_boot=400, seed=2)
    idx = RowIndex(rows)
    for r in d[d["dimension"] != "all"].itertuples():
        for who, got in ((CLOSE_JUDGE, r.a), (EVIL_JUDGE, r.b)):
            want = idx.cell(who, "xss_demo", r.dimension, r.statistic)["value"]
            assert (got == pytest.approx(want)) if want is not None else np.isnan(got)
        if np.isfinite(r.diff):
            assert r.diff == pytest.approx(r.a - r.b)
            assert r.ci_low <= r.diff <= r.ci_high
            assert r.n == 40
    pooled = d[d["dimension"] == "all"].set_index("statistic")
    assert pooled.loc["krippendorff_alpha", "a"] == pytest.approx(
        idx.cell(CLOSE_JUDGE, "xss_demo", "all", "krippendorff_alpha")["value"])
    # the lenient judge rates higher: a clear (negative) difference of mean bias
    md = pooled.loc["mean_diff"]
    assert md["ci_high"] < 0 and md["reading"] == "B rates higher than A"


def test_difference_interval_matches_a_direct_joint_bootstrap(db):
    """Width of the CI of alpha(A) - alpha(B) on one dimension against a direct implementation (resample
    conversation indices, recompute both alphas on the same indices)."""
    with Store(db, read_only=True) as s:
        d = paired_difference(s, CLOSE_JUDGE, EVIL_JUDGE, statistics=["krippendorff_alpha"],
                              dimensions=["quality"], n_boot=2000, seed=11)
        sig = s.sql("SELECT conversation_id AS c, rater_id AS r, value FROM signals WHERE dimension = 'quality' "
                    "AND status = 'ok'")
    w = sig.pivot_table(index="c", columns="r", values="value")
    y = np.sort(w[["human-a", "human-b", "human-c"]].to_numpy(), axis=1)[:, 1]     # median of three humans
    xa, xb = w[CLOSE_JUDGE].to_numpy(), w[EVIL_JUDGE].to_numpy()
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(600):
        i = rng.integers(0, y.size, y.size)
        va = paired_statistics(xa[i], y[i], level="ordinal", statistics=["krippendorff_alpha"], n_boot=0)[0].value
        vb = paired_statistics(xb[i], y[i], level="ordinal", statistics=["krippendorff_alpha"], n_boot=0)[0].value
        diffs.append(va - vb)
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    row = d.iloc[0]
    assert row["diff"] == pytest.approx(
        paired_statistics(xa, y, level="ordinal", statistics=["krippendorff_alpha"], n_boot=0)[0].value
        - paired_statistics(xb, y, level="ordinal", statistics=["krippendorff_alpha"], n_boot=0)[0].value)
    assert (row["ci_high"] - row["ci_low"]) == pytest.approx(hi - lo, rel=0.2)


def test_difference_errors(db, tmp_path):
    with Store(db, read_only=True) as s:
        with pytest.raises(AuditorError, match="unknown rater 'nobody'"):
            paired_difference(s, "nobody", CLOSE_JUDGE)
        with pytest.raises(AuditorError, match="two different raters"):
            paired_difference(s, CLOSE_JUDGE, CLOSE_JUDGE)
        with pytest.raises(LookupError, match="unknown statistic"):
            paired_difference(s, CLOSE_JUDGE, COPY, statistics=["nope"])


def test_difference_without_shared_conversations_says_why(tmp_path):
    db = tmp_path / "s.duckdb"
    rub = write_rubric(tmp_path)
    rows = []
    for i in range(6):
        rows.append({"conversation_id": f"c{i}", "dimension": "helpful", "rater_id": "h", "rater_kind": "human",
                     "label": "yes" if i % 2 else "no"})
        rows.append({"conversation_id": f"c{i}", "dimension": "helpful", "rater_id": "A" if i < 3 else "B",
                     "rater_kind": "judge", "label": "yes"})
    with Store(db) as s:
        s.ingest_signals(pd.DataFrame(rows), rubric=str(rub))
        d = paired_difference(s, "A", "B", n_boot=10)
    assert d["diff"].isna().all() and d["note"].str.contains("no conversation rated by both").all()


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------

def test_cli_compare_table_json_csv(db):
    r = runner.invoke(app, ["--db", str(db), "compare", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    assert CLOSE_JUDGE in r.output and "sorted by eval" in r.output and "humans (ceiling)" in r.output
    r = runner.invoke(app, ["--db", str(db), "compare", "--bootstrap", "50", "--sort", "cost_per_1k", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["sort"] == "cost_per_1k" and payload["leaderboard"][0]["rater"] == CLOSE_JUDGE
    assert payload["leaderboard"][0]["cost_per_1k"] == pytest.approx(12.5)
    assert all(set(LEADERBOARD_COLUMNS) <= set(row) for row in payload["leaderboard"])
    r = runner.invoke(app, ["--db", str(db), "compare", "--bootstrap", "50", "--csv"])
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("rater,kind,model,rubric,design,eval,alpha")


def test_cli_compare_vs(db):
    r = runner.invoke(app, ["--db", str(db), "compare", "--vs", CLOSE_JUDGE, EVIL_JUDGE, "--bootstrap", "100",
                            "--dimension", "quality", "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output)
    assert payload["a"] == CLOSE_JUDGE and payload["b"] == EVIL_JUDGE
    assert {d["dimension"] for d in payload["differences"]} == {"quality"}
    r = runner.invoke(app, ["--db", str(db), "compare", "--vs", CLOSE_JUDGE, COPY, "--bootstrap", "50"])
    assert r.exit_code == 0 and f"B = {COPY}" in r.output and "krippendorff" in r.output
    r = runner.invoke(app, ["--db", str(db), "compare", "--vs", CLOSE_JUDGE, COPY, "--bootstrap", "50", "--csv"])
    assert r.exit_code == 0 and r.output.startswith("rubric,dimension,level,statistic,a,b,diff,ci_low,ci_high")


def test_cli_compare_errors(db):
    r = runner.invoke(app, ["--db", str(db), "compare", "--sort", "nope"])
    assert r.exit_code == 2 and "unknown column 'nope'" in r.output
    r = runner.invoke(app, ["--db", str(db), "compare", "--vs", "nobody", CLOSE_JUDGE])
    assert r.exit_code == 1 and "unknown rater 'nobody'" in r.output
    r = runner.invoke(app, ["--db", str(db), "compare", "--vs", CLOSE_JUDGE])
    assert r.exit_code == 2
