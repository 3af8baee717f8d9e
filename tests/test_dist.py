"""``auditor.stats._dist`` equals the ``scipy.stats`` methods it replaces, bit for bit, edge cases included."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from auditor.stats import _dist

X = [-np.inf, -30.0, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.3, 1.0, 1.959963984540054, 7.5, 40.0, np.inf, np.nan]
Q = [-0.1, 0.0, 1e-300, 1e-12, 0.025, 0.3, 0.5, 0.975, 1 - 1e-12, 1.0, 1.1, np.nan]
DF = [-1.0, 0.0, 0.5, 1.0, 2.0, 3.7, 29.0, 1e6, np.inf, np.nan]


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


@pytest.mark.parametrize("name", ["cdf", "sf", "ppf"])
def test_norm(name):
    args = Q if name == "ppf" else X
    _same(getattr(_dist, f"norm_{name}")(np.array(args)), getattr(stats.norm, name)(np.array(args)))
    for a in args:
        assert type(getattr(_dist, f"norm_{name}")(a)) is type(getattr(stats.norm, name)(a))
        _same(getattr(_dist, f"norm_{name}")(a), getattr(stats.norm, name)(a))


@pytest.mark.parametrize("name", ["cdf", "sf", "ppf"])
def test_t(name):
    args = Q if name == "ppf" else X
    for a, df in itertools.product(args, DF):
        with np.errstate(all="ignore"):
            _same(getattr(_dist, f"t_{name}")(a, df), getattr(stats.t, name)(a, df))


@pytest.mark.parametrize("name", ["sf", "ppf"])
def test_f(name):
    args = Q if name == "ppf" else X
    for a, d1, d2 in itertools.product(args, DF, DF[::3]):
        with np.errstate(all="ignore"):
            _same(getattr(_dist, f"f_{name}")(a, d1, d2), getattr(stats.f, name)(a, d1, d2))


def test_average_ranks_rows_equal_scipy_rankdata():
    from auditor.stats.system_level import average_ranks_rows

    rng = np.random.default_rng(0)
    for S in (1, 2, 5, 9):
        a = rng.integers(0, 4, size=(300, S)).astype(float)
        a[::17, 0] = np.nan
        _same(average_ranks_rows(a), stats.rankdata(a, axis=1))
        b = rng.normal(size=(50, S))
        _same(average_ranks_rows(b), stats.rankdata(b, axis=1))
