"""Multi-rater statistics against the worked examples in shared/data/reference-stats (see its REFERENCE.md).

'exact' values are matched at 1e-9, 'published' values at their printed decimals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from auditor.stats._multirater_cac import cac_details
from auditor.stats._multirater_data import counts_to_types
from auditor.stats.multirater import (
    category_counts,
    chance_corrected_agreement,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac2,
    icc,
    krippendorff_alpha,
    multirater_statistics,
    percent_agreement,
)

DATA = Path(__file__).parents[1].parent / "shared" / "data"
REFERENCE = DATA / "reference-stats" / "reference.json"

pytestmark = pytest.mark.skipif(not REFERENCE.exists(), reason=f"reference data not found at {REFERENCE}")


@pytest.fixture(scope="module")
def examples() -> dict:
    return {e["id"]: e for e in json.loads(REFERENCE.read_text())["examples"]}


def _matrix(values) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)


def _printed(published: float, value: float):
    """Assert ``value`` rounds to ``published`` at the number of decimals ``published`` is printed with."""
    decimals = len(repr(float(published)).split(".")[1]) if "." in repr(float(published)) else 0
    assert abs(value - published) <= 0.5 * 10**-decimals + 1e-12, (value, published)


def _long(matrix: np.ndarray, *, raters_in_rows: bool):
    x = matrix.T if raters_in_rows else matrix
    n, k = x.shape
    return np.repeat(np.arange(n), k), np.tile(np.arange(k), n), x.ravel()


# --- Krippendorff's alpha ------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_example_c(examples, level):
    ex = examples["krippendorff2011_C_4obs_12units"]
    data = _matrix(ex["reliability_data"]["values"])
    exp = ex["expected"][level]
    assert krippendorff_alpha(data, level) == pytest.approx(exp["exact"], abs=1e-9)
    num, den = map(int, exp["exact_fraction"].split("/"))
    assert krippendorff_alpha(data, level) == pytest.approx(num / den, abs=1e-12)
    _printed(exp["published"], krippendorff_alpha(data, level))
    # the long-format entry point gives the same number; unit 12 (one value) drops out
    row = multirater_statistics(*_long(data, raters_in_rows=True), level=level,
                                statistics=["krippendorff_alpha"], n_boot=0)[0]
    assert row.value == pytest.approx(exp["exact"], abs=1e-9)
    assert row.n == 11


@pytest.mark.parametrize("ex_id", ["krippendorff2011_A_binary_2obs", "krippendorff2011_B_nominal_2obs"])
def test_krippendorff_2011_examples_a_b(examples, ex_id):
    ex = examples[ex_id]
    raw = ex["reliability_data"]["values"]
    labels = sorted({v for row in raw for v in row if v is not None}, key=str)
    data = np.array([[labels.index(v) for v in row] for row in raw], dtype=float)
    assert krippendorff_alpha(data, "nominal") == pytest.approx(ex["expected"]["nominal"]["exact"], abs=1e-9)


@pytest.mark.parametrize("level", ["nominal", "interval"])
def test_wikipedia_three_coders(examples, level):
    ex = examples["wikipedia_kripp_3coders_15units"]
    data = _matrix(ex["reliability_data"]["values"])
    exp = ex["expected"][level]
    assert krippendorff_alpha(data, level) == pytest.approx(exp["exact"], abs=1e-9)
    _printed(exp["published"], krippendorff_alpha(data, level))


# --- ICC -----------------------------------------------------------------------------------------------------

_SF = {"ICC(1,1)": "icc1", "ICC(2,1)": "icc2", "ICC(3,1)": "icc3", "ICC(1,k)": "icc1k", "ICC(2,k)": "icc2k",
       "ICC(3,k)": "icc3k"}


def test_shrout_fleiss_1979(examples):
    ex = examples["shrout_fleiss_1979_6x4"]
    x = _matrix(ex["ratings_matrix"]["values"])
    table = icc(x).set_index("shrout_fleiss")
    for form, exp in ex["expected"].items():
        assert table.loc[form, "ICC"] == pytest.approx(exp["exact"], abs=1e-9)
        _printed(exp["published"], table.loc[form, "ICC"])
    anova = icc(x).attrs["anova"]
    for key in ("BMS", "WMS", "JMS", "EMS"):
        assert anova[key] == pytest.approx(ex["anova"][key], abs=1e-9)
        _printed(ex["anova"]["published_table3"][key], anova[key])
    f = ex["f_tests"]
    for form in ("ICC(1,1)", "ICC(1,k)"):
        assert table.loc[form, "F"] == pytest.approx(f["ICC1_F"], abs=1e-9)
        assert [table.loc[form, "df1"], table.loc[form, "df2"]] == f["ICC1_df"]
        assert table.loc[form, "pval"] == pytest.approx(f["ICC1_p"], abs=1e-9)
    for form in ("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"):
        assert table.loc[form, "F"] == pytest.approx(f["ICC23_F"], abs=1e-9)
        assert [table.loc[form, "df1"], table.loc[form, "df2"]] == f["ICC23_df"]
        assert table.loc[form, "pval"] == pytest.approx(f["ICC23_p"], abs=1e-9)
    # published 95% intervals (pingouin's test of this table, printed to 2 decimals)
    lower = [-0.13, 0.02, 0.34, -0.88, 0.07, 0.68]
    upper = [0.72, 0.76, 0.95, 0.91, 0.93, 0.99]
    for form, lo, hi in zip(_SF, lower, upper):
        _printed(lo, table.loc[form, "ci_low"])
        _printed(hi, table.loc[form, "ci_high"])
    # the long-format entry point, same numbers
    rows = multirater_statistics(*_long(x, raters_in_rows=False), level="interval", statistics=list(_SF.values()),
                                 n_boot=0)
    for row, form in zip(rows, _SF):
        assert row.value == pytest.approx(ex["expected"][form]["exact"], abs=1e-9)
        assert row.n == 6


def test_pingouin_wine(examples):
    ex = examples["pingouin_wine_8x4"]
    x = _matrix(ex["ratings_matrix"]["values"])
    table = icc(x).set_index("type")
    for form, exp in ex["expected"].items():
        _printed(exp["published"], table.loc[form, "ICC"])
        assert table.loc[form, "ICC"] == pytest.approx(exp["exact"], abs=5e-7)   # printed to 6 decimals
    f = ex["f_tests"]
    _printed(f["F_oneway"], table.loc["ICC(1,1)", "F"])
    _printed(f["F_twoway"], table.loc["ICC(A,1)", "F"])
    assert [table.loc["ICC(1,1)", "df1"], table.loc["ICC(1,1)", "df2"]] == f["df_oneway"]
    assert [table.loc["ICC(C,1)", "df1"], table.loc["ICC(C,1)", "df2"]] == f["df_twoway"]
    # pingouin's docstring: CI95 [0.43, 0.93] for the single-rating forms, [0.75, 0.98] for the k forms
    for form in ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)"):
        assert [round(table.loc[form, "ci_low"], 2), round(table.loc[form, "ci_high"], 2)] == [0.43, 0.93]
    for form in ("ICC(1,k)", "ICC(A,k)", "ICC(C,k)"):
        assert [round(table.loc[form, "ci_low"], 2), round(table.loc[form, "ci_high"], 2)] == [0.75, 0.98]


# --- Fleiss' kappa -------------------------------------------------------------------------------------------

def test_fleiss_1971_diagnoses(examples):
    ex = examples["fleiss1971_30x6_diagnoses"]
    x = _matrix(ex["ratings_matrix"]["values"])
    counts, cats = category_counts(x)
    assert counts.sum(axis=0).tolist() == ex["category_totals"]
    exp = ex["expected"]["fleiss_kappa"]
    assert fleiss_kappa(counts) == pytest.approx(exp["exact"], abs=1e-9)
    _printed(exp["R_irr"], fleiss_kappa(counts))
    row = multirater_statistics(*_long(x, raters_in_rows=False), level="nominal", statistics=["fleiss_kappa"],
                                n_boot=0)[0]
    assert row.value == pytest.approx(exp["exact"], abs=1e-9)


def test_wikipedia_fleiss(examples):
    ex = examples["wikipedia_fleiss_10x14"]
    counts = np.array(ex["counts_matrix"], dtype=float) if isinstance(ex["counts_matrix"], list) else \
        np.array(ex["counts_matrix"]["values"], dtype=float)
    exp = ex["expected"]["fleiss_kappa"]
    assert fleiss_kappa(counts) == pytest.approx(exp["exact"], abs=1e-9)
    _printed(exp["published"], fleiss_kappa(counts))
    # per-subject agreement P_i as printed on Wikipedia
    c = counts
    p_i = (np.sum(c * c, axis=1) - 14) / (14 * 13)
    np.testing.assert_allclose(p_i, ex["per_subject_P_i_published"], atol=5e-4)


# --- Gwet (irrCAC) -------------------------------------------------------------------------------------------

def test_gwet_distrib_6raters_counts(examples):
    ex = examples["gwet_distrib_6raters_15x5"]
    counts = np.array(ex["counts_matrix"]["values"], dtype=float)
    exp = ex["expected"]
    _printed(exp["gwet_ac1"]["published"], gwet_ac1(counts=counts))
    _printed(exp["fleiss_kappa"]["published"], fleiss_kappa(counts))
    _printed(exp["krippendorff_alpha"]["published"], krippendorff_alpha(value_counts=counts, level="nominal"))
    types = counts_to_types(counts)
    ac1 = cac_details(types, None, "identity", "gwet")
    _printed(exp["gwet_ac1"]["pa"], ac1["pa"])
    _printed(exp["gwet_ac1"]["pe"], ac1["pe"])
    _printed(exp["gwet_ac1"]["stderr"], ac1["se"])
    fk = cac_details(types, None, "identity", "fleiss")
    _printed(exp["fleiss_kappa"]["pe"], fk["pe"])
    _printed(exp["fleiss_kappa"]["stderr"], fk["se"])
    assert gwet_ac1(counts=counts) == pytest.approx(0.44480073294, abs=1e-10)   # REFERENCE.md check line
    assert fleiss_kappa(counts) == pytest.approx(0.41392649903, abs=1e-10)


def test_gwet_raw4raters(examples):
    ex = examples["gwet_raw4raters_12x4"]
    x = _matrix(ex["ratings_matrix"]["values"])
    exp = ex["expected"]
    _printed(exp["percent_agreement"]["published"], percent_agreement(x))
    _printed(exp["gwet_ac1"]["published"], gwet_ac1(x))
    _printed(exp["fleiss_kappa"]["published"], fleiss_kappa(category_counts(x)[0]))
    _printed(exp["krippendorff_alpha"]["published"], krippendorff_alpha(x.T, "nominal"))
    _printed(exp["gwet_ac2_bipolar_weights"]["published_python_port"], gwet_ac2(x, weights="bipolar"))
    _printed(exp["gwet_ac2_quadratic_weights"]["computed_python_port"], gwet_ac2(x, weights="quadratic"))
    _printed(exp["krippendorff_alpha_quadratic_weights"]["computed_python_port"], krippendorff_alpha(x.T, "interval"))
    table = chance_corrected_agreement(x).set_index("statistic")
    _printed(exp["gwet_ac1"]["pe"], table.loc["gwet_ac1", "pe"])
    _printed(exp["gwet_ac1"]["stderr"], table.loc["gwet_ac1", "se"])
    assert [round(table.loc["gwet_ac1", "ci_low"], 3), table.loc["gwet_ac1", "ci_high"]] == exp["gwet_ac1"]["ci95"]
    _printed(exp["fleiss_kappa"]["pe"], table.loc["fleiss_kappa", "pe"])
    _printed(exp["fleiss_kappa"]["stderr"], table.loc["fleiss_kappa", "se"])
    bip = chance_corrected_agreement(x, weights="bipolar").set_index("statistic").loc["gwet_ac2"]
    _printed(exp["gwet_ac2_bipolar_weights"]["pa"], bip["pa"])
    _printed(exp["gwet_ac2_bipolar_weights"]["pe"], bip["pe"])
    # through the long-format entry point (ordinal level -> irrCAC "ordinal" weights; interval -> quadratic)
    units, raters, values = _long(x, raters_in_rows=False)
    rows = {r.statistic: r for r in multirater_statistics(
        units, raters, values, level="ordinal", n_boot=0,
        statistics=["gwet_ac1", "fleiss_kappa", "krippendorff_alpha", "gwet_ac2"])}
    assert rows["gwet_ac1"].value == pytest.approx(gwet_ac1(x), abs=1e-12)
    assert rows["fleiss_kappa"].value == pytest.approx(fleiss_kappa(category_counts(x)[0]), abs=1e-12)
    assert rows["gwet_ac2"].value == pytest.approx(gwet_ac2(x, weights="ordinal"), abs=1e-12)
    quad = multirater_statistics(units, raters, values, level="interval", statistics=["gwet_ac2"], n_boot=0)[0]
    assert quad.value == pytest.approx(gwet_ac2(x, weights="quadratic"), abs=1e-12)


# irrCAC 0.4.4's own doctests on this data (afergadis/irrCAC test/unit/irrCAC/raw/test_gwet.py, 3 decimals)
@pytest.mark.parametrize("weights, pa, pe, coef, se", [
    ("linear", 0.939, 0.571, 0.859, 0.117),
    ("ordinal", 0.968, 0.685, 0.899, 0.107),
    ("quadratic", 0.975, 0.714, 0.914, 0.104),
    ("bipolar", 0.968, 0.682, 0.900, 0.106),
])
def test_gwet_raw4raters_weights_irrcac_doctests(examples, weights, pa, pe, coef, se):
    x = _matrix(examples["gwet_raw4raters_12x4"]["ratings_matrix"]["values"])
    row = chance_corrected_agreement(x, weights=weights).set_index("statistic").loc["gwet_ac2"]
    assert [round(row[k], 3) for k in ("pa", "pe", "value", "se")] == [pa, pe, coef, se]
    assert math.isclose(gwet_ac2(x, weights=weights), row["value"], abs_tol=1e-12)
