"""Corrected estimates: PPI++ mean against ppi_python, Rogan-Gladen by hand, the naive LLM mean; through the audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.audit import AuditOptions, audit
from auditor.stats import _registry
from auditor.stats.corrected import naive_llm_mean, ppi_mean, ppi_mean_estimate, rogan_gladen_rate

ppi_py = pytest.importorskip("ppi_py")


def _data(seed, n=60, N=600, binary=False, bias=0.4):
    rng = np.random.default_rng(seed)
    if binary:
        y_all = (rng.random(n + N) < 0.35).astype(float)
        f_all = np.where(rng.random(n + N) < 0.8, y_all, 1 - y_all)          # 80 % accurate judge
    else:
        y_all = rng.integers(1, 6, n + N).astype(float)
        f_all = np.clip(y_all + bias + rng.normal(0, 0.8, n + N), 1, 5)
    return y_all[:n], f_all[:n], f_all[n:]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("binary", [False, True])
def test_ppi_matches_ppi_python(seed, binary):
    y, f, fu = _data(seed, binary=binary)
    e = ppi_mean_estimate(y, f, fu, confidence=0.95)
    lo, hi = ppi_py.ppi_mean_ci(y, f, fu, alpha=0.05)
    point = ppi_py.ppi_mean_pointestimate(y, f, fu)
    assert e.value == pytest.approx(float(np.ravel(point)[0]), abs=1e-10)
    assert e.ci_low == pytest.approx(float(np.ravel(lo)[0]), abs=1e-8)
    assert e.ci_high == pytest.approx(float(np.ravel(hi)[0]), abs=1e-8)
    assert 0 <= e.lam <= 1


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_ppi_with_a_fixed_lambda_matches_ppi_python(lam):
    y, f, fu = _data(9)
    e = ppi_mean_estimate(y, f, fu, lam=lam)
    lo, hi = ppi_py.ppi_mean_ci(y, f, fu, alpha=0.05, lam=lam)
    assert (e.ci_low, e.ci_high) == pytest.approx((float(np.ravel(lo)[0]), float(np.ravel(hi)[0])), abs=1e-10)


def test_ppi_by_hand_and_conventions():
    # lam = 1: mean(f_unl) + mean(y - f) = 0.75 + 0.25
    assert ppi_mean_estimate([1, 0, 1, 1], [1, 0, 1, 0], [1, 1, 0, 1, 1, 0, 1, 1], lam=1.0).value == 1.0
    # lam = 0 is the classical mean, whatever the LLM says
    e = ppi_mean_estimate([1, 2, 3, 4], [9, 9, 9, 1], [5, 5], lam=0.0)
    assert e.value == 2.5 and e.se == pytest.approx(np.std([1, 2, 3, 4]) / 2)
    # an LLM anticorrelated with the humans: lambda clipped to 0 (as ppi_py)
    y = np.array([1.0, 2, 3, 4, 5])
    e = ppi_mean_estimate(y, 6 - y, np.arange(20.0) % 5)
    assert e.lam == 0.0 and e.value == pytest.approx(3.0)
    # no LLM-only conversation: lambda 0, the classical mean (ppi_py would divide by zero)
    e = ppi_mean_estimate(y, y, [])
    assert e.lam == 0.0 and e.value == pytest.approx(3.0) and e.n_unlabelled == 0
    # a constant LLM score carries no information: lambda 0
    assert ppi_mean_estimate(y, np.ones(5), np.ones(10)).lam == 0.0
    assert np.isnan(ppi_mean([1.0], [1.0], [1.0, 2.0]).value)
    with pytest.raises(ValueError, match="one element per labelled"):
        ppi_mean_estimate([1, 2], [1], [1])


def test_ppi_is_tighter_than_the_classical_interval_with_a_good_judge_and_covers():
    rng = np.random.default_rng(0)
    covered, ratio = 0, []
    for _ in range(300):
        y_all = rng.normal(3, 1, 1000)
        f_all = y_all + 0.5 + rng.normal(0, 0.3, 1000)          # biased but informative judge
        e = ppi_mean_estimate(y_all[:80], f_all[:80], f_all[80:])
        covered += e.ci_low <= 3.0 <= e.ci_high
        ratio.append(e.se / e.classical_se)
    assert 0.91 <= covered / 300 <= 0.99
    assert np.median(ratio) < 0.6


def test_ppi_row_note():
    y, f, fu = _data(1)
    row = ppi_mean(y, f, fu)
    assert row.statistic == "ppi_mean" and row.n == y.size + fu.size
    assert "lambda=" in row.note and "classical human mean" in row.note
    assert row.ci_low < row.value < row.ci_high


def test_naive_llm_mean_by_hand():
    row = naive_llm_mean([1, 2, 3, 4], n_boot=200)
    assert row.value == 2.5 and row.n == 4 and row.ci_low <= 2.5 <= row.ci_high
    assert "no human correction" in row.note
    assert np.isnan(naive_llm_mean([]).value)


# ---------------------------------------------------------------------------------------------------------
# Rogan-Gladen
# ---------------------------------------------------------------------------------------------------------

def test_rogan_gladen_by_hand():
    # labelled: 10 human positives (LLM finds 8: TPR 0.8), 10 negatives (LLM says 1 once: TNR 0.9)
    lab_h = [1] * 10 + [0] * 10
    lab_l = [1] * 8 + [0] * 2 + [0] * 9 + [1]
    llm_all = lab_l + [1] * 11 + [0] * 9              # 40 conversations, 20 LLM positives: p = 0.5
    row = rogan_gladen_rate(llm_all, lab_l, lab_h, n_boot=300)
    assert row.value == pytest.approx((0.5 + 0.9 - 1) / (0.8 + 0.9 - 1))
    assert row.ci_low <= row.value <= row.ci_high and row.n == 40
    assert "TPR 0.8" in row.note and "TNR 0.9" in row.note


def test_rogan_gladen_undefined_when_the_llm_is_no_better_than_chance():
    lab_h = [1] * 10 + [0] * 10
    lab_l = [1] * 5 + [0] * 5 + [1] * 5 + [0] * 5           # TPR 0.5, TNR 0.5
    row = rogan_gladen_rate(lab_l + [1, 0], lab_l, lab_h, n_boot=0)
    assert np.isnan(row.value) and "TPR + TNR = 1 <= 1" in row.note
    row = rogan_gladen_rate([1, 1, 0], [1, 1], [1, 1], n_boot=0)         # no human negative: no TNR
    assert np.isnan(row.value) and "both human positives and negatives" in row.note


def test_rogan_gladen_clips_and_says_so():
    lab_h = [1] * 10 + [0] * 10
    lab_l = [1] * 10 + [0] * 8 + [1] * 2                    # TPR 1, TNR 0.8
    row = rogan_gladen_rate(lab_l + [0] * 30, lab_l, lab_h, n_boot=0)  # p = 12/50 = 0.24 -> raw 0.05
    assert row.value == pytest.approx(0.05)
    row = rogan_gladen_rate(lab_l + [0] * 200, lab_l, lab_h, n_boot=0)  # p = 12/220 -> raw < 0
    assert row.value == 0.0 and "clipped" in row.note


def test_rogan_gladen_recovers_a_planted_rate():
    rng = np.random.default_rng(4)
    truth = (rng.random(20_000) < 0.3).astype(float)
    llm = np.where(truth == 1, rng.random(20_000) < 0.85, rng.random(20_000) < 0.2).astype(float)
    row = rogan_gladen_rate(llm, llm[:2000], truth[:2000], n_boot=200)
    assert llm.mean() == pytest.approx(0.3 * 0.85 + 0.7 * 0.2, abs=0.01)     # the naive rate is biased
    assert row.value == pytest.approx(0.3, abs=0.03)
    assert row.ci_low < 0.3 < row.ci_high


def test_registry():
    assert _registry.get("ppi_mean", "corrected").levels == ("binary", "ordinal", "interval", "ratio")
    assert _registry.get("rogan_gladen_rate", "corrected").levels == ("binary",)
    assert _registry.get("naive_llm_mean", "corrected").kind == "corrected"


# ---------------------------------------------------------------------------------------------------------
# through the audit
# ---------------------------------------------------------------------------------------------------------

def test_through_the_audit_ppi_equals_ppi_python_on_the_same_arrays(mem_store):
    rng = np.random.default_rng(5)
    n_all, n_lab = 300, 60
    truth = (rng.random(n_all) < 0.4).astype(int)
    llm = np.where(rng.random(n_all) < 0.85, truth, 1 - truth)
    conv = [f"c{i:03d}" for i in range(n_all)]
    mem_store.ingest_signals(pd.DataFrame({"conversation_id": conv[:n_lab], "dimension": "success", "rater_id": "h",
                                           "rater_kind": "human", "value": truth[:n_lab]}), rubric="binary_success")
    mem_store.ingest_signals(pd.DataFrame({"conversation_id": conv, "dimension": "success", "rater_id": "judge",
                                           "rater_kind": "judge", "value": llm}), rubric="binary_success")
    df = audit(mem_store, AuditOptions(n_boot=200))
    rows = df[df.rater == "judge"].set_index("statistic")
    lo, hi = ppi_py.ppi_mean_ci(truth[:n_lab].astype(float), llm[:n_lab].astype(float),
                                llm[n_lab:].astype(float), alpha=0.05)
    assert rows.loc["ppi_mean", "ci_low"] == pytest.approx(float(np.ravel(lo)[0]), abs=1e-8)
    assert rows.loc["ppi_mean", "ci_high"] == pytest.approx(float(np.ravel(hi)[0]), abs=1e-8)
    assert rows.loc["ppi_mean", "n"] == n_all
    assert rows.loc["naive_llm_mean", "value"] == pytest.approx(llm.mean())
    tpr = llm[:n_lab][truth[:n_lab] == 1].mean()
    tnr = 1 - llm[:n_lab][truth[:n_lab] == 0].mean()
    assert rows.loc["rogan_gladen_rate", "value"] == pytest.approx((llm.mean() + tnr - 1) / (tpr + tnr - 1))
    assert "success = value 1" in rows.loc["rogan_gladen_rate", "note"]


def test_nominal_dimension_gets_no_mean(mem_store):
    mem_store.ingest_signals(pd.DataFrame({"conversation_id": ["a", "b", "c", "a", "b", "c"],
                                           "dimension": "preference", "rater_id": ["h"] * 3 + ["j"] * 3,
                                           "rater_kind": ["human"] * 3 + ["judge"] * 3,
                                           "label": ["A", "B", "tie", "A", "A", "B"]}), rubric="pairwise_preference")
    df = audit(mem_store, AuditOptions(n_boot=0))
    assert not df.statistic.isin(["ppi_mean", "naive_llm_mean", "rogan_gladen_rate", "confound_slope_length"]).any()
