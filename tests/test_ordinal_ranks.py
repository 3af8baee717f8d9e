"""Ordinal alpha with many distinct values (``_ordinal_ranks.py``): equal to the algorithm it replaced, kept in
``_alpha_ordinal_reference.py``, resample by resample with the same seed, and to the ``krippendorff`` package."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from _alpha_ordinal_reference import reference_alpha, reference_evaluate
from auditor.stats import _multirater_alpha as alpha_mr
from auditor.stats import _ordinal_ranks
from auditor.stats._multirater_data import counts_to_types, parse_long, unit_types
from auditor.stats.multirater import krippendorff_alpha, multirater_statistics


def _ratings(units: int, raters: int, *, decimals=None, missing=0.2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(units, raters)) + rng.normal(size=(units, 1))
    if decimals is not None:   # ties across and within units
        x = np.round(x, decimals)
    x[rng.random(x.shape) < missing] = np.nan
    return x


def _types(x):
    U, R = x.shape
    return unit_types(parse_long(np.repeat(np.arange(U), R), np.tile(np.arange(R), U), x.ravel()))


CASES = {
    "continuous": dict(units=800, raters=5),
    "continuous, no missing": dict(units=600, raters=4, missing=0.0),
    "ties": dict(units=3000, raters=5, decimals=1),            # ~80 values: dense types with multiplicities
    "heavy ties": dict(units=2000, raters=3, decimals=0, missing=0.4),
    "many missing": dict(units=3000, raters=6, decimals=2, missing=0.6),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("n_boot", [37, 8])
def test_bootstrap_equals_the_replaced_algorithm(case, n_boot):
    types = _types(_ratings(**CASES[case], seed=len(case)))
    value, samples = alpha_mr.alpha_large_v(types, "ordinal", n_boot=n_boot, rng=np.random.default_rng(5))
    ref_value, ref_samples = reference_alpha(types, n_boot=n_boot, seed=5)
    assert abs(value - ref_value) < 1e-12
    assert samples.shape == ref_samples.shape == (n_boot,)
    np.testing.assert_allclose(samples, ref_samples, rtol=0, atol=1e-12)


def test_two_lane_route_equals_the_four_lane_route(monkeypatch):
    """Counts too large to pack two resamples into one float take the two-lane route: same values."""
    types = _types(_ratings(2000, 5, decimals=2, seed=3))
    W = np.random.default_rng(1).multinomial(int(types.weight.sum()), types.weight / types.weight.sum(), size=7)
    packed = alpha_mr._LargeV(types, "ordinal").evaluate(W.astype(float))
    monkeypatch.setattr(_ordinal_ranks, "_SHIFT", 8.0)
    unpacked = alpha_mr._LargeV(types, "ordinal").evaluate(W.astype(float))
    np.testing.assert_allclose(unpacked, packed, rtol=0, atol=1e-12)
    np.testing.assert_allclose(unpacked, reference_evaluate(types, W.astype(float)), rtol=0, atol=1e-12)


def test_weighted_types_equal_the_reference():
    """Dense unit types with multiplicities > 1 (V > 64 so the large-V route is taken)."""
    rng = np.random.default_rng(2)
    counts = rng.multinomial(4, np.ones(70) / 70, size=300)
    counts = np.vstack([counts, counts[:50], counts[:10]])          # repeated rows: multiplicities
    counts[:20, :] = 0
    counts[:20, 3] = 1                                              # one rating: not pairable
    types = counts_to_types(counts, np.sort(rng.normal(size=70)))
    assert types.weight.max() > 1 and not alpha_mr.uses_coincidence(types)
    W = rng.poisson(1.0, size=(6, types.n_types)).astype(float)
    np.testing.assert_allclose(alpha_mr._LargeV(types, "ordinal").evaluate(W), reference_evaluate(types, W),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("decimals", [None, 2])
def test_point_estimate_equals_the_krippendorff_package(decimals):
    x = _ratings(60, 4, decimals=decimals, seed=9)
    types = _types(x)
    assert not alpha_mr.uses_coincidence(types)                     # the large-V route
    expected = krippendorff.alpha(x.T, level_of_measurement="ordinal")
    assert krippendorff_alpha(x.T, "ordinal") == pytest.approx(expected, abs=1e-12)
    U, R = x.shape
    row = multirater_statistics(np.repeat(np.arange(U), R), np.tile(np.arange(R), U), x.ravel(), level="ordinal",
                                statistics=["krippendorff_alpha"], n_boot=50, seed=1)[0]
    assert row.value == pytest.approx(expected, abs=1e-12)
    assert row.ci_low <= row.value <= row.ci_high
