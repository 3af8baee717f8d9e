"""stats._arrays: the fast unique helpers equal numpy's np.unique on every input (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from auditor.stats._arrays import dense_codes, unique, unique_first, unique_inverse, unique_rows

small_floats = st.sampled_from([0.0, 1.0, 2.5, -3.0, 1e9, 0.1 + 0.2, 0.3])


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 5)), elements=small_floats))
def test_unique_rows_equals_numpy(C):
    rows, counts, inverse = unique_rows(C, return_inverse=True)
    R, I, N = np.unique(C, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(rows, R)
    np.testing.assert_array_equal(counts, N)
    np.testing.assert_array_equal(inverse, np.asarray(I).ravel())
    np.testing.assert_array_equal(rows[inverse], C)


def test_unique_rows_with_nan_and_wide_keys():
    rng = np.random.default_rng(0)
    C = rng.normal(size=(500, 12))          # 500 distinct values per column: the key is renumbered on the way
    C[::3] = C[1::3][: len(C[::3])]
    rows, counts = unique_rows(C)
    R, N = np.unique(C, axis=0, return_counts=True)
    np.testing.assert_array_equal(rows, R)
    np.testing.assert_array_equal(counts, N)
    C[0, 0] = np.nan                        # NaN rows: numpy's own rule
    rows, counts = unique_rows(C)
    assert rows.shape[0] == np.unique(C, axis=0).shape[0] and counts.sum() == C.shape[0]


@settings(max_examples=200, deadline=None)
@given(st.one_of(hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 300)),
                 hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-5, 10**12)),
                 hnp.arrays(np.float64, st.integers(1, 60), elements=small_floats)))
def test_dense_codes_and_unique_equal_numpy(x):
    codes, ids = dense_codes(x)
    U, inv = np.unique(x, return_inverse=True)
    np.testing.assert_array_equal(ids, U)
    np.testing.assert_array_equal(codes, inv.ravel())
    np.testing.assert_array_equal(unique(x), U)


@settings(max_examples=200, deadline=None)
@given(st.one_of(hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 300)),
                 hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(-5, 10**12)),
                 hnp.arrays(np.float64, st.integers(1, 60), elements=small_floats),
                 hnp.arrays(np.float64, st.integers(1, 60), elements=st.integers(-3, 7).map(float))))
def test_unique_inverse_and_first_equal_numpy(x):
    vals, inv = unique_inverse(x)
    U, F, I, N = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(vals, U)
    np.testing.assert_array_equal(inv, I.ravel())
    v2, first, counts = unique_first(x)
    np.testing.assert_array_equal(v2, U)
    np.testing.assert_array_equal(first, F)
    np.testing.assert_array_equal(counts, N)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(1, 4)),
                  elements=st.integers(-3, 3).map(float)))
def test_unique_rows_of_integral_floats_equal_numpy(C):
    rows, counts, inverse = unique_rows(C, return_inverse=True)
    R, I, N = np.unique(C, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(rows, R)
    np.testing.assert_array_equal(counts, N)
    np.testing.assert_array_equal(inverse, np.asarray(I).ravel())
