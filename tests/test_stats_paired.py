"""paired_statistics: cross-checks against scipy / scikit-learn / krippendorff / pingouin, the table bootstrap
engine, resampling units with several pairs, the large-grid fallbacks and the API contract."""

from __future__ import annotations

import warnings
from collections import Counter

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from auditor.stats import _bootstrap, _paired_boot, _paired_table, paired
from auditor.stats._bootstrap import bootstrap_codes
from auditor.stats._paired_boot import bootstrap_tables, unit_types
from auditor.stats._paired_grid import PairedGrid, tabulate_pairs
from auditor.stats._paired_table import TableBatch
from auditor.stats._registry import get
from auditor.stats.paired import PAIRED_STATISTICS, paired_statistics

LIKERT = [1, 2, 3, 4, 5]


def values(x, y, level="interval", **kw) -> dict[str, float]:
    return {r.statistic: r.value for r in paired_statistics(x, y, level=level, n_boot=0, **kw)}


def rows_by_name(rows):
    return {r.statistic: r for r in rows}


def assert_same_rows(a, b, atol=0.0):
    assert [r.statistic for r in a] == [r.statistic for r in b]
    for ra, rb in zip(a, b):
        assert (ra.n, ra.note) == (rb.n, rb.note), ra.statistic
        np.testing.assert_allclose([ra.value, ra.ci_low, ra.ci_high], [rb.value, rb.ci_low, rb.ci_high],
                                   rtol=0, atol=atol, err_msg=ra.statistic)


def judge_data(seed: int, n: int = 300, kind: str = "discrete"):
    """y: a 1-5 human score; x: a judge with bias and noise, discrete or continuous (many distinct values)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(LIKERT, size=n, p=[0.1, 0.2, 0.3, 0.25, 0.15]).astype(float)
    raw = y + 0.3 + rng.normal(0.0, 0.9, n)
    if kind == "discrete":
        return np.clip(np.round(raw), 1, 5), y
    if kind == "continuous":
        return np.round(np.clip(raw, 1, 5), 3), y
    # both continuous
    return np.round(raw, 3), np.round(y + rng.normal(0, 0.5, n), 3)


def icc_a1_pingouin(x, y) -> float:
    import pingouin as pg
    n = x.size
    df = pd.DataFrame({"t": np.r_[np.arange(n), np.arange(n)], "r": np.r_[np.zeros(n), np.ones(n)],
                       "s": np.r_[x, y]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = pg.intraclass_corr(df, "t", "r", "s").set_index("Type")
    return float(table.loc["ICC(A,1)", "ICC"])


def rank_biserial_pingouin(x, y) -> float:
    import pingouin as pg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pg.wilcoxon(x, y)["RBC"].iloc[0])


# ---------------------------------------------------------------------------------------------------------
# cross-checks against libraries
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["discrete", "continuous", "both_continuous"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_pingouin_numpy(kind, seed):
    x, y = judge_data(seed, kind=kind)
    v = values(x, y, "interval")
    d = x - y
    expected = {
        "pearson": stats.pearsonr(x, y).statistic,
        "spearman": stats.spearmanr(x, y).statistic,
        "kendall_tau_b": stats.kendalltau(x, y, variant="b").statistic,
        "wasserstein": stats.wasserstein_distance(x, y),
        "mae": np.mean(np.abs(d)),
        "rmse": np.sqrt(np.mean(d**2)),
        "mean_diff": np.mean(d),
        "leniency_rate": np.mean(d > 0),
        "severity_rate": np.mean(d < 0),
        "adjacent_agreement": np.mean(np.abs(d) <= 1 + 1e-9),
        "variance_ratio": np.var(x) / np.var(y),
        "wilcoxon": rank_biserial_pingouin(x, y),
        "icc": icc_a1_pingouin(x, y),
    }
    for name, ref in expected.items():
        assert v[name] == pytest.approx(ref, abs=1e-9), name


@pytest.mark.parametrize("kind", ["discrete", "continuous", "both_continuous"])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_krippendorff_package(kind, level):
    x, y = judge_data(3, n=250 if kind == "discrete" else 120, kind=kind)   # the package allocates units x V x V
    if level == "ratio":
        x, y = np.abs(x), np.abs(y)
    if level == "nominal" and kind != "discrete":
        # non-integer values without declared options are not categories: NaN with the reason ...
        row = paired_statistics(x, y, level="nominal", statistics=["krippendorff_alpha"], n_boot=0)[0]
        assert np.isnan(row.value) and "nominal alpha needs both raters on a category scale" in row.note
        x, y = np.round(x * 1000), np.round(y * 1000)   # ... integer codes are: > 100 of them (decomposed form)
    v = values(x, y, level, statistics=["krippendorff_alpha"])["krippendorff_alpha"]
    ref = krippendorff.alpha(np.vstack([x, y]), level_of_measurement=level)
    assert v == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("level", ["binary", "nominal", "ordinal", "interval", "ratio"])
def test_alpha_decomposed_form_equals_coincidence_form(level, monkeypatch):
    x, y = judge_data(4, n=200)
    if level == "binary":
        x, y = (x > 3).astype(float), (y > 3).astype(float)
    via_coincidence = values(x, y, level, statistics=["krippendorff_alpha"])["krippendorff_alpha"]
    monkeypatch.setattr(_paired_table, "ALPHA_COINCIDENCE_MAX_VALUES", 0)
    decomposed = values(x, y, level, statistics=["krippendorff_alpha"])["krippendorff_alpha"]
    assert decomposed == pytest.approx(via_coincidence, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 5])
def test_kappas_match_scikit_learn(seed):
    from sklearn.metrics import cohen_kappa_score
    x, y = judge_data(seed, n=150)
    y[y == 2] = 1                       # leave option 2 unused by y; x may still use it
    observed = values(x, y, "ordinal", option_values=LIKERT, kappa_weights_from="observed")
    options = values(x, y, "ordinal", option_values=LIKERT + [6])     # an option nobody used
    for name, weights in [("cohen_kappa", None), ("weighted_kappa_linear", "linear"),
                          ("weighted_kappa_quadratic", "quadratic")]:
        assert observed[name] == pytest.approx(cohen_kappa_score(x, y, weights=weights), abs=1e-9)
        ref = cohen_kappa_score(x, y, weights=weights, labels=LIKERT + [6])
        assert options[name] == pytest.approx(ref, abs=1e-9)


def test_js_divergence_and_ac1():
    x, y = judge_data(6, n=200)
    v = values(x, y, "ordinal", option_values=LIKERT)
    p = np.array([np.mean(x == k) for k in LIKERT])
    q = np.array([np.mean(y == k) for k in LIKERT])
    assert v["js_divergence"] == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-9)
    pi = (p + q) / 2
    p_e = np.sum(pi * (1 - pi)) / (len(LIKERT) - 1)
    p_a = np.mean(x == y)
    assert v["gwet_ac1"] == pytest.approx((p_a - p_e) / (1 - p_e), abs=1e-12)
    assert v["exact_agreement"] == pytest.approx(p_a, abs=1e-12)


def test_kendall_dense_branches_match_scipy():
    rng = np.random.default_rng(7)
    short = rng.integers(1, 6, 400).astype(float)
    long_ = np.round(short + rng.normal(0, 1, 400), 2)
    for x, y in [(short, long_), (long_, short), (long_, np.round(long_ + rng.normal(0, 1, 400), 2))]:
        v = values(x, y, statistics=["kendall_tau_b"])["kendall_tau_b"]
        assert v == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-9)


# ---------------------------------------------------------------------------------------------------------
# the bootstrap engine
# ---------------------------------------------------------------------------------------------------------

def _grid_and_types(x, y, level="ordinal", units=None):
    xv, yv, cx, cy, cell, _ = tabulate_pairs(x, y)
    grid = PairedGrid(xv, yv, cx, cy, level=level, option_values=LIKERT)
    codes = None if units is None else pd.factorize(units)[0]
    return grid, unit_types(cell, grid.n_cells, codes)


def _finalize(grid, names=("mean_diff", "krippendorff_alpha", "spearman")):
    funcs = [get(n, "paired").func for n in names]

    def finalize(tables):
        tb = TableBatch(tables, grid)
        return np.column_stack([f(tb) for f in funcs])

    return finalize


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_engine_equals_bootstrap_codes(method):
    """One pair per unit: the same resamples, values and intervals as the shared engine's bootstrap_codes."""
    x, y = judge_data(8, n=400)
    grid, types = _grid_and_types(x, y)
    finalize = _finalize(grid)
    mine = bootstrap_tables(types, finalize, n_boot=300, seed=11, method=method)
    occupied = grid.cx * grid.yv.size + grid.cy
    xv_idx, yv_idx = np.searchsorted(grid.xv, x), np.searchsorted(grid.yv, y)
    codes = xv_idx * grid.yv.size + yv_idx
    shared = bootstrap_codes(codes, grid.dense_cells, lambda t: finalize(t[:, occupied]), n_boot=300, seed=11,
                             method=method)
    np.testing.assert_array_equal(mine.samples, shared.samples)
    np.testing.assert_allclose(mine.value, shared.value, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine.ci_low, shared.ci_low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine.ci_high, shared.ci_high, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_chunking_does_not_change_results(kind, monkeypatch):
    x, y = judge_data(9, n=300, kind=kind)
    before = paired_statistics(x, y, level="interval", n_boot=200, seed=3)
    monkeypatch.setattr(_paired_boot, "CHUNK_ELEMENTS", 50)
    monkeypatch.setattr(_paired_table, "DENSE_BLOCK_ELEMENTS", 50)
    after = paired_statistics(x, y, level="interval", n_boot=200, seed=3)
    assert_same_rows(before, after, atol=1e-12)


def test_unit_types_group_units_by_their_multiset_of_cells():
    rng = np.random.default_rng(10)
    units = np.repeat(np.arange(300), rng.integers(1, 5, 300))
    x = rng.integers(1, 4, units.size).astype(float)
    y = rng.integers(1, 4, units.size).astype(float)
    _, _, _, _, cell, _ = tabulate_pairs(x, y)
    types = unit_types(cell, int(cell.max()) + 1, units)
    expected = Counter(tuple(sorted(cell[units == u])) for u in np.unique(units))
    dense = types.cells.toarray()
    got = Counter()
    for row, count in zip(dense, types.counts):
        got[tuple(np.repeat(np.arange(row.size), row.astype(int)))] += int(count)
    assert got == expected
    assert types.n_units == 300


def test_bootstrap_resamples_units_brute_force():
    """Replay the engine's draws with a Python loop over units: each drawn unit brings all its pairs."""
    rng = np.random.default_rng(12)
    n_units = 60
    sizes = rng.integers(1, 4, n_units)
    units = np.repeat(np.arange(n_units), sizes)
    y = rng.integers(1, 6, units.size).astype(float)
    x = np.clip(y + rng.integers(-1, 2, units.size), 1, 5)
    grid, types = _grid_and_types(x, y, units=units)
    finalize = _finalize(grid, ("mean_diff", "pearson"))
    res = bootstrap_tables(types, finalize, n_boot=50, seed=4)
    # which unit represents each type: units with the same multiset of cells are interchangeable
    _, _, _, _, cell, _ = tabulate_pairs(x, y)
    dense = types.cells.toarray()
    representative = []
    for row in dense:
        key = tuple(np.repeat(np.arange(row.size), row.astype(int)))
        representative.append(next(u for u in range(n_units) if tuple(sorted(cell[units == u])) == key))
    draws = np.random.default_rng(4).multinomial(types.n_units, types.counts / types.n_units, size=50)
    for b, counts in enumerate(draws):
        xs, ys = [], []
        for t, k in enumerate(counts):
            u = representative[t]
            for _ in range(k):
                xs.extend(x[units == u])
                ys.extend(y[units == u])
        xs, ys = np.array(xs), np.array(ys)
        assert res.samples[b, 0] == pytest.approx(np.mean(xs - ys), abs=1e-12)
        assert res.samples[b, 1] == pytest.approx(stats.pearsonr(xs, ys).statistic, abs=1e-9)


def test_correlated_pairs_in_units_widen_the_interval():
    """Three identical pairs per conversation carry one conversation's information, not three."""
    x, y = judge_data(13, n=150)
    x3, y3 = np.repeat(x, 3), np.repeat(y, 3)
    units = np.repeat(np.arange(150), 3)
    by_unit = rows_by_name(paired_statistics(x3, y3, level="ordinal", units=units, seed=1))
    by_pair = rows_by_name(paired_statistics(x3, y3, level="ordinal", seed=1))
    single = rows_by_name(paired_statistics(x, y, level="ordinal", seed=1))
    for name in ("mean_diff", "krippendorff_alpha", "spearman"):
        w_unit = by_unit[name].ci_high - by_unit[name].ci_low
        w_pair = by_pair[name].ci_high - by_pair[name].ci_low
        w_single = single[name].ci_high - single[name].ci_low
        assert w_unit > 1.4 * w_pair, name
        assert w_unit == pytest.approx(w_single, rel=0.2), name
        assert by_unit[name].n == 150 and by_pair[name].n == 450
    assert "(450 pairs)" in by_unit["mean_diff"].note


def test_one_pair_per_unit_equals_no_units():
    x, y = judge_data(14, n=120)
    ids = np.array([f"conv-{i}" for i in range(120)])
    a = paired_statistics(x, y, level="ordinal", units=ids, n_boot=100)
    b = paired_statistics(x, y, level="ordinal", n_boot=100)
    assert_same_rows(a, b)


def test_bca_interval():
    x, y = judge_data(15, n=200)
    rows = rows_by_name(paired_statistics(x, y, level="ordinal", ci_method="bca", n_boot=500))
    for r in rows.values():
        if np.isfinite(r.value):
            assert r.ci_low <= r.ci_high
        assert "BCa bootstrap over 200 units, B=500" in r.note
    pct = rows_by_name(paired_statistics(x, y, level="ordinal", n_boot=500))
    assert [r.ci_low for r in rows.values()] != [r.ci_low for r in pct.values()]
    assert [r.value for r in rows.values()] == pytest.approx([r.value for r in pct.values()], nan_ok=True)


def test_seed_reproducibility():
    x, y = judge_data(16, n=100)
    a = paired_statistics(x, y, level="ordinal", seed=5, n_boot=100)
    b = paired_statistics(x, y, level="ordinal", seed=5, n_boot=100)
    c = paired_statistics(x, y, level="ordinal", seed=6, n_boot=100)
    assert_same_rows(a, b)
    assert [r.ci_low for r in a] != [r.ci_low for r in c]


# ---------------------------------------------------------------------------------------------------------
# large grids
# ---------------------------------------------------------------------------------------------------------

def test_kendall_falls_back_to_fieller_interval_for_huge_dense_grids(monkeypatch):
    x, y = judge_data(17, n=300, kind="both_continuous")
    monkeypatch.setattr(paired, "MAX_DENSE_CELLS", 1000)
    monkeypatch.setattr(_paired_table, "MAX_DENSE_CELLS", 1000)
    row = paired_statistics(x, y, level="interval", statistics=["kendall_tau_b"])[0]
    assert row.value == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert "Fieller" in row.note and "no bootstrap" in row.note
    z, se = np.arctanh(row.value), np.sqrt(0.437 / (300 - 4))
    assert row.ci_low == pytest.approx(np.tanh(z - 1.959963984540054 * se), abs=1e-12)


def test_continuous_fallback_above_the_table_limit(monkeypatch):
    x, y = judge_data(18, n=400, kind="continuous")
    units = np.repeat(np.arange(200), 2)
    table = rows_by_name(paired_statistics(x, y, level="interval", units=units, n_boot=300))
    monkeypatch.setattr(paired, "MAX_TABLE_CELLS", 10)
    fallback = rows_by_name(paired_statistics(x, y, level="interval", units=units, n_boot=300))
    for name in ("pearson", "mae", "rmse", "mean_diff", "leniency_rate", "severity_rate", "adjacent_agreement",
                 "variance_ratio", "icc", "krippendorff_alpha", "spearman", "kendall_tau_b", "wilcoxon",
                 "wasserstein"):
        assert fallback[name].value == pytest.approx(table[name].value, abs=1e-9), name
        assert fallback[name].n == 200
    assert "per-unit moment sums" in fallback["pearson"].note
    assert fallback["pearson"].ci_low < fallback["pearson"].value < fallback["pearson"].ci_high
    assert "Bonett-Wright" in fallback["spearman"].note and np.isfinite(fallback["spearman"].ci_low)
    assert np.isnan(fallback["wasserstein"].ci_low) and "no interval" in fallback["wasserstein"].note
    ordinal = rows_by_name(paired_statistics(x, y, level="ordinal", units=units, n_boot=50))
    ref = krippendorff.alpha(np.vstack([x, y]), level_of_measurement="ordinal")
    assert ordinal["krippendorff_alpha"].value == pytest.approx(ref, abs=1e-9)
    ratio = paired_statistics(np.abs(x), np.abs(y), level="ratio", statistics=["krippendorff_alpha"])[0]
    assert np.isnan(ratio.value) and "not computed" in ratio.note


def test_moment_statistics_get_a_delta_interval_when_units_hold_many_distinct_pair_sets(monkeypatch):
    # units of 4 pairs on a 5-point scale: almost every unit is its own type, so each resample would count n drawn
    # units; above ANALYTIC_ABOVE the moment statistics switch to the delta method, the others keep the bootstrap
    rng = np.random.default_rng(3)
    n_units = 1500
    y = rng.integers(1, 6, 4 * n_units).astype(float)
    x = np.clip(y + rng.integers(-1, 3, y.size), 1, 5)
    units = np.repeat(np.arange(n_units), 4)
    kw = dict(level="ordinal", units=units, option_values=LIKERT, n_boot=400, seed=5)
    boot = rows_by_name(paired_statistics(x, y, **kw))
    monkeypatch.setattr(paired, "ANALYTIC_ABOVE", 10_000)
    monkeypatch.setattr(_bootstrap, "ANALYTIC_ABOVE", 10_000)
    delta = rows_by_name(paired_statistics(x, y, **kw))
    moment = ["pearson", "mae", "rmse", "mean_diff", "leniency_rate", "severity_rate", "adjacent_agreement",
              "variance_ratio", "icc"]
    for name in moment:
        assert delta[name].value == pytest.approx(boot[name].value, abs=1e-12), name
        assert "delta-method" in delta[name].note and "bootstrap" not in delta[name].note.split(";")[1], name
        # the normal interval and the percentile bootstrap agree closely at this size (both ~ the same SE)
        w_boot, w_delta = boot[name].ci_high - boot[name].ci_low, delta[name].ci_high - delta[name].ci_low
        assert w_delta == pytest.approx(w_boot, rel=0.2), name
    for name in ("cohen_kappa", "krippendorff_alpha", "spearman"):     # not moment statistics: unchanged
        assert delta[name].value == boot[name].value and delta[name].ci_low == boot[name].ci_low, name
        assert "delta" not in delta[name].note
    # only moment statistics requested: straight to the moment sums (no unit grouping of table cells)
    only = rows_by_name(paired_statistics(x, y, **{**kw, "statistics": moment}))
    for name in moment:
        assert (only[name].value, only[name].ci_low, only[name].ci_high) == pytest.approx(
            (delta[name].value, delta[name].ci_low, delta[name].ci_high), abs=1e-12), name
        assert "delta-method" in only[name].note


def test_large_discrete_input_is_fast_enough():
    """200k discrete pairs, all statistics, B = 200: well under the 1M x 1000 budget (a few seconds)."""
    import time
    rng = np.random.default_rng(19)
    y = rng.integers(1, 6, 200_000).astype(float)
    x = np.clip(np.round(y + 0.3 + rng.normal(0, 1, y.size)), 1, 5)
    start = time.process_time()
    rows = paired_statistics(x, y, level="ordinal", option_values=LIKERT, n_boot=200)
    assert time.process_time() - start < 10.0
    assert all(np.isfinite(r.value) for r in rows)


# ---------------------------------------------------------------------------------------------------------
# API contract, notes and degenerate input
# ---------------------------------------------------------------------------------------------------------

def test_rows_and_notes():
    x, y = judge_data(20, n=223)
    rows = paired_statistics(x, y, level="ordinal", option_values=LIKERT)
    ordinal = [n for n in PAIRED_STATISTICS if "ordinal" in get(n, "paired").levels]
    assert [r.statistic for r in rows] == ordinal
    for r in rows:
        assert r.n == 223
        assert r.note.startswith("ordinal; percentile bootstrap over 223 units, B=1000")
        assert r.ci_low <= r.ci_high
    notes = rows_by_name(rows)
    assert "weights on the positions of the 5 declared option values" in notes["weighted_kappa_linear"].note
    assert "Wilcoxon signed-rank p = " in notes["wilcoxon"].note


def test_levels_select_statistics():
    x, y = judge_data(21, n=50)
    nominal = [r.statistic for r in paired_statistics(x, y, level="nominal", n_boot=0)]
    assert nominal == ["krippendorff_alpha", "cohen_kappa", "gwet_ac1", "exact_agreement", "js_divergence"]
    binary = [r.statistic for r in paired_statistics((x > 3) * 1.0, (y > 3) * 1.0, level="binary", n_boot=0)]
    assert {"mean_diff", "leniency_rate", "severity_rate", "cohen_kappa"} <= set(binary)
    assert "pearson" not in binary and "weighted_kappa_linear" not in binary


def test_missing_pairs_are_dropped_and_counted():
    x, y = judge_data(22, n=100)
    x[[0, 5]] = np.nan
    y[7] = np.nan
    row = paired_statistics(x, y, level="ordinal", statistics=["mae"], n_boot=50)[0]
    assert row.n == 97
    assert "3 pair(s) with a missing value dropped" in row.note
    ok = ~(np.isnan(x) | np.isnan(y))
    assert row.value == pytest.approx(np.mean(np.abs(x[ok] - y[ok])))


def test_units_missing_after_dropping_pairs():
    x = np.array([1, 2, np.nan, 4, 5, 3.0])
    y = np.array([1, 3, 2, 4, 4, 3.0])
    units = np.array(["a", "a", "b", "c", "c", "d"])
    row = paired_statistics(x, y, level="ordinal", units=units, statistics=["mae"], n_boot=20)[0]
    assert row.n == 3


def test_degenerate_inputs_give_nan_with_reason():
    x = np.full(20, 3.0)
    y = np.tile([1.0, 2.0, 3.0, 4.0], 5)
    rows = rows_by_name(paired_statistics(x, y, level="ordinal", option_values=LIKERT, n_boot=100))
    for name in ("pearson", "spearman", "kendall_tau_b"):
        assert np.isnan(rows[name].value) and "x is constant (all 3)" in rows[name].note
    assert rows["variance_ratio"].value == 0.0
    same = np.full(10, 2.0)
    rows = rows_by_name(paired_statistics(same, same, level="ordinal", option_values=LIKERT, n_boot=100))
    assert np.isnan(rows["krippendorff_alpha"].value) and "no variation" in rows["krippendorff_alpha"].note
    assert np.isnan(rows["cohen_kappa"].value) and "only the category 2" in rows["cohen_kappa"].note
    assert np.isnan(rows["icc"].value) and "both raters are constant" in rows["icc"].note
    assert rows["wilcoxon"].value == 0.0 and "all differences are zero" in rows["wilcoxon"].note
    one = paired_statistics([1.0], [2.0], level="ordinal", statistics=["mae", "pearson"])
    assert one[0].value == 1.0 and np.isnan(one[0].ci_low) and "fewer than 2 units" in one[0].note
    assert np.isnan(one[1].value) and "fewer than 2 pairs" in one[1].note
    empty = paired_statistics([np.nan], [1.0], level="ordinal", statistics=["mae"])
    assert np.isnan(empty[0].value) and "no complete pairs" in empty[0].note


def test_off_scale_ratings():
    x = np.array([3.28, 2.5, 4.0, 1.2, 3.9, 2.2])
    y = np.array([3, 2, 4, 1, 4, 3.0])
    rows = rows_by_name(paired_statistics(x, y, level="ordinal", option_values=[1, 2, 3, 4], n_boot=50))
    for name, label in [("cohen_kappa", "kappa"), ("weighted_kappa_linear", "kappa"), ("gwet_ac1", "AC1"),
                        ("exact_agreement", "exact agreement"), ("js_divergence", "JS divergence")]:
        assert np.isnan(rows[name].value)
        assert f"{label} needs both raters on the option scale" in rows[name].note
        assert "x has 5 value(s) off the options, e.g. 1.2" in rows[name].note
    assert np.isfinite(rows["krippendorff_alpha"].value) and np.isfinite(rows["pearson"].value)
    nominal = paired_statistics(x, y, level="nominal", option_values=[1, 2, 3, 4], n_boot=0,
                                statistics=["krippendorff_alpha"])[0]
    assert np.isnan(nominal.value) and "nominal alpha needs both raters on the option scale" in nominal.note
    no_options = paired_statistics(x, y, level="ordinal", statistics=["cohen_kappa"], n_boot=0)[0]
    assert np.isnan(no_options.value) and "pass option_values" in no_options.note


def test_n_boot_zero():
    x, y = judge_data(23, n=30)
    row = paired_statistics(x, y, level="ordinal", statistics=["mae"], n_boot=0)[0]
    assert np.isnan(row.ci_low) and np.isnan(row.ci_high) and "no interval (n_boot=0)" in row.note


def test_statistics_argument():
    x, y = judge_data(24, n=30)
    rows = paired_statistics(x, y, level="ordinal", statistics=["rmse", "mae", "rmse"], n_boot=0)
    assert [r.statistic for r in rows] == ["rmse", "mae"]
    assert paired_statistics(x, y, level="ordinal", statistics="mae", n_boot=0)[0].statistic == "mae"
    with pytest.raises(LookupError, match="paired statistics are: krippendorff_alpha"):
        paired_statistics(x, y, level="ordinal", statistics=["kappa"])


@pytest.mark.parametrize("kwargs, match", [
    ({"level": "likert"}, "unknown level 'likert'"),
    ({"level": "ordinal", "ci_method": "normal"}, "ci_method must be"),
    ({"level": "ordinal", "kappa_weights_from": "numeric"}, "kappa_weights_from must be"),
    ({"level": "ordinal", "confidence": 95}, "confidence must be between 0 and 1"),
    ({"level": "ordinal", "n_boot": -1}, "n_boot must be a non-negative integer"),
    ({"level": "ordinal", "units": [1, 2]}, "units must be 1-D with one element per pair"),
    ({"level": "ordinal", "units": [1, None, 2]}, "units has missing values"),
    ({"level": "ordinal", "option_values": []}, "option_values must be"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_statistics([1.0, 2.0, 3.0], [1.0, 2.0, 2.0], **kwargs)


def test_invalid_data():
    with pytest.raises(ValueError, match="same length"):
        paired_statistics([1.0, 2.0], [1.0], level="ordinal")
    with pytest.raises(ValueError, match="infinite"):
        paired_statistics([1.0, np.inf], [1.0, 2.0], level="ordinal")
    with pytest.raises(ValueError, match="must be numeric"):
        paired_statistics(["good", "bad"], [1.0, 2.0], level="ordinal")


def test_every_paired_statistic_is_registered_with_a_docstring():
    for name in PAIRED_STATISTICS:
        spec = get(name, "paired")
        assert spec.kind == "paired" and spec.doc, name


@pytest.mark.parametrize("kind", ["likert", "continuous", "zeros", "one_sided"])
def test_wilcoxon_pvalue_from_counts_equals_scipy(kind):
    rng = np.random.default_rng(4)
    n = 3000
    if kind == "likert":
        x, y = rng.integers(1, 6, n).astype(float), rng.integers(1, 6, n).astype(float)
    elif kind == "continuous":
        x, y = rng.normal(size=n), rng.normal(0.05, 1, size=n)
    elif kind == "zeros":
        y = rng.integers(1, 4, n).astype(float)
        x = y + rng.choice([0, 0, 0, 1, -1, 0.5], n)
    else:
        y = rng.integers(1, 4, 60).astype(float)
        x = y + rng.choice([0, 1, 2], 60)
    want = stats.wilcoxon(x, y).pvalue
    assert paired.wilcoxon_pvalue(x - y) == pytest.approx(want, rel=1e-9, abs=1e-300)
