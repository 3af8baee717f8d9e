"""The matched design in the audit: Eval, outcome ECE, success-rate gap and per-dimension rows on the example
store, checked against direct re-computations from the raw JSON files (the released scorer's definitions)."""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from auditor import AuditorError, Store
from auditor.audit import AuditOptions, audit
from auditor.audit._matched import load_difficulty_file, matched_rows, overall_rows
from auditor.cli import app
from auditor.rubric import load_rubric

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tau_usi"
HUMAN = EXAMPLE / "human_annotations_synthetic.json"
SIM = EXAMPLE / "sim-synthetic.json"
FROZEN = REPO.parent / "shared" / "data" / "tau-usi" / "tau_usi_difficulty.json"
TAU = load_rubric("tau_usi")
runner = CliRunner()


# ---------------------------------------------------------------------------------------------------------
# direct re-computation from the JSON files (independent of the store and of auditor.stats.gap)
# ---------------------------------------------------------------------------------------------------------

def _raw():
    human = json.loads(HUMAN.read_text())
    batches: dict[int, dict] = {1: {}, 2: {}, 3: {}}
    for k, v in human.items():
        b = int(k.rsplit("_ann", 1)[1]) if "_ann" in k else 1
        if v.get("keep", True):
            batches[b][k.rsplit("_ann", 1)[0]] = v
    runs: dict[str, dict[int, dict]] = {}
    for r in json.loads(SIM.read_text())["results"]:
        task = f"{r['domain']}_{r['task_index']}"
        runs.setdefault(task, {})[int(r["instance_id"].rsplit("_", 1)[1])] = r
    return batches, runs


def _norm(survey, dim):
    omap = dim.label_to_value()
    ans = (survey.get(dim.name) or {}).get("answer")
    if ans not in omap:
        return None
    lo, hi = min(omap.values()), max(omap.values())
    return (omap[ans] - lo) / (hi - lo)


def direct_eval():
    batches, runs = _raw()
    per_batch = []
    for b in (1, 2, 3):
        task_scores = []
        for t in sorted(set(batches[b]) & set(runs)):
            run_scores = []
            for r in runs[t].values():
                diffs = [abs(h - s) for d in TAU.dimensions
                         if (h := _norm(batches[b][t]["survey"], d)) is not None
                         and (s := _norm(r["survey"], d)) is not None]
                if diffs:
                    run_scores.append(100 * (1 - np.mean(diffs)))
            task_scores.append(np.mean(run_scores))
        per_batch.append(np.mean(task_scores))
    return float(np.mean(per_batch)), float(np.std(per_batch))


def direct_ece(difficulty=None):
    batches, runs = _raw()
    if difficulty is None:      # pooled over every simulator run, >= 10 runs
        difficulty = {t: np.mean([r["reward"] > 0 for r in rr.values()]) for t, rr in runs.items() if len(rr) >= 10}

    def bin_of(v):
        return next((i for i, c in enumerate([0.2, 0.4, 0.6, 0.8]) if v < c), 4)
    per_batch = []
    for b in (1, 2, 3):
        hum = {t: int(e["reward"] > 0) for t, e in batches[b].items()}
        eces = []
        for run in range(1, 11):
            sim = {t: int(rr[run]["reward"] > 0) for t, rr in runs.items() if run in rr}
            tasks = [t for t in sim if t in hum and t in difficulty]
            ece = 0.0
            for k in range(5):
                chunk = [t for t in tasks if bin_of(difficulty[t]) == k]
                if chunk:
                    ece += len(chunk) / len(tasks) * abs(np.mean([sim[t] for t in chunk]) -
                                                         np.mean([hum[t] for t in chunk]))
            eces.append(ece)
        per_batch.append(np.mean(eces))
    return float(np.mean(per_batch)), float(np.std(per_batch))


def direct_gap():
    batches, runs = _raw()
    rate = {t: np.mean([r["reward"] > 0 for r in rr.values()]) for t, rr in runs.items()}
    gaps = []
    for b in (1, 2, 3):
        tasks = sorted(set(batches[b]) & set(rate))
        gaps.append(np.mean([rate[t] for t in tasks]) - np.mean([batches[b][t]["reward"] > 0 for t in tasks]))
    return float(np.mean(gaps)), float(np.std(gaps))


def direct_mean_diff(dim_name):
    batches, runs = _raw()
    dim = TAU.dimension(dim_name)
    vals = dim.label_to_value()
    per_batch = []
    for b in (1, 2, 3):
        diffs = []
        for t in sorted(set(batches[b]) & set(runs)):
            h = (batches[b][t]["survey"].get(dim_name) or {}).get("answer")
            s = [vals[a] for r in runs[t].values() if (a := (r["survey"].get(dim_name) or {}).get("answer"))]
            if h and s:
                diffs.append(np.mean(s) - vals[h])
        per_batch.append(np.mean(diffs))
    return float(np.mean(per_batch))


# ---------------------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def example_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("tau") / "tau.duckdb"
    for path, kind in ((HUMAN, "human"), (SIM, "simulator")):
        r = runner.invoke(app, ["--db", str(db), "ingest", "tau-usi", str(path), "--kind", kind])
        assert r.exit_code == 0, r.output
    return db


@pytest.fixture(scope="module")
def cli_rows(example_db) -> pd.DataFrame:
    r = runner.invoke(app, ["--db", str(example_db), "audit", "--design", "matched", "--json", "--bootstrap", "300"])
    assert r.exit_code == 0, r.output
    return pd.DataFrame(json.loads(r.output)["rows"])


def _row(df, rater, stat, dimension="all"):
    sel = df[(df["rater"] == rater) & (df["statistic"] == stat) & (df["dimension"] == dimension)]
    assert len(sel) == 1, (rater, stat, dimension, sel)
    return sel.iloc[0]


def _audit(db, **kw) -> pd.DataFrame:
    with Store(db, read_only=True) as s:
        return audit(s, AuditOptions(design="matched", n_boot=kw.pop("n_boot", 100), **kw))


# ---------------------------------------------------------------------------------------------------------
# end to end
# ---------------------------------------------------------------------------------------------------------

def test_cli_audit_matched_has_the_gap_rows_with_cis(cli_rows):
    for stat in ("eval_score", "outcome_ece", "success_rate_gap"):
        r = _row(cli_rows, "sim-synthetic", stat)
        assert r["design"] == "matched" and r["reference"] == "humans" and r["n"] == 6
        assert all(math.isfinite(r[c]) for c in ("value", "ci_low", "ci_high")), r
        assert r["ci_low"] <= r["value"] <= r["ci_high"]
        assert math.isfinite(_row(cli_rows, "sim-synthetic", stat + "_batch_std")["value"])
        assert math.isfinite(_row(cli_rows, "human_loo", stat)["value"])


def test_values_match_a_direct_recomputation(cli_rows):
    ev, ev_std = direct_eval()
    assert _row(cli_rows, "sim-synthetic", "eval_score")["value"] == pytest.approx(ev, abs=1e-9)
    assert _row(cli_rows, "sim-synthetic", "eval_score_batch_std")["value"] == pytest.approx(ev_std, abs=1e-9)
    ece, ece_std = direct_ece()
    assert _row(cli_rows, "sim-synthetic", "outcome_ece")["value"] == pytest.approx(ece, abs=1e-12)
    assert _row(cli_rows, "sim-synthetic", "outcome_ece_batch_std")["value"] == pytest.approx(ece_std, abs=1e-12)
    g, g_std = direct_gap()
    assert _row(cli_rows, "sim-synthetic", "success_rate_gap")["value"] == pytest.approx(g, abs=1e-12)
    assert _row(cli_rows, "sim-synthetic", "success_rate_gap_batch_std")["value"] == pytest.approx(g_std, abs=1e-12)
    assert g > 0                                # the synthetic simulator is an "easy mode" user
    for dim in ("task_success", "overall_score", "question_amount_preference"):
        assert _row(cli_rows, "sim-synthetic", "mean_diff", dim)["value"] == pytest.approx(direct_mean_diff(dim))


def test_human_ceilings_between_batches(cli_rows):
    batches, _ = _raw()
    scores = []
    for i, j in combinations((1, 2, 3), 2):
        per_task = []
        for t in sorted(set(batches[i]) & set(batches[j])):
            diffs = [abs(a - b) for d in TAU.dimensions if (a := _norm(batches[i][t]["survey"], d)) is not None
                     and (b := _norm(batches[j][t]["survey"], d)) is not None]
            per_task.append(100 * (1 - np.mean(diffs)))
        scores.append(np.mean(per_task))
    row = _row(cli_rows, "human_loo", "eval_score")
    assert row["value"] == pytest.approx(np.mean(scores))
    assert "not the study's published 97.4" in row["note"]
    assert row["design"] == "matched"


def test_per_dimension_matched_rows(cli_rows):
    for dim in TAU.dimension_names:
        got = set(cli_rows[(cli_rows["rater"] == "sim-synthetic") & (cli_rows["dimension"] == dim)]["statistic"])
        assert got == {"mean_diff", "wasserstein", "js_divergence", "leniency_rate", "severity_rate",
                       "variance_ratio"}, dim
        floor = set(cli_rows[(cli_rows["rater"] == "human_loo") & (cli_rows["dimension"] == dim)]["statistic"])
        assert floor == {"wasserstein", "js_divergence"}
    na = _row(cli_rows, "sim-synthetic", "mean_diff", "answer_effort_time")
    assert na["note"].startswith("2 of 60 answers of this rater not answered")
    assert (cli_rows[cli_rows["rater"] == "sim-synthetic"]["design"] == "matched").all()


def test_cli_table_output(example_db):
    r = runner.invoke(app, ["--db", str(example_db), "audit", "--design", "matched", "--bootstrap", "50"])
    assert r.exit_code == 0, r.output
    assert "Audit (50 bootstrap resamples" in r.output


# ---------------------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------------------

def test_frozen_difficulty_map_loads_and_is_used(example_db):
    if not FROZEN.is_file():
        pytest.skip(f"{FROZEN} not found (the shared data folder sits beside the repository)")
    d = load_difficulty_file(FROZEN)
    assert len(d) == 165 and d["airline_49"] == 1.0 and all(0 <= v <= 1 for v in d.values())
    df = _audit(example_db, statistics=["outcome_ece"], extra={"difficulty_file": str(FROZEN)})
    row = _row(df, "sim-synthetic", "outcome_ece")
    assert "frozen map tau_usi_difficulty.json (165 tasks)" in row["note"]
    assert row["value"] == pytest.approx(direct_ece(d)[0], abs=1e-12)
    assert math.isfinite(_row(df, "human_loo", "outcome_ece")["value"])


def test_difficulty_file_errors(tmp_path):
    with pytest.raises(AuditorError, match="not found"):
        load_difficulty_file(tmp_path / "none.json")
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"difficulty": {"airline_1": 1.5}}))
    with pytest.raises(AuditorError, match="not a rate in"):
        load_difficulty_file(p)
    p.write_text(json.dumps({"airline_1": 0.5}))            # flat maps are accepted
    assert load_difficulty_file(p) == {"airline_1": 0.5}


def test_too_few_runs_for_a_pooled_difficulty_is_a_nan_with_the_fix(example_db):
    df = _audit(example_db, statistics=["outcome_ece"], extra={"difficulty_min_runs": 11})
    row = _row(df, "sim-synthetic", "outcome_ece")
    assert math.isnan(row["value"]) and "--difficulty FILE" in row["note"] and row["note"].startswith("undefined")


def test_imputation_is_opt_in(example_db):
    plain = _row(_audit(example_db, statistics=["eval_score"]), "sim-synthetic", "eval_score")
    imputed = _row(_audit(example_db, statistics=["eval_score"], extra={"eval_impute": True}),
                   "sim-synthetic", "eval_score")
    assert "left out, never imputed" in plain["note"] and "imputed with a random valid value" in imputed["note"]
    assert plain["value"] != imputed["value"] and math.isfinite(imputed["value"])


def test_statistics_filter(example_db):
    df = _audit(example_db, statistics=["success_rate_gap"], ceiling=False)
    assert set(df["statistic"]) == {"success_rate_gap", "success_rate_gap_batch_std"}
    assert set(df["rater"]) == {"sim-synthetic"}


# ---------------------------------------------------------------------------------------------------------
# degenerate cases: nothing to compute -> []; undefined -> NaN with the reason
# ---------------------------------------------------------------------------------------------------------

def test_hooks_return_nothing_quietly(example_db):
    from auditor.audit import _fetch

    with Store(example_db, read_only=True) as s:
        raters = _fetch.raters(s)
        sig = _fetch.dimension_signals(s, "tau_usi", "reuse")
        human = [i.index for i in raters.values() if i.kind == "human"]
        opts = AuditOptions(design="matched", n_boot=0)
        assert overall_rows(s, TAU, {}, raters, human, human, opts) == []
        silent = {**raters, "silent": _fetch.RaterInfo("silent", "simulator", 99)}     # no signal at all
        assert matched_rows(s, sig, TAU, TAU.dimension("reuse"), "silent", silent, human, opts) == []
        only_kappa = AuditOptions(design="matched", n_boot=0, statistics=["cohen_kappa"])
        assert matched_rows(s, sig, TAU, TAU.dimension("reuse"), "sim-synthetic", raters, human, only_kappa) == []


def test_simulator_without_tasks_gives_nan_rows_with_the_reason(tmp_path):
    db = tmp_path / "t.duckdb"
    with Store(db) as s:
        s.ingest_tau_usi(HUMAN, kind="human")
        s.ingest_signals(pd.DataFrame({"conversation_id": ["x1", "x2"], "dimension": ["reuse", "reuse"],
                                       "label": ["Yes", "Maybe"]}), rubric="tau_usi", rater_kind="simulator",
                         rater_id="taskless", source_name="taskless")
    df = _audit(db)
    rows = df[df["rater"] == "taskless"]
    assert not rows.empty and rows["value"].isna().all()
    assert rows["note"].str.contains("task").all()
    ece = _row(df, "taskless", "outcome_ece")
    assert "reward" in ece["note"]


def test_paired_eval_for_a_judge_on_the_human_conversations(tmp_path):
    """A judge rating the humans' own conversations is paired: Eval per conversation (100 when it copies them)."""
    db = tmp_path / "t.duckdb"
    with Store(db) as s:
        s.ingest_tau_usi(HUMAN, kind="human")
        copy = s.sql("SELECT conversation_id, dimension, label FROM signals WHERE status = 'ok'")
        s.ingest_signals(copy, rubric="tau_usi", rater_kind="judge", rater_id="copycat", source_name="copy")
    with Store(db, read_only=True) as s:
        df = audit(s, AuditOptions(n_boot=20))
    row = _row(df, "copycat", "eval_score")
    assert row["design"] == "paired" and row["value"] == pytest.approx(100.0) and row["n"] == 17
    ceiling = _row(df, "human_loo", "eval_score")
    assert math.isnan(ceiling["value"]) and "two humans" in ceiling["note"]
