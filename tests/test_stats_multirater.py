"""Multi-rater statistics: cross-checks against krippendorff / pingouin / statsmodels / irrCAC, the large-V
routes, missing-data conventions, degenerate inputs, validation, the registry and shared properties."""

from __future__ import annotations

import contextlib
import math
import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from auditor.stats import _multirater_alpha
from auditor.stats._registry import names as registered_names
from auditor.stats._registry import specs
from auditor.stats.multirater import (
    AC2_WEIGHTS,
    category_counts,
    chance_corrected_agreement,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac2,
    icc,
    krippendorff_alpha,
    multirater_statistics,
)

ALL = ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "gwet_ac2", "icc", "icc1", "icc2", "icc3", "icc1k",
       "icc2k", "icc3k"]
LEVELS = ["nominal", "ordinal", "interval", "ratio"]


def long_from_matrix(x: np.ndarray):
    """(units, raters, values) from an (N units x R raters) matrix, NaN = missing."""
    n, k = x.shape
    return np.repeat(np.arange(n), k), np.tile(np.arange(k), n), x.ravel()


def random_ratings(rng, n, k, values, p_missing):
    x = rng.choice(np.asarray(values, dtype=float), size=(n, k))
    x[rng.random((n, k)) < p_missing] = np.nan
    return x


def stat(x, name, level, **kw):
    kw.setdefault("n_boot", 0)
    return multirater_statistics(*long_from_matrix(x), level=level, statistics=[name], **kw)[0]


# --- Krippendorff's alpha ------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_krippendorff_package_on_random_discrete_data(level):
    rng = np.random.default_rng(11)
    for _ in range(60):
        n, k = int(rng.integers(3, 40)), int(rng.integers(2, 7))
        scale = np.sort(rng.choice(np.arange(0, 15), size=int(rng.integers(2, 7)), replace=False))
        x = random_ratings(rng, n, k, scale, rng.uniform(0, 0.5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = krippendorff.alpha(x.T, level_of_measurement=level)
            ours = krippendorff_alpha(x.T, level)
        if np.isnan(ref) or np.sum((~np.isnan(x)).sum(axis=1) >= 2) < 2:
            assert np.isnan(ours)   # our convention: fewer than two pairable units is undefined, not alpha = 0
            continue
        assert ours == pytest.approx(ref, abs=1e-9)
        assert stat(x, "krippendorff_alpha", level).value == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "ratio"])
def test_alpha_large_v_route_equals_coincidence_route(level, monkeypatch):
    rng = np.random.default_rng(5)
    x = random_ratings(rng, 300, 4, [1, 2, 3, 5, 8], 0.3)
    row = stat(x, "krippendorff_alpha", level, n_boot=400, seed=3)
    monkeypatch.setattr(_multirater_alpha, "COINCIDENCE_MAX_VALUES", 1)   # force the chunked sparse route
    big = stat(x, "krippendorff_alpha", level, n_boot=400, seed=3)
    assert "resampled in chunks" in big.note and "resampled in chunks" not in row.note
    assert big.value == pytest.approx(row.value, abs=1e-12)
    # different resampling schemes, same bootstrap distribution
    assert big.ci_low == pytest.approx(row.ci_low, abs=0.03)
    assert big.ci_high == pytest.approx(row.ci_high, abs=0.03)


def test_alpha_on_continuous_values_matches_package_on_small_data():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=60)
    x = np.round(truth[:, None] + 0.5 * rng.normal(size=(60, 3)), 6) + 5.0
    x[rng.random(x.shape) < 0.2] = np.nan
    for level in LEVELS:
        ref = krippendorff.alpha(x.T, level_of_measurement=level)
        assert krippendorff_alpha(x.T, level) == pytest.approx(ref, abs=1e-9)
        assert stat(x, "krippendorff_alpha", level).value == pytest.approx(ref, abs=1e-9)


def test_alpha_on_many_distinct_values_stays_small_in_memory():
    """50,000 units x 3 raters, ~150,000 distinct values: units x V x V would be ~10^15 cells."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=50_000)
    x = truth[:, None] + 0.5 * rng.normal(size=(50_000, 3)) + 10.0
    x[rng.random(x.shape) < 0.1] = np.nan
    rows = {r.statistic: r for r in multirater_statistics(
        *long_from_matrix(x), level="interval", n_boot=50, seed=0,
        statistics=["krippendorff_alpha", "icc1", "icc", "fleiss_kappa", "gwet_ac2"])}
    expected = 1.0 / 1.25   # var(truth) / (var(truth) + var(noise))
    assert rows["krippendorff_alpha"].value == pytest.approx(expected, abs=0.01)
    assert rows["icc1"].value == pytest.approx(expected, abs=0.01)
    assert rows["icc"].value == pytest.approx(expected, abs=0.01)
    assert rows["krippendorff_alpha"].ci_low < rows["krippendorff_alpha"].value < rows["krippendorff_alpha"].ci_high
    for name in ("fleiss_kappa", "gwet_ac2"):
        assert math.isnan(rows[name].value) and "not a categorical scale" in rows[name].note
    ordinal = stat(x[:5000], "krippendorff_alpha", "ordinal", n_boot=20)
    assert np.isfinite(ordinal.value) and "resampled in chunks" in ordinal.note
    ratio = stat(x[:5000], "krippendorff_alpha", "ratio", n_boot=20)
    assert math.isnan(ratio.value) and "limited to" in ratio.note


def test_alpha_interval_moments_are_shift_invariant_and_precise():
    rng = np.random.default_rng(1)
    x = random_ratings(rng, 200, 3, [1, 2, 3, 4, 5], 0.2)
    a = krippendorff_alpha(x.T, "interval")
    assert krippendorff_alpha(x.T + 1e6, "interval") == pytest.approx(a, abs=1e-9)


# --- Fleiss / Gwet -------------------------------------------------------------------------------------------

def test_fleiss_matches_statsmodels_on_complete_data():
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    rng = np.random.default_rng(4)
    for _ in range(30):
        x = random_ratings(rng, int(rng.integers(5, 50)), int(rng.integers(2, 8)), [0, 1, 2, 3], 0.0)
        counts, _ = category_counts(x)
        assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts, method="fleiss"), abs=1e-9)
        assert stat(x, "fleiss_kappa", "nominal").value == pytest.approx(sm_fleiss(counts), abs=1e-9)


# irrCAC 0.4.4 (python; CAC(..., weights=w, digits=12)) on random matrices with missing data, generated once in
# a separate environment: coefficient and standard error per weights scheme.
IRRCAC_CASES = [
    {"x": [[9, None], [None, 9], [9, None], [4, 4], [8, 8], [4, 9], [4, 4], [9, 8], [None, 4], [9, 9], [9, None]],
     "gwet_identity": [0.5296404276, 0.3131730495], "fleiss": [0.4278959811, 0.4027982312],
     "alpha": 0.5319148936, "gwet_linear": [0.6112449799, 0.3302225284],
     "gwet_ordinal": [0.505870342, 0.3538784593], "gwet_quadratic": [0.6167854315, 0.3682728698],
     "gwet_bipolar": [0.6070790713, 0.3525287419]},
    {"x": [[2, 2, 2, 2, 7], [6, 3, None, 6, None], [6, 6, 3, 7, None], [2, 2, 7, 8, None],
           [None, 6, None, None, 3], [2, 7, None, 7, 8]],
     "gwet_identity": [0.0555297565, 0.1074176758], "fleiss": [0.0198922915, 0.0981094597],
     "alpha": 0.0967741935, "gwet_linear": [0.0082339779, 0.1443559181],
     "gwet_ordinal": [0.1844642281, 0.3030141099], "gwet_quadratic": [0.0377784397, 0.2459742967],
     "gwet_bipolar": [0.0748275572, 0.2333460666]},
    {"x": [[None, 9], [None, 4], [7, 9], [4, None], [4, None], [2, 5], [None, 2], [9, 4], [7, 5], [2, 2], [9, 2],
           [5, 5]],
     "gwet_identity": [0.1142549592, 0.2234336482], "fleiss": [0.0775144138, 0.2324704553],
     "alpha": 0.1333333333, "gwet_linear": [0.0501071928, 0.3174684786],
     "gwet_ordinal": [0.0103092784, 0.4291416652], "gwet_quadratic": [-0.009422898, 0.489381633],
     "gwet_bipolar": [-0.0034473363, 0.4314501812]},
    {"x": [[9, 5, 5], [5, 9, 5], [5, 9, 5], [None, 9, None], [9, 9, 9], [5, 9, None]],
     "gwet_identity": [-0.1675675676, 0.3898062624], "fleiss": [-0.2342857143, 0.2653779695],
     "alpha": -0.0612244898, "gwet_linear": [-0.1675675676, 0.3898062624],
     "gwet_ordinal": [-0.1675675676, 0.3898062624], "gwet_quadratic": [-0.1675675676, 0.3898062624],
     "gwet_bipolar": [-0.1675675676, 0.3898062624]},
]


@pytest.mark.parametrize("case", IRRCAC_CASES)
def test_gwet_fleiss_alpha_match_irrcac_with_missing_data(case):
    x = np.array([[np.nan if v is None else v for v in row] for row in case["x"]], dtype=float)
    for w in ("identity", "linear", "ordinal", "quadratic", "bipolar"):
        row = chance_corrected_agreement(x, weights=w).set_index("statistic").iloc[1]
        assert row["value"] == pytest.approx(case[f"gwet_{w}"][0], abs=1e-9)
        assert row["se"] == pytest.approx(case[f"gwet_{w}"][1], abs=1e-9)
        fn = gwet_ac1(x) if w == "identity" else gwet_ac2(x, weights=w)
        assert fn == pytest.approx(case[f"gwet_{w}"][0], abs=1e-9)
    assert fleiss_kappa(category_counts(x)[0]) == pytest.approx(case["fleiss"][0], abs=1e-9)
    assert chance_corrected_agreement(x).loc[0, "se"] == pytest.approx(case["fleiss"][1], abs=1e-9)
    assert krippendorff_alpha(x.T, "nominal") == pytest.approx(case["alpha"], abs=1e-9)
    assert stat(x, "gwet_ac1", "nominal").value == pytest.approx(case["gwet_identity"][0], abs=1e-9)
    assert stat(x, "fleiss_kappa", "nominal").value == pytest.approx(case["fleiss"][0], abs=1e-9)
    assert stat(x, "gwet_ac2", "ordinal").value == pytest.approx(case["gwet_ordinal"][0], abs=1e-9)
    assert stat(x, "gwet_ac2", "interval").value == pytest.approx(case["gwet_quadratic"][0], abs=1e-9)


def test_option_values_change_ac1_through_q_only():
    rng = np.random.default_rng(8)
    x = random_ratings(rng, 40, 3, [1, 2, 3], 0.1)
    observed = stat(x, "gwet_ac1", "ordinal")
    full = stat(x, "gwet_ac1", "ordinal", option_values=[1, 2, 3, 4, 5])
    assert full.value == pytest.approx(gwet_ac1(x, categories=[1, 2, 3, 4, 5]), abs=1e-12)
    assert full.value != pytest.approx(observed.value, abs=1e-6)
    assert "q=5 categories from option_values" in full.note and "q=3 categories from the observed" in observed.note
    # alpha and Fleiss' kappa ignore unused options
    for name in ("krippendorff_alpha", "fleiss_kappa"):
        assert stat(x, name, "ordinal", option_values=[1, 2, 3, 4, 5]).value == pytest.approx(
            stat(x, name, "ordinal").value, abs=1e-12)
    with pytest.raises(ValueError, match="not one of the option values"):
        stat(x, "gwet_ac1", "ordinal", option_values=[1, 2])


def test_ac2_weights_per_level_and_nominal_equals_ac1():
    assert AC2_WEIGHTS == {"binary": "identity", "nominal": "identity", "ordinal": "ordinal",
                           "interval": "quadratic", "ratio": "quadratic"}
    rng = np.random.default_rng(9)
    x = random_ratings(rng, 50, 3, [1, 2, 3, 4], 0.1)
    nominal = stat(x, "gwet_ac2", "nominal")
    assert nominal.value == pytest.approx(stat(x, "gwet_ac1", "nominal").value, abs=1e-12)
    assert "equals AC1" in nominal.note
    assert "ordinal weights" in stat(x, "gwet_ac2", "ordinal").note
    assert "quadratic weights" in stat(x, "gwet_ac2", "interval").note


# --- ICC -----------------------------------------------------------------------------------------------------

_CI_TOL = 1e-9


def _pingouin_icc(x):
    import pandas as pd
    import pingouin as pg

    n, k = x.shape
    df = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "s": x.ravel()})
    try:   # pingouin rounds CI95 to 2 decimals by default
        from pingouin.config import _no_rounding
    except ImportError:  # pragma: no cover - a pingouin without the helper: compare at its printed precision
        _no_rounding = None
    global _CI_TOL
    _CI_TOL = 1e-9 if _no_rounding else 0.005 + 1e-12
    with warnings.catch_warnings(), (_no_rounding() if _no_rounding else contextlib.nullcontext()):
        warnings.simplefilter("ignore")
        return pg.intraclass_corr(df, targets="t", raters="r", ratings="s", nan_policy="omit").set_index("Type")


def test_icc_matches_pingouin_on_random_balanced_data():
    rng = np.random.default_rng(6)
    for _ in range(15):
        n, k = int(rng.integers(3, 30)), int(rng.integers(2, 6))
        x = rng.normal(size=(n, 1)) + rng.normal(size=(1, k)) * rng.uniform(0, 1) + rng.normal(size=(n, k))
        ref = _pingouin_icc(x)
        ours = icc(x).set_index("type")
        rows = {r.statistic: r for r in multirater_statistics(*long_from_matrix(x), level="interval",
                                                               statistics=ALL[4:], n_boot=0)}
        for typ in ref.index:
            for col in ("ICC", "F", "pval"):
                assert ours.loc[typ, col] == pytest.approx(ref.loc[typ, col], abs=1e-9)
            assert [ours.loc[typ, "df1"], ours.loc[typ, "df2"]] == [ref.loc[typ, "df1"], ref.loc[typ, "df2"]]
            np.testing.assert_allclose([ours.loc[typ, "ci_low"], ours.loc[typ, "ci_high"]], ref.loc[typ, "CI95"],
                                       atol=_CI_TOL)
            assert rows[ours.loc[typ, "statistic"]].value == pytest.approx(ref.loc[typ, "ICC"], abs=1e-9)
        assert rows["icc"].value == rows["icc2"].value


def test_icc_complete_case_matches_pingouin_omit():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(40, 1)) + rng.normal(size=(40, 3))
    x[rng.random(x.shape) < 0.1] = np.nan
    complete = ~np.isnan(x).any(axis=1)
    ref = _pingouin_icc(x)
    for name, typ in (("icc2", "ICC(A,1)"), ("icc3", "ICC(C,1)"), ("icc2k", "ICC(A,k)"), ("icc3k", "ICC(C,k)")):
        row = stat(x, name, "interval", n_boot=100)
        assert row.value == pytest.approx(ref.loc[typ, "ICC"], abs=1e-9)
        assert row.n == complete.sum()
        assert (f"two-way ANOVA on {complete.sum()} complete units of 40; {40 - complete.sum()} with a missing "
                "rater dropped") in row.note
        assert "assumes the same 3 raters rated every unit" in row.note
    assert icc(x, nan_policy="omit").set_index("type").loc["ICC(A,1)", "ICC"] == pytest.approx(
        ref.loc["ICC(A,1)", "ICC"], abs=1e-9)
    with pytest.raises(ValueError, match="nan_policy='omit'"):
        icc(x)


def _naive_oneway_icc(groups):
    """Unbalanced one-way random-effects ANOVA estimator, straight from the textbook formulas."""
    groups = [np.asarray(g, float) for g in groups if len(g) >= 2]
    n = len(groups)
    big_n = sum(len(g) for g in groups)
    grand = np.concatenate(groups).mean()
    ssb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    ssw = sum(((g - g.mean()) ** 2).sum() for g in groups)
    bms, wms = ssb / (n - 1), ssw / (big_n - n)
    k0 = (big_n - sum(len(g) ** 2 for g in groups) / big_n) / (n - 1)
    return (bms - wms) / (bms + (k0 - 1) * wms), (bms - wms) / bms, k0


def test_icc1_unbalanced_uses_k0():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(60, 1)) + 0.7 * rng.normal(size=(60, 4))
    x[rng.random(x.shape) < 0.3] = np.nan
    groups = [row[~np.isnan(row)] for row in x]
    icc1, icc1k, k0 = _naive_oneway_icc(groups)
    r1 = stat(x, "icc1", "interval")
    assert r1.value == pytest.approx(icc1, abs=1e-9)
    assert stat(x, "icc1k", "interval").value == pytest.approx(icc1k, abs=1e-9)
    assert f"k0={k0:.3f}" in r1.note and "unbalanced" in r1.note
    assert r1.n == sum(len(g) >= 2 for g in groups)
    # balanced: the one-way form equals pingouin's ICC(1,1)
    xb = rng.normal(size=(20, 1)) + rng.normal(size=(20, 3))
    assert stat(xb, "icc1", "interval").value == pytest.approx(_pingouin_icc(xb).loc["ICC(1,1)", "ICC"], abs=1e-9)


def test_icc_two_way_needs_the_same_raters():
    # 30 units, each rated by 3 of 10 raters (a Fleiss design): no unit is complete
    rng = np.random.default_rng(3)
    units, raters, values = [], [], []
    for u in range(30):
        for r in rng.choice(10, 3, replace=False):
            units.append(u), raters.append(f"r{r}"), values.append(float(rng.integers(1, 6)))
    rows = {r.statistic: r for r in multirater_statistics(units, raters, values, level="interval", n_boot=0,
                                                          statistics=["icc", "icc3", "icc1"])}
    assert math.isnan(rows["icc"].value) and "rated by all 10 raters" in rows["icc"].note
    assert "use icc1 or krippendorff_alpha" in rows["icc3"].note
    assert np.isfinite(rows["icc1"].value)


# --- the long-format entry point -----------------------------------------------------------------------------

def test_default_statistics_follow_the_registry():
    rng = np.random.default_rng(0)
    x = random_ratings(rng, 30, 3, [1, 2, 3, 4, 5], 0.1)
    got = {lvl: [r.statistic for r in multirater_statistics(*long_from_matrix(x), level=lvl, n_boot=0)]
           for lvl in ("nominal", "ordinal", "interval")}
    assert got["nominal"] == ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1"]
    assert got["ordinal"] == ALL
    assert set(got["interval"]) == set(ALL) - {"fleiss_kappa", "gwet_ac1"}


def get_spec(name):
    return next(s for s in specs("multirater") if s.name == name)


def test_registry_entries():
    assert set(registered_names("multirater")) >= set(ALL)
    for name in ALL:
        spec = get_spec(name)
        assert spec.kind == "multirater" and spec.maximum == 1.0 and spec.higher_is_better
        assert spec.doc
    assert get_spec("icc").extra["shrout_fleiss"] == "ICC(2,1)"
    assert get_spec("icc3k").extra["mcgraw_wong"] == "ICC(C,k)"
    x = np.array([[1, 1], [2, 2], [3, 3.0]])
    row = get_spec("krippendorff_alpha").func(*long_from_matrix(x), level="interval", n_boot=0)
    assert row.value == 1.0


def test_notes_and_missing_data_accounting():
    units = ["a", "a", "a", "b", "b", "b", "c", "c", "d", "e", "e", "e", "f"]
    raters = ["x", "y", "z"] * 4 + ["x"]
    values = [1, 2, 2, 3, 3, 3, 4, 5, 4, 2, 2, 1, np.nan]
    rows = {r.statistic: r for r in multirater_statistics(units, raters, values, level="ordinal", n_boot=200)}
    alpha = rows["krippendorff_alpha"]
    assert alpha.n == 4
    assert "level=ordinal" in alpha.note and "ordinal metric" in alpha.note
    assert "6 units, 3 raters, 12 ratings (1 unit with no rating ignored)" in alpha.note
    assert "4 of 5 rated units pairable" in alpha.note and "1 with one rating drop out" in alpha.note
    assert "95% percentile bootstrap CI over units (B=200, seed=0)" in alpha.note
    assert rows["icc"].n == 3 and "2 with a missing rater dropped" in rows["icc"].note


def test_bootstrap_is_reproducible_and_bca_works():
    rng = np.random.default_rng(1)
    x = random_ratings(rng, 80, 3, [1, 2, 3, 4, 5], 0.15)
    a = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=300, seed=42)
    b = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=300, seed=42)
    c = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=300, seed=43)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    assert any(r1.ci_low != r2.ci_low for r1, r2 in zip(a, c))
    bca = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=300, seed=42, ci_method="bca")
    for r, p in zip(bca, a):
        assert r.value == p.value and np.isfinite(r.ci_low) and r.ci_low < r.ci_high
        assert "bca bootstrap" in r.note
    none = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=0)
    assert all(math.isnan(r.ci_low) and "no interval (n_boot=0)" in r.note for r in none)


def test_bootstrap_interval_covers_the_truth_roughly():
    """Raters = truth + noise: alpha's 95% interval should contain the population value most of the time."""
    rng = np.random.default_rng(21)

    def sample(n):
        truth = rng.integers(1, 6, size=n)
        return np.clip(truth[:, None] + rng.choice([-1, 0, 0, 1], size=(n, 3)), 1, 5).astype(float)

    population = krippendorff_alpha(sample(200_000).T, "interval")
    hits = sum(r.ci_low <= population <= r.ci_high
               for r in (stat(sample(150), "krippendorff_alpha", "interval", n_boot=300, seed=i) for i in range(40)))
    assert hits >= 32


def test_many_unit_types_path_matches_the_multinomial_path(monkeypatch):
    """Continuous ratings make every unit its own type: resampling by index in chunks, same distribution."""
    from auditor.stats import _multirater_boot

    rng = np.random.default_rng(17)
    x = random_ratings(rng, 400, 3, [1, 2, 3, 4, 5], 0.1)
    names = ["krippendorff_alpha", "gwet_ac1", "icc1", "icc"]
    small = multirater_statistics(*long_from_matrix(x), level="ordinal", statistics=names, n_boot=1000, seed=1)
    monkeypatch.setattr(_multirater_boot, "_MAX_TYPES_MULTINOMIAL", 3)
    for method in ("percentile", "bca"):
        many = multirater_statistics(*long_from_matrix(x), level="ordinal", statistics=names, n_boot=1000, seed=1,
                                     ci_method=method)
        for a, b in zip(small, many):
            assert b.value == pytest.approx(a.value, abs=1e-12)
            assert b.ci_low == pytest.approx(a.ci_low, abs=0.03) and b.ci_high == pytest.approx(a.ci_high, abs=0.03)


def test_docstring_examples_run():
    import doctest

    from auditor.stats import _coefficients, multirater

    results = [doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE) for m in (multirater, _coefficients)]
    assert sum(r.attempted for r in results) >= 4 and sum(r.failed for r in results) == 0


# --- degenerate input and validation -------------------------------------------------------------------------

@pytest.mark.parametrize("matrix, reason", [
    ([[1.0], [2.0], [3.0]], "only one rater"),
    ([[2, 2, 2], [2, 2, 2], [2, 2, np.nan]], "all ratings are equal (2)"),
    ([[1, 2, 3], [np.nan, np.nan, 4]], "fewer than two units have two or more ratings"),
    ([[1, np.nan], [np.nan, 2], [3, np.nan]], "no unit has two ratings"),
    ([[np.nan, np.nan], [np.nan, np.nan]], "no ratings"),
])
def test_degenerate_input_gives_nan_with_reason(matrix, reason):
    x = np.array(matrix, dtype=float)
    rows = multirater_statistics(*long_from_matrix(x), level="ordinal", n_boot=50)
    assert [r.statistic for r in rows] == ALL
    for r in rows:
        assert math.isnan(r.value) and math.isnan(r.ci_low) and math.isnan(r.ci_high)
        assert r.note.startswith("undefined: ") and reason in r.note, r.note


def test_plain_functions_warn_on_degenerate_input():
    with pytest.warns(RuntimeWarning, match="all ratings are equal"):
        assert math.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]], "nominal"))
    with pytest.warns(RuntimeWarning, match="all ratings are equal"):
        assert math.isnan(gwet_ac1([[0, 0], [0, 0]], categories=[0, 1]))
    with pytest.warns(RuntimeWarning, match="no unit has two ratings"):
        assert math.isnan(fleiss_kappa([[1, 0], [0, 1]]))
    with pytest.raises(ValueError, match="at least 2 targets"):
        icc([[1, 2, 3]])


def test_validation_errors():
    u, r, v = ["a", "a", "b", "b"], ["x", "y", "x", "y"], [1.0, 2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match=r"unit 'a' has 2 ratings from rater 'x'"):
        multirater_statistics(["a", "a", "b", "b"], ["x", "x", "x", "y"], v, level="ordinal")
    with pytest.raises(ValueError, match="same length"):
        multirater_statistics(u, r[:3], v, level="ordinal")
    with pytest.raises(LookupError, match="valid names are: krippendorff_alpha"):
        multirater_statistics(u, r, v, level="ordinal", statistics=["cohen_kappa"])
    with pytest.raises(ValueError, match="unknown level"):
        multirater_statistics(u, r, v, level="likert")
    with pytest.raises(ValueError, match="use level='nominal'"):
        multirater_statistics(u, r, [1.0, 2.0, 3.0, 2.0], level="binary")
    with pytest.raises(ValueError, match="non-negative"):
        multirater_statistics(u, r, [-1.0, 2.0, 3.0, 2.0], level="ratio")
    with pytest.raises(ValueError, match="values must be numeric"):
        multirater_statistics(u, r, ["good", "bad", "good", "good"], level="nominal")
    with pytest.raises(ValueError, match="units contain missing labels"):
        multirater_statistics(["a", None, "b", "b"], r, v, level="ordinal")
    with pytest.raises(ValueError, match="ci_method"):
        multirater_statistics(u, r, v, level="ordinal", ci_method="normal")
    with pytest.raises(ValueError, match="exactly one of"):
        gwet_ac1()
    with pytest.raises(ValueError, match="unknown weights"):
        gwet_ac2([[1, 2], [2, 2]], weights="cubic")


# --- shared properties (hypothesis) --------------------------------------------------------------------------

@st.composite
def rating_matrices(draw, missing=True):
    n = draw(st.integers(2, 12))
    k = draw(st.integers(2, 4))
    x = draw(hnp.arrays(float, (n, k), elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0])))
    if missing:
        mask = draw(hnp.arrays(bool, (n, k), elements=st.booleans()))
        x = np.where(mask, np.nan, x)
    return x


PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(rating_matrices(), st.sampled_from(LEVELS))
def test_results_are_finite_or_nan_with_reason(x, level):
    for r in multirater_statistics(*long_from_matrix(x), level=level, statistics=ALL, n_boot=20, seed=0):
        if math.isnan(r.value):
            assert r.note.startswith("undefined: ")
        else:
            assert np.isfinite(r.value) and r.value <= 1 + 1e-9
            assert f"level={level}" in r.note


@PROPS
@given(rating_matrices(), st.sampled_from(LEVELS), st.randoms(use_true_random=False))
def test_unit_and_rater_order_do_not_change_values(x, level, random):
    units, raters, values = long_from_matrix(x)
    base = multirater_statistics(units, raters, values, level=level, statistics=ALL, n_boot=0)
    order = list(range(values.size))
    random.shuffle(order)
    relabel = list(range(x.shape[1]))
    random.shuffle(relabel)
    unit_names = np.array([f"u{i}" for i in range(x.shape[0])], dtype=object)
    shuffled = multirater_statistics(unit_names[units[order]], np.array(relabel)[raters[order]], values[order],
                                     level=level, statistics=ALL, n_boot=0)
    for a, b in zip(base, shuffled):
        assert (math.isnan(a.value) and math.isnan(b.value)) or a.value == pytest.approx(b.value, abs=1e-9)


@PROPS
@given(st.integers(2, 15), st.integers(2, 4), st.data())
def test_perfect_agreement_gives_one(n, k, data):
    unit_values = data.draw(hnp.arrays(float, n, elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0])))
    if np.unique(unit_values).size < 2:
        unit_values[0] = 1.0 if unit_values[1] != 1.0 else 2.0
    x = np.repeat(unit_values[:, None], k, axis=1)
    for level in LEVELS:
        for r in multirater_statistics(*long_from_matrix(x), level=level, statistics=ALL, n_boot=0):
            assert r.value == pytest.approx(1.0, abs=1e-9), (r.statistic, level, r.note)


@PROPS
@given(rating_matrices(missing=True), st.integers(0, 2**32 - 1))
def test_bootstrap_reproducible_with_seed(x, seed):
    a = multirater_statistics(*long_from_matrix(x), level="ordinal", statistics=ALL, n_boot=25, seed=seed)
    b = multirater_statistics(*long_from_matrix(x), level="ordinal", statistics=ALL, n_boot=25, seed=seed)
    for r1, r2 in zip(a, b):
        np.testing.assert_equal([r1.value, r1.ci_low, r1.ci_high, r1.n], [r2.value, r2.ci_low, r2.ci_high, r2.n])
        assert r1.note == r2.note
