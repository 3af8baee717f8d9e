"""Calibration: ECE (equal width / equal mass), Brier and its exact decomposition, reliability data, the human mean
per LLM score level; through the store and on the demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.audit._extras import EXTRA_STATISTICS, calibration_inputs, reliability_data
from auditor.stats import _registry
from auditor.stats.calibration import (CALIBRATION_STATISTICS, bin_equal_mass, bin_equal_width, brier_decomposition,
                                       calibration_statistics, expected_calibration_error, human_mean_by_llm_level,
                                       reliability_diagram)


# ---------------------------------------------------------------------------------------------------------
# hand-derivable cases
# ---------------------------------------------------------------------------------------------------------

def test_ece_by_hand():
    # bin [0.9, 1]: 4 forecasts at 0.9, 3 right -> gap 0.15; bin [0.2, 0.3): one at 0.2, wrong -> gap 0.2
    conf, ok = [0.9, 0.9, 0.9, 0.9, 0.2], [1, 1, 1, 0, 0]
    assert expected_calibration_error(conf, ok) == pytest.approx((4 * 0.15 + 1 * 0.2) / 5, abs=1e-12)
    d = reliability_diagram(conf, ok)
    assert d["bin"].tolist() == [2, 9]
    assert d["accuracy"].tolist() == pytest.approx([0.0, 0.75])
    assert d["gap"].tolist() == pytest.approx([-0.2, -0.15])
    assert d["weight"].sum() == pytest.approx(1.0)


def test_equal_width_bin_edges():
    assert bin_equal_width(np.array([0.0, 0.0999, 0.1, 0.55, 0.95, 1.0])).tolist() == [0, 0, 1, 5, 9, 9]


def test_equal_mass_bins_by_hand():
    p = np.arange(1, 21) / 21.0                    # 20 distinct values -> 2 per decile bin
    assert np.bincount(bin_equal_mass(p)).tolist() == [2] * 10
    # ties stay together: ten forecasts at 0.9 share one bin
    q = np.r_[np.linspace(0.1, 0.5, 10), np.full(10, 0.9)]
    b = bin_equal_mass(q)
    assert np.unique(b[10:]).size == 1
    # equal-mass ECE by hand: 4 forecasts, 2 bins (0.2, 0.4 | 0.6, 0.8), outcomes 0,1 | 1,1
    conf, ok = [0.2, 0.4, 0.6, 0.8], [0, 1, 1, 1]
    e = expected_calibration_error(conf, ok, n_bins=2, strategy="quantile")
    assert e == pytest.approx(0.5 * abs(0.5 - 0.3) + 0.5 * abs(1.0 - 0.7))


def test_brier_decomposition_by_hand_binary():
    # Murphy: forecasts 0.2 (outcomes 0, 1) and 0.8 (outcomes 1, 1); base rate 0.75
    d = brier_decomposition([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1])
    assert d["brier"] == pytest.approx((0.04 + 0.64 + 0.04 + 0.04) / 4)
    assert d["reliability"] == pytest.approx((2 * 0.3 ** 2 + 2 * 0.2 ** 2) / 4)
    assert d["resolution"] == pytest.approx((2 * 0.25 ** 2 + 2 * 0.25 ** 2) / 4)
    assert d["uncertainty"] == pytest.approx(0.75 * 0.25)
    assert d["within_bin_variance"] == pytest.approx(0.0) and d["within_bin_covariance"] == pytest.approx(0.0)


def test_brier_multiclass_by_hand():
    F = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    O = [[1, 0, 0], [0, 1, 0]]
    d = brier_decomposition(F, O)
    assert d["brier"] == pytest.approx(((0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2) + (0.1 ** 2 + 0.2 ** 2 + 0.1 ** 2)) / 2)
    # uncertainty: sum_k obar_k (1 - obar_k) = 0.5*0.5 + 0.5*0.5 + 0
    assert d["uncertainty"] == pytest.approx(0.5)


def test_human_mean_at_llm_level_by_hand():
    rows = human_mean_by_llm_level([1, 1, 2, 2, 2, 2.6], [1, 2, 2, 3, 3, 1], option_values=[1, 2, 3], n_boot=50)
    got = {r.statistic: (r.value, r.n) for r in rows}
    assert got["human_mean_at_llm=1"] == (1.5, 2)
    assert got["human_mean_at_llm=2"][0] == pytest.approx(8 / 3) and got["human_mean_at_llm=2"][1] == 3
    assert got["human_mean_at_llm=3"] == (1.0, 1)          # 2.6 rounds to 3
    assert "rounded to the nearest option value" in rows[0].note
    assert _registry.get("human_mean_at_llm").kind == "calibration"


# ---------------------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 4), seed=st.integers(0, 2**31 - 1), tenths=st.booleans())
def test_brier_decomposition_identity(n, k, seed, tenths):
    """reliability - resolution + uncertainty == brier, exactly (to rounding), for any forecasts."""
    rng = np.random.default_rng(seed)
    if k == 1:
        F = rng.random((n, 1))
        O = (rng.random((n, 1)) < 0.5).astype(float)
    else:
        F = rng.dirichlet(np.ones(k), size=n)
        O = np.eye(k)[rng.integers(0, k, n)]
    if tenths:
        F = np.round(F, 1)
        F = F / F.sum(axis=1, keepdims=True) if k > 1 else F
    d = brier_decomposition(F, O)
    assert d["reliability"] - d["resolution"] + d["uncertainty"] == pytest.approx(d["brier"], abs=1e-12)
    assert d["reliability"] >= -1e-15
    assert d["brier"] == pytest.approx(np.mean(np.sum((F - O) ** 2, axis=1)), abs=1e-12)
    obar = O.mean(axis=0)
    assert d["uncertainty"] == pytest.approx(np.sum(obar * (1 - obar)), abs=1e-12)


def test_decomposition_is_murphys_when_forecasts_take_one_value_per_bin():
    rng = np.random.default_rng(3)
    f = rng.choice([0.05, 0.25, 0.55, 0.95], size=500)
    o = (rng.random(500) < f).astype(float)
    d = brier_decomposition(f, o)
    # Murphy (1973) over the distinct forecast values, written out directly
    obar = o.mean()
    rel = sum((o[f == v].size) * (v - o[f == v].mean()) ** 2 for v in np.unique(f)) / f.size
    res = sum((o[f == v].size) * (o[f == v].mean() - obar) ** 2 for v in np.unique(f)) / f.size
    assert d["reliability"] == pytest.approx(rel, abs=1e-12)
    assert d["resolution"] == pytest.approx(res, abs=1e-12)
    assert d["within_bin_variance"] == pytest.approx(0, abs=1e-12)


def test_reliability_diagram_matches_scikit_learn():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p ** 1.5).astype(float)
    for strategy in ("uniform", "quantile"):
        d = reliability_diagram(p, y, strategy=strategy)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
        assert d["accuracy"].to_numpy() == pytest.approx(prob_true, abs=1e-12)
        assert d["mean_confidence"].to_numpy() == pytest.approx(prob_pred, abs=1e-12)


def test_calibrated_judge_has_ece_near_zero_and_miscalibrated_judge_the_planted_gap():
    rng = np.random.default_rng(1)
    n = 40_000
    p = rng.uniform(0.3, 1.0, n)
    calibrated = (rng.random(n) < p).astype(float)
    overconfident = (rng.random(n) < p - 0.2).astype(float)       # states p, is right with p - 0.2
    for strategy in ("uniform", "quantile"):
        assert expected_calibration_error(p, calibrated, strategy=strategy) < 0.015
        assert expected_calibration_error(p, overconfident, strategy=strategy) == pytest.approx(0.2, abs=0.015)
    rows = {r.statistic: r for r in calibration_statistics(p[:5000], overconfident[:5000], n_boot=200)}
    assert rows["ece"].ci_low < 0.2 < rows["ece"].ci_high
    assert rows["brier_reliability"].value == pytest.approx(0.04, abs=0.01)     # squared planted gap


def test_calibration_statistics_rows_and_units():
    rng = np.random.default_rng(2)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(float)
    units = np.repeat(np.arange(100), 3)                  # 3 samples per conversation
    rows = calibration_statistics(p, y, units=units, n_boot=100, seed=4)
    assert [r.statistic for r in rows] == CALIBRATION_STATISTICS
    for r in rows:
        assert r.n == 100 and r.ci_low <= r.ci_high, r
    assert rows[2].ci_low <= rows[2].value <= rows[2].ci_high          # brier, a mean
    assert "100 units" in rows[0].note
    again = calibration_statistics(p, y, units=units, n_boot=100, seed=4)
    assert [r.ci_low for r in rows] == [r.ci_low for r in again]
    # row order does not matter
    perm = rng.permutation(300)
    shuffled = calibration_statistics(p[perm], y[perm], units=units[perm], n_boot=0)
    assert [r.value for r in shuffled] == pytest.approx([r.value for r in rows], abs=1e-12)
    d = {r.statistic: r.value for r in rows}
    assert d["brier_reliability"] - d["brier_resolution"] + d["brier_uncertainty"] == pytest.approx(d["brier"])


def test_bad_input():
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([1.5], [1])
    with pytest.raises(ValueError, match="0/1"):
        brier_decomposition([0.5], [0.5])
    with pytest.raises(LookupError, match="ece"):
        calibration_statistics([0.5], [1], statistics=["nope"])
    assert np.isnan(expected_calibration_error([], []))


# ---------------------------------------------------------------------------------------------------------
# through the store
# ---------------------------------------------------------------------------------------------------------

def _judge_store(store: Store, *, probs: bool, n: int = 60, seed: int = 0):
    """A tau_usi-style nominal dimension with a non-monotone map (Too many = Too few = 1, About right = 2)."""
    rng = np.random.default_rng(seed)
    labels = ["Too many", "About right", "Too few"]
    conv = [f"c{i}" for i in range(n)]
    human = rng.choice(labels, size=n, p=[0.3, 0.5, 0.2])
    store.ingest_signals(pd.DataFrame({"conversation_id": conv, "dimension": "question_amount_preference",
                                       "rater_id": "h1", "rater_kind": "human", "label": human}),
                         rubric="tau_usi")
    judge = pd.DataFrame({"conversation_id": conv, "dimension": "question_amount_preference", "rater_id": "j",
                          "rater_kind": "judge"})
    if probs:
        P = rng.dirichlet(np.ones(3), size=n)
        for j, lab in enumerate(labels):
            judge[f"prob_{lab}"] = P[:, j]
        judge["label"] = [labels[k] for k in P.argmax(axis=1)]
        store.ingest_signals(judge, rubric="tau_usi")
        return human, P
    conf = rng.uniform(0.4, 1.0, n)
    judge["label"] = rng.choice(labels, size=n)
    judge["confidence"] = conf
    store.ingest_signals(judge, rubric="tau_usi")
    return human, judge


def test_probabilities_collapse_onto_option_values(mem_store):
    human, P = _judge_store(mem_store, probs=True)
    df = audit(mem_store, n_boot=0)
    rows = df[(df.rater == "j") & (df.dimension == "question_amount_preference")].set_index("statistic")
    # by hand: value 1 = Too many + Too few, value 2 = About right; binary one-vs-rest on value 2
    p2 = P[:, 1] / P.sum(axis=1)
    p1 = 1 - p2
    y2 = (human == "About right").astype(float)
    top_conf = np.maximum(p1, p2)
    correct = ((p2 > p1) == (y2 == 1)).astype(float)
    assert rows.loc["brier", "value"] == pytest.approx(np.mean((p2 - y2) ** 2), abs=1e-9)
    assert rows.loc["ece", "value"] == pytest.approx(expected_calibration_error(top_conf, correct), abs=1e-9)
    assert "one-vs-rest Brier on the positive value 2" in rows.loc["brier", "note"]
    # tau_usi declares this dimension ordinal (1 < 2), so the per-level human mean is there
    assert {"human_mean_at_llm=1", "human_mean_at_llm=2"} <= set(rows.index)


def test_self_reported_confidence(mem_store):
    human, judge = _judge_store(mem_store, probs=False)
    df = audit(mem_store, n_boot=0)
    rows = df[df.rater == "j"].set_index("statistic")
    val = {"Too many": 1, "About right": 2, "Too few": 1}
    correct = np.array([val[a] == val[b] for a, b in zip(judge["label"], human)], dtype=float)
    conf = judge["confidence"].to_numpy()
    assert rows.loc["ece", "value"] == pytest.approx(expected_calibration_error(conf, correct), abs=1e-9)
    assert rows.loc["brier", "value"] == pytest.approx(np.mean((conf - correct) ** 2), abs=1e-9)
    assert "self-reported confidence" in rows.loc["ece", "note"]


def test_no_probabilities_no_calibration_rows(mem_store):
    mem_store.ingest_signals(pd.DataFrame({"conversation_id": ["a", "b", "c"], "dimension": "success",
                                           "rater_id": ["h"] * 3, "rater_kind": "human", "label": ["1", "0", "1"]}),
                             rubric="binary_success")
    mem_store.ingest_signals(pd.DataFrame({"conversation_id": ["a", "b", "c"], "dimension": "success",
                                           "rater_id": ["j"] * 3, "rater_kind": "judge", "label": ["1", "1", "1"]}),
                             rubric="binary_success")
    df = audit(mem_store, n_boot=0)
    assert not set(CALIBRATION_STATISTICS) & set(df.statistic)
    assert {"human_mean_at_llm=1"} <= set(df.statistic)


# ---------------------------------------------------------------------------------------------------------
# the demo store, end to end
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_audit(demo_db):
    with Store(demo_db, read_only=True) as s:
        return audit(s, n_boot=200)


def test_demo_end_to_end(demo_audit):
    df = demo_audit
    judges = ["gpt-3.5-turbo-16k:expected", "gpt-3.5-turbo-16k:argmax"]
    dims = [f"Q{i}" for i in range(9)]
    for stat in CALIBRATION_STATISTICS + ["naive_llm_mean", "ppi_mean", "confound_slope_length",
                                          "confound_slope_turns", "alt_test_winning_rate", "alt_test_advantage",
                                          "alt_test_passed"]:
        got = df[df.statistic == stat]
        assert set(got.rater) == set(judges), stat
        assert set(got.dimension) == set(dims), stat
    cal = df[df.statistic.isin(CALIBRATION_STATISTICS)]
    assert cal["value"].notna().all()
    assert (cal.ci_low <= cal.ci_high).all()
    # the Brier score is a mean, so its percentile interval holds the estimate (binned reliability, resolution and
    # ECE are biased upward in resamples, so theirs may not)
    brier = cal[cal.statistic == "brier"]
    assert ((brier.ci_low <= brier.value) & (brier.value <= brier.ci_high)).all()
    # the two demo judges share the probabilities, so their calibration is identical
    a = cal[cal.rater == judges[0]].set_index(["dimension", "statistic"])["value"]
    b = cal[cal.rater == judges[1]].set_index(["dimension", "statistic"])["value"]
    assert np.allclose(a.sort_index(), b.sort_index())
    # exact decomposition in every row
    w = cal.pivot_table(index=["rater", "dimension"], columns="statistic", values="value")
    assert np.allclose(w.brier_reliability - w.brier_resolution + w.brier_uncertainty, w.brier, atol=1e-12)
    # alt-test refused (one human per conversation), with the reason
    alt = df[df.statistic.str.startswith("alt_test")]
    assert alt["value"].isna().all() and alt["note"].str.contains("refused").all()
    assert (alt.reference == "humans").all()
    # human mean per LLM level for the ordinal questions
    assert df.statistic.str.startswith("human_mean_at_llm=").any()
    # one sample per conversation: no stability rows unless asked
    assert not df.statistic.isin(["test_retest_alpha", "flip_rate", "position_consistency"]).any()
    assert set(df.statistic) >= set(EXTRA_STATISTICS) - {"human_mean_at_llm", "rogan_gladen_rate",
                                                          "test_retest_alpha", "flip_rate", "position_consistency"}


def test_reliability_data_from_the_python_api(demo_db):
    with Store(demo_db, read_only=True) as s:
        d = reliability_data(s, "gpt-3.5-turbo-16k:argmax", "llm_rubric", "Q0")
        assert {"bin", "n", "mean_confidence", "accuracy", "gap"} <= set(d.columns)
        assert d["n"].sum() == 223
        with pytest.raises(LookupError, match="unknown rater"):
            reliability_data(s, "nobody", "llm_rubric", "Q0")
        rows = audit(s, AuditOptions(n_boot=0, dimensions=["Q0"], llm=["gpt-3.5-turbo-16k:argmax"]))
    ece = rows[rows.statistic == "ece"]["value"].iloc[0]
    assert ece == pytest.approx(float(np.sum(d["weight"] * d["gap"].abs())), abs=1e-12)
    assert calibration_inputs is not None
