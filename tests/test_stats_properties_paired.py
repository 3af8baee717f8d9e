"""Shared properties of every registered paired statistic (hypothesis).

Perfect agreement gives the registered value for perfect agreement (``maximum``); the order of pairs does not
matter; symmetric statistics are symmetric (and the signed ones flip sign); every value is finite or NaN with a
reason; intervals are ordered; equal seeds give equal results.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.stats._registry import specs
from auditor.stats.paired import paired_statistics

PAIRED = [s for s in specs("paired")]
NAMES = [s.name for s in PAIRED]
SCALES = {"binary": [0, 1], "nominal": [1, 2, 3, 4], "ordinal": [1, 2, 3, 4, 5], "interval": [1, 2, 3, 4, 5],
          "ratio": [1, 2, 3, 4, 5]}
REASON_WORDS = ("undefined", "not defined", "not computed", "need", "too many", "no complete pairs", "fewer than")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spec(name):
    return next(s for s in PAIRED if s.name == name)


@st.composite
def paired_data(draw, level: str, continuous_ok: bool = True):
    """(x, y, option_values): ratings on the level's scale, sometimes continuous, sometimes constant."""
    scale = SCALES[level]
    n = draw(st.integers(1, 30))
    rating = st.sampled_from(scale)
    if continuous_ok and level in ("interval", "ratio") and draw(st.booleans()):
        rating = st.integers(10, 50).map(lambda v: v / 10.0)
    x = np.array(draw(st.lists(rating, min_size=n, max_size=n)), dtype=float)
    y = np.array(draw(st.lists(rating, min_size=n, max_size=n)), dtype=float)
    if draw(st.integers(0, 5)) == 0:
        x[:] = x[0]                                  # a constant rater now and then
    return x, y, scale


def _row(x, y, name, level, options, seed=0, n_boot=30):
    return paired_statistics(x, y, level=level, statistics=[name], option_values=options, n_boot=n_boot,
                             seed=seed)[0]


def _same(a: float, b: float, tol: float = 1e-9) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= tol


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_perfect_agreement_gives_the_maximum(name, data):
    spec = _spec(name)
    level = data.draw(st.sampled_from(spec.levels))
    if spec.maximum is None:
        pytest.skip("no value under perfect agreement")
    x, _, options = data.draw(paired_data(level, continuous_ok=not spec.extra.get("categorical")))
    if np.unique(x).size < 2:
        x = np.concatenate([x, [options[0], options[-1]]])
    row = _row(x, x.copy(), name, level, options, n_boot=0)
    assert row.value == pytest.approx(spec.maximum, abs=1e-9), row.note


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_values_are_finite_or_nan_with_a_reason(name, data):
    level = data.draw(st.sampled_from(_spec(name).levels))
    x, y, options = data.draw(paired_data(level))
    row = _row(x, y, name, level, options)
    assert row.note.startswith(level + "; ")
    if np.isnan(row.value):
        assert any(w in row.note for w in REASON_WORDS), row.note
        assert np.isnan(row.ci_low) and np.isnan(row.ci_high)
    else:
        assert np.isfinite(row.value)
        assert np.isnan(row.ci_low) == np.isnan(row.ci_high)
        if np.isfinite(row.ci_low):
            assert row.ci_low <= row.ci_high + 1e-12
    assert row.n == x.size


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_order_of_pairs_does_not_matter(name, data):
    level = data.draw(st.sampled_from(_spec(name).levels))
    x, y, options = data.draw(paired_data(level))
    perm = np.asarray(data.draw(st.permutations(range(x.size))), dtype=int)
    a = _row(x, y, name, level, options, seed=3)
    b = _row(x[perm], y[perm], name, level, options, seed=3)
    # the table does not depend on order, so neither does the value nor (same seed) the interval
    assert _same(a.value, b.value, 1e-12)
    assert _same(a.ci_low, b.ci_low, 1e-12) and _same(a.ci_high, b.ci_high, 1e-12)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_symmetry(name, data):
    spec = _spec(name)
    level = data.draw(st.sampled_from(spec.levels))
    x, y, options = data.draw(paired_data(level))
    a = _row(x, y, name, level, options, n_boot=0).value
    b = _row(y, x, name, level, options, n_boot=0).value
    if spec.symmetric:
        assert _same(a, b)
    elif name in ("mean_diff", "wilcoxon"):
        assert _same(a, -b)
    elif name == "leniency_rate":
        assert _same(a, _row(y, x, "severity_rate", level, options, n_boot=0).value)
    elif name == "variance_ratio" and np.isfinite(a) and np.isfinite(b) and a > 0:
        assert b == pytest.approx(1.0 / a, rel=1e-9)


@pytest.mark.parametrize("level", list(SCALES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_same_seed_same_result(level, data):
    x, y, options = data.draw(paired_data(level))
    seed = data.draw(st.integers(0, 2**32 - 1))
    a = paired_statistics(x, y, level=level, option_values=options, n_boot=25, seed=seed)
    b = paired_statistics(x, y, level=level, option_values=options, n_boot=25, seed=seed)
    for ra, rb in zip(a, b):
        assert ra.note == rb.note
        assert _same(ra.value, rb.value, 0) and _same(ra.ci_low, rb.ci_low, 0) and _same(ra.ci_high, rb.ci_high, 0)


def test_every_statistic_is_covered():
    assert set(NAMES) == {
        "krippendorff_alpha", "cohen_kappa", "weighted_kappa_linear", "weighted_kappa_quadratic", "gwet_ac1",
        "pearson", "spearman", "kendall_tau_b", "exact_agreement", "adjacent_agreement", "mae", "rmse",
        "mean_diff", "leniency_rate", "severity_rate", "wasserstein", "js_divergence", "variance_ratio",
        "wilcoxon", "icc"}
