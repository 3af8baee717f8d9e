"""auditor calibrate: cross-fitted calibrated judges, their honest audit, and the flag on an in-sample leak."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from auditor import Store
from auditor.audit import audit
from auditor.calibrate import CalibrateOptions, apply_model, calibrate
from auditor.calibrate import _models
from auditor.store import SIGNAL_TABLES
from auditor.errors import AuditorError

from _campaigns import run_cli

JUDGE = "gpt-3.5-turbo-16k:expected"


def _distorted_store(path, *, n=500, seed=0, humans=("h1",), extra_judge_only=0):
    """likert5: a latent quality z per conversation; each human answers round(3 + 1.1 z + N(0, 0.45)), the judge
    a lenient, compressed, monotone distortion round(4.3 + 0.45 z + N(0, 0.2)) (mostly 4s and 5s)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n + extra_judge_only)
    conv = [f"c{i:04d}" for i in range(n + extra_judge_only)]
    judge = np.clip(np.round(4.3 + 0.45 * z + rng.normal(0, 0.2, len(z))), 1, 5)
    rows = []
    for i in range(n):
        for h in humans:
            rows.append({"conversation_id": conv[i], "dimension": "score", "rater_id": h, "rater_kind": "human",
                         "value": float(np.clip(np.round(3 + 1.1 * z[i] + rng.normal(0, 0.45)), 1, 5))})
    store = Store(path)
    store.ingest_signals(pd.DataFrame(rows), rubric="likert5")
    store.ingest_signals(pd.DataFrame({"conversation_id": conv, "dimension": "score", "rater_id": "judge",
                                       "rater_kind": "judge", "value": judge}), rubric="likert5")
    return store, z, judge


def _noise_floor(seed=99, n=400_000):
    """RMSE of the best possible map judge score -> human answer (E[human | judge], from a large fresh sample)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    judge = np.clip(np.round(4.3 + 0.45 * z + rng.normal(0, 0.2, n)), 1, 5)
    human = np.clip(np.round(3 + 1.1 * z + rng.normal(0, 0.45, n)), 1, 5)
    best = pd.Series(human).groupby(judge).transform("mean").to_numpy()
    return float(np.sqrt(np.mean((best - human) ** 2))), float(np.sqrt(np.mean((judge - human) ** 2)))


@pytest.mark.parametrize("method", ["ordinal", "isotonic", "multinomial", "ridge"])
def test_a_monotone_distortion_is_undone_to_the_noise_floor(tmp_path, method):
    floor, raw_big = _noise_floor()
    store, _, _ = _distorted_store(tmp_path / "s.duckdb")
    with store:
        res = calibrate(store, CalibrateOptions(rater="judge", method=method, seed=3))
        t = res.targets[0]
        assert t["n_conversations"] == 500 and t["method"] == method
        # the raw judge is far off (it is lenient and compressed); the calibrated one is at the floor
        assert t["raw"]["rmse"] > floor + 0.4
        assert abs(t["raw"]["rmse"] - raw_big) < 0.1
        assert t["calibrated"]["rmse"] <= floor * 1.06, (t["calibrated"]["rmse"], floor)
        # what the audit reports is the stored out-of-fold values, never an in-sample fit
        rows = audit(store, llm=["judge:calibrated"], statistics=["rmse"], n_boot=50, ceiling=False)
        assert rows["value"].iloc[0] == pytest.approx(t["calibrated"]["rmse"], abs=1e-9)
        assert "IN-SAMPLE" not in rows["note"].iloc[0]


def test_each_value_comes_from_a_model_that_never_saw_its_human_answer(tmp_path):
    store, _, _ = _distorted_store(tmp_path / "s.duckdb", n=120)
    opts = CalibrateOptions(rater="judge", method="ridge", seed=1)
    with store:
        calibrate(store, opts)
        before = store.sql("SELECT conversation_id, value, rationale FROM signals WHERE rater_id = "
                           "'judge:calibrated' ORDER BY 1").set_index("conversation_id")
        # change one conversation's human answer drastically: its own calibrated value must not move (its model
        # never saw it, nor did the penalty's inner cross-validation); values in other folds do move
        victim = before.index[7]
        for t in SIGNAL_TABLES:
            store.con.execute(f"UPDATE {t} SET value = CASE WHEN value >= 3 THEN 1 ELSE 5 END WHERE rater_id = 'h1' "
                              "AND conversation_id = ?", [victim])
        calibrate(store, opts)
        after = store.sql("SELECT conversation_id, value FROM signals WHERE rater_id = 'judge:calibrated' "
                          "ORDER BY 1").set_index("conversation_id")
    assert after.loc[victim, "value"] == before.loc[victim, "value"]
    fold = before.loc[victim, "rationale"].split("fold ")[1].split(" of")[0]
    other = [c for c in before.index if f"fold {fold} of" not in before.loc[c, "rationale"]]
    assert any(after.loc[c, "value"] != before.loc[c, "value"] for c in other)
    assert "never on this one's human answers" in before.loc[victim, "rationale"]
    assert before.loc[victim, "rationale"].endswith("imitates h1 (annotator terms; a human unseen in training: the "
                                                    "consensus)")


def test_a_planted_leak_is_flagged_by_the_audit(tmp_path):
    store, _, _ = _distorted_store(tmp_path / "s.duckdb", n=200, extra_judge_only=30)
    with store:
        res = calibrate(store, CalibrateOptions(rater="judge", method="multinomial", fit_all=True))
        honest = audit(store, llm=["judge:calibrated"], statistics=["rmse"], n_boot=50, ceiling=False)
        # default apply: the training conversations keep their cross-fitted values; only new ones are scored
        a = apply_model(store, res.model, source="m.json")
        assert a.targets[0]["n_scored"] == 30 and a.targets[0]["n_skipped_training"] == 200
        assert a.targets[0]["n_in_sample"] == 0
        why = store.sql("SELECT rationale FROM signals WHERE rater_id = 'judge:calibrated' AND conversation_id = "
                        "'c0215'")["rationale"].iloc[0]
        assert why.endswith("no known human rated it: predicts the annotators' consensus"), why
        again = audit(store, llm=["judge:calibrated"], statistics=["rmse"], n_boot=50, ceiling=False)
        assert again["value"].iloc[0] == honest["value"].iloc[0]
        # the leak: a model trained on every labelled conversation scores those same conversations
        leak = apply_model(store, res.model, source="m.json", include_training=True)
        assert leak.targets[0]["n_in_sample"] == 200
        flagged = audit(store, llm=["judge:calibrated"], statistics=["rmse"], n_boot=50, ceiling=False)
        meta = json.loads(store.sql("SELECT metadata::VARCHAR AS m FROM raters WHERE rater_id = "
                                    "'judge:calibrated'")["m"].iloc[0])
    note = flagged["note"].iloc[0]
    assert note.startswith("IN-SAMPLE CALIBRATION: 200 of this rater's score values")
    assert flagged["value"].iloc[0] < honest["value"].iloc[0]        # the in-sample fit flatters itself
    assert meta["calibration"]["likert5/score"]["in_sample_conversations"] == 200
    # a new cross-fit replaces the in-sample values and clears the flag
    with Store(tmp_path / "s.duckdb") as store:
        calibrate(store, CalibrateOptions(rater="judge", method="multinomial"))
        rows = audit(store, llm=["judge:calibrated"], statistics=["rmse"], n_boot=50, ceiling=False)
        n = store.sql("SELECT count(*) AS n FROM signals WHERE rater_id = 'judge:calibrated'")["n"].iloc[0]
    assert "IN-SAMPLE" not in rows["note"].iloc[0] and rows["value"].iloc[0] == honest["value"].iloc[0]
    assert n == 200


def test_annotator_terms_imitate_each_human(tmp_path):
    """Two humans on every conversation, one of them a point harsher: with annotator terms the calibrated rater
    learns the offset (its RMSE against each human beats the consensus model's)."""
    rng = np.random.default_rng(5)
    n = 300
    z = rng.normal(size=n)
    conv = [f"c{i}" for i in range(n)]
    rows = []
    for i in range(n):
        rows.append({"conversation_id": conv[i], "dimension": "score", "rater_id": "kind", "rater_kind": "human",
                     "value": float(np.clip(np.round(3.5 + z[i] + rng.normal(0, .3)), 1, 5))})
    half = [{"conversation_id": conv[i], "dimension": "score", "rater_id": "harsh", "rater_kind": "human",
             "value": float(np.clip(np.round(2.0 + z[i] + rng.normal(0, .3)), 1, 5))} for i in range(0, n, 2)]
    with Store(tmp_path / "s.duckdb") as store:
        store.ingest_signals(pd.DataFrame(rows[1::2] + half), rubric="likert5")
        store.ingest_signals(pd.DataFrame({"conversation_id": conv, "dimension": "score", "rater_id": "j",
                                           "rater_kind": "judge", "value": np.clip(np.round(3 + z), 1, 5)}),
                             rubric="likert5")
        per = calibrate(store, CalibrateOptions(rater="j", method="ridge", write=False)).targets[0]
        cons = calibrate(store, CalibrateOptions(rater="j", method="ridge", annotator_terms=False,
                                                 write=False)).targets[0]
    assert per["n_annotators"] == 2 and per["annotator_terms"] and not cons["annotator_terms"]
    assert per["calibrated"]["rmse"] < cons["calibrated"]["rmse"] - 0.3


def test_ordinal_model_matches_statsmodels_without_penalty():
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    latent = X @ np.array([1.0, -0.5, 0.25]) + rng.logistic(size=400)
    y = np.digitize(latent, [-1.0, 0.3, 1.5]).astype(float) + 1
    ours = _models.fit("ordinal", X, y, C=1e9, scaled=np.zeros(3, dtype=bool), value_range=(1, 4))
    ref = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=False, maxiter=5000)
    np.testing.assert_allclose(ours["beta"], ref.params[:3], atol=2e-4)
    np.testing.assert_allclose(ours["thresholds"], ref.model.transform_threshold_params(ref.params)[1:-1],
                               atol=2e-4)
    probs, value = _models.predict(ours, X[:20])
    np.testing.assert_allclose(probs, ref.predict(X[:20]), atol=1e-4)
    np.testing.assert_allclose(value, probs @ np.array([1, 2, 3, 4.0]))


def test_the_penalty_shrinks_toward_the_thresholds_only():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = np.digitize(X[:, 0] + rng.logistic(size=200), [0.0]).astype(float)
    strong = _models.fit("ordinal", X, y, C=1e-6, scaled=np.zeros(2, dtype=bool), value_range=(0, 1))
    assert np.abs(strong["beta"]).max() < 1e-3
    # with beta ~ 0 the one threshold reproduces the base rate
    assert 1 / (1 + np.exp(-strong["thresholds"][0])) == pytest.approx((y == 0).mean(), abs=1e-3)


@pytest.fixture
def demo_copy(demo_db, tmp_path):
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    return path


def test_demo_q0_meets_the_issue_target(demo_copy):
    """LLM-Rubric real data, Q0, out-of-fold: RMSE <= 0.75 and Pearson >= 0.35 (raw judge 0.918676 / 0.177301)."""
    with Store(demo_copy) as store:
        res = calibrate(store, CalibrateOptions(rater=JUDGE, targets=["Q0"]))
        t = res.targets[0]
        assert t["raw"]["rmse"] == pytest.approx(0.918676, abs=1e-6)
        assert t["raw"]["pearson"] == pytest.approx(0.177301, abs=1e-6)
        assert t["n_conversations"] == 223 and t["n_annotators"] == 13
        assert t["calibrated"]["rmse"] <= 0.75 and t["calibrated"]["pearson"] >= 0.35
        assert t["training_mean"]["rmse"] == pytest.approx(0.80, abs=0.01)
        probs = store.sql(f"SELECT probs::VARCHAR AS p FROM signals WHERE rater_id = '{JUDGE}:calibrated'")["p"]
    p = json.loads(probs.iloc[0])
    assert set(p) == {"1", "2", "3", "4"} and sum(p.values()) == pytest.approx(1, abs=1e-9)


@pytest.mark.slow   # over 10 s (a whole CLI session): CI runs it with -m slow
def test_cli_round_trip_and_mistakes(demo_copy, tmp_path):
    model = tmp_path / "m.json"
    r = run_cli(demo_copy, "calibrate", JUDGE, "--target", "Q8", "--fit-all", "--save", str(model))
    assert r.returncode == 0, r.stderr
    assert "stored as rater gpt-3.5-turbo-16k:expected:calibrated: 223 signals written" in r.stdout
    r = run_cli(demo_copy, "calibrate", JUDGE, "--target", "Q8", "--json")
    out = json.loads(r.stdout)
    assert out["targets"][0]["dimension"] == "Q8" and out["batch_id"] is None      # idempotent: nothing changed
    r = run_cli(demo_copy, "calibrate", "apply", str(model), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["targets"][0]["n_skipped_training"] == 223
    (tmp_path / "not_model.json").write_text('{"a": 1}')
    mistakes = [
        (["calibrate", "nobody"], "unknown rater 'nobody'"),
        (["calibrate", "annotator-15"], "is a human rater"),
        (["calibrate", JUDGE, "--target", "Q9"], "has no dimension 'Q9'"),
        (["calibrate", JUDGE, "--fit-all"], "--fit-all and --save go together"),
        (["calibrate", JUDGE, "--folds", "1"], "at least 2 folds"),
        (["calibrate", JUDGE, "--method", "lasso"], "unknown method 'lasso'"),
        (["calibrate", JUDGE, "--rubric", "hanna"], "no answered signal on rubric 'hanna'"),
        (["calibrate", JUDGE, "--name", "annotator-15"], "already exists and is not a calibrated rater"),
        (["calibrate", "apply"], "give the model file"),
        (["calibrate", "apply", str(tmp_path / "missing.json")], "no such file"),
        (["calibrate", "apply", str(tmp_path / "not_model.json")], "not an auditor calibration model"),
    ]
    from typer.testing import CliRunner

    from auditor.cli import app

    runner = CliRunner()
    for args, text in mistakes:      # in-process (the same entry point as the script, without its start-up)
        r = runner.invoke(app, ["--db", str(demo_copy), *args])
        assert r.exit_code == 1, (args, r.output)
        err = " ".join(r.stderr.split())
        assert text in err and "Traceback" not in r.stderr and err.startswith("Error:"), (args, r.stderr)
    r = run_cli(demo_copy, "calibrate", "nobody")                   # and once through the real script
    assert r.returncode == 1 and r.stderr.startswith("Error: unknown rater 'nobody'") and "Traceback" not in r.stderr


def test_too_few_labelled_conversations_is_one_clear_error(tmp_path):
    store, _, _ = _distorted_store(tmp_path / "s.duckdb", n=6)
    with store, pytest.raises(AuditorError, match="only 6 conversations .* 5 folds need at least 10"):
        calibrate(store, CalibrateOptions(rater="judge", targets=["score"]))


def test_a_simulator_without_shared_conversations_gets_one_clear_error(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "tau_usi"
    with Store(tmp_path / "tau.duckdb") as store:
        store.ingest_tau_usi(example / "human_annotations_synthetic.json", kind="human")
        store.ingest_tau_usi(example / "sim-synthetic.json", kind="simulator")
        with pytest.raises(AuditorError, match=r"^'sim-synthetic' and the humans share no conversation on rubric "
                                               r"'tau_usi'.*Fix:"):
            calibrate(store, CalibrateOptions(rater="sim-synthetic"))
