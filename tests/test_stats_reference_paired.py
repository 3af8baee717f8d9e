"""Paired statistics against the published two-rater examples in shared/data/reference-stats and LLM-Rubric.

'exact' values are matched to 1e-9, 'published' ones at their printed decimals.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditor.stats.paired import paired_statistics

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REFERENCE = DATA / "reference-stats" / "reference.json"
LLM_RUBRIC = DATA / "llm-rubric" / "real_data"

needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason=f"reference data not found at {REFERENCE}")
needs_llm_rubric = pytest.mark.skipif(not LLM_RUBRIC.exists(), reason=f"LLM-Rubric data not found at {LLM_RUBRIC}")


def _example(example_id: str) -> dict:
    examples = json.loads(REFERENCE.read_text())["examples"]
    return next(e for e in examples if e["id"] == example_id)


def _pairs_from_table(table) -> tuple[np.ndarray, np.ndarray]:
    """Expand a contingency table (rows rater A, columns rater B) to pairs; category k has value k + 1."""
    t = np.asarray(table, dtype=int)
    rows, cols = np.indices(t.shape)
    x = np.repeat(rows.ravel() + 1, t.ravel()).astype(float)
    y = np.repeat(cols.ravel() + 1, t.ravel()).astype(float)
    return x, y


def _values(x, y, level, **kw) -> dict[str, float]:
    return {r.statistic: r.value for r in paired_statistics(x, y, level=level, n_boot=0, **kw)}


def assert_published(value: float, published: float) -> None:
    """Match a published value at its printed decimals (half a unit in the last printed place)."""
    decimals = -Decimal(repr(published)).as_tuple().exponent
    assert abs(value - published) <= 0.5 * 10.0 ** (-decimals) + 1e-12, (value, published)


@needs_reference
def test_sas_cohen_3x3_table10():
    ex = _example("sas_cohen_3x3_table10")["expected"]
    x, y = _pairs_from_table(_example("sas_cohen_3x3_table10")["contingency_table"]["values"])
    # three categories declared: linear weights on their positions 1 - |i - j| / 2
    v = _values(x, y, "ordinal", option_values=[1, 2, 3])
    assert v["cohen_kappa"] == pytest.approx(ex["kappa"]["exact"], abs=1e-9)
    assert v["weighted_kappa_linear"] == pytest.approx(ex["kappa_linear_weights"]["exact"], abs=1e-9)
    assert v["weighted_kappa_quadratic"] == pytest.approx(ex["kappa_quadratic_weights"]["computed"], abs=1e-9)
    assert_published(v["cohen_kappa"], ex["kappa"]["published"])
    assert_published(v["weighted_kappa_linear"], ex["kappa_linear_weights"]["published"])


@needs_reference
def test_irr_anxiety_kappa2_rater2_vs_rater3():
    ex = _example("irr_anxiety_kappa2")
    ratings = np.asarray(ex["ratings_matrix"]["values"], dtype=float)
    x, y = ratings[:, 1], ratings[:, 2]
    expected = ex["expected"]["rater2_vs_rater3"]
    observed = _values(x, y, "ordinal", option_values=[1, 2, 3, 4, 5, 6], kappa_weights_from="observed")
    assert_published(observed["cohen_kappa"], expected["unweighted"]["published"])
    assert_published(observed["weighted_kappa_linear"], expected["equal_weights"]["published"])
    assert_published(observed["weighted_kappa_quadratic"], expected["squared_weights"]["published"])
    # observed-levels weights are also what you get without declared options
    no_options = _values(x, y, "ordinal", kappa_weights_from="observed")
    assert no_options["weighted_kappa_linear"] == pytest.approx(observed["weighted_kappa_linear"], abs=1e-12)
    declared = _values(x, y, "ordinal", option_values=[1, 2, 3, 4, 5, 6])
    numeric = expected["numeric_distance_with_level5_included"]["computed"]
    assert declared["cohen_kappa"] == pytest.approx(numeric["unweighted"], abs=1e-9)
    assert declared["weighted_kappa_linear"] == pytest.approx(numeric["linear"], abs=1e-9)
    assert declared["weighted_kappa_quadratic"] == pytest.approx(numeric["quadratic"], abs=1e-9)


@needs_reference
def test_wikipedia_cohen_2x2():
    ex = _example("wikipedia_cohen_2x2")
    x, y = _pairs_from_table(ex["contingency_table"]["values"])
    v = _values(x, y, "binary", option_values=[1, 2])
    assert v["cohen_kappa"] == pytest.approx(ex["expected"]["cohen_kappa"]["published"], abs=1e-12)
    assert v["exact_agreement"] == pytest.approx(ex["expected"]["cohen_kappa"]["p_o"], abs=1e-12)


@needs_reference
def test_gwet_cont3x3abstractors():
    ex = _example("gwet_cont3x3abstractors")
    x, y = _pairs_from_table(ex["contingency_table"]["values"])
    v = _values(x, y, "nominal", option_values=[1, 2, 3])
    e = ex["expected"]
    assert_published(v["cohen_kappa"], e["cohen_kappa"]["published"])
    assert_published(v["gwet_ac1"], e["gwet_ac1"]["published"])
    assert_published(v["krippendorff_alpha"], e["krippendorff_alpha"]["published"])
    assert v["exact_agreement"] == pytest.approx(e["percent_agreement"]["published"], abs=1e-12)
    # the interval/ordinal statistics are not defined for nominal data: NaN rows that say so
    row = paired_statistics(x, y, level="nominal", statistics=["pearson"], n_boot=0)[0]
    assert np.isnan(row.value) and "not defined for nominal" in row.note


@needs_reference
@pytest.mark.parametrize("example_id, level", [("krippendorff2011_A_binary_2obs", "binary"),
                                               ("krippendorff2011_B_nominal_2obs", "nominal")])
def test_krippendorff_two_observer_examples(example_id, level):
    ex = _example(example_id)
    a, b = ex["reliability_data"]["values"]
    codes = {v: i for i, v in enumerate(sorted(set(a) | set(b), key=str))}
    x = np.array([codes[v] for v in a], dtype=float)
    y = np.array([codes[v] for v in b], dtype=float)
    v = _values(x, y, level, statistics=["krippendorff_alpha"])["krippendorff_alpha"]
    expected = ex["expected"]["nominal"]
    assert v == pytest.approx(expected["exact"], abs=1e-9)
    num, den = map(int, expected["exact_fraction"].split("/"))
    assert v == pytest.approx(num / den, abs=1e-12)
    assert_published(v, expected["published"])


def _llm_rubric_q0() -> pd.DataFrame:
    human = pd.read_csv(LLM_RUBRIC / "human_judges_real_convs_FIXED_ANON.tsv", sep="\t")
    llm = pd.read_csv(LLM_RUBRIC / "gpt-3.5-turbo-16k_real_evaluations_FIXED.tsv", sep="\t")
    joined = human[human["Q0"] > 0].merge(llm[llm["criterion"] == "Q0"], on="text_id")
    probs = joined[[f"answer{k}_prob" for k in range(1, 5)]].to_numpy()
    probs = probs / probs.sum(axis=1, keepdims=True)
    joined["expected"] = probs @ np.arange(1, 5)
    joined["argmax"] = probs.argmax(axis=1) + 1.0
    return joined


@needs_llm_rubric
@pytest.mark.parametrize("judge, published", [
    ("expected", {"rmse": 0.918676, "pearson": 0.177301, "spearman": 0.086675, "kendall_tau_b": 0.065928}),
    ("argmax", {"rmse": 1.201643, "pearson": 0.140091, "spearman": 0.086990, "kendall_tau_b": 0.081134}),
])
def test_llm_rubric_q0(judge, published):
    data = _llm_rubric_q0()
    assert len(data) == 223
    rows = paired_statistics(data[judge].to_numpy(), data["Q0"].to_numpy(float), level="ordinal",
                             option_values=[1, 2, 3, 4], units=data["text_id"].to_numpy(),
                             statistics=list(published) + ["cohen_kappa"], n_boot=200)
    got = {r.statistic: r for r in rows}
    for name, value in published.items():
        assert round(got[name].value, 6) == pytest.approx(value, abs=1e-12), name
        assert got[name].n == 223
        assert got[name].ci_low < got[name].value < got[name].ci_high
    kappa = got["cohen_kappa"]
    if judge == "expected":   # an expected-value judge is off the option scale: no kappa, and it says why
        assert np.isnan(kappa.value) and "kappa needs both raters on the option scale" in kappa.note
    else:
        assert np.isfinite(kappa.value)
