"""Sampling designs and assignment: inclusion probabilities, balanced loads, nobody sees an item twice."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.campaign import allocate, assign, draw_sample
from auditor.errors import AuditorError


def test_all_takes_every_item_with_probability_one():
    s = draw_sample(7, strategy="all", n=None, seed=1)
    assert sorted(s.index.tolist()) == list(range(7))
    assert np.all(s.inclusion_prob == 1)


def test_random_sample_probability_is_n_over_population():
    s = draw_sample(223, strategy="random", n=30, seed=3)
    assert len(set(s.index.tolist())) == 30
    assert np.allclose(s.inclusion_prob, 30 / 223)


def test_random_inclusion_frequencies_match_the_recorded_probability():
    """Over many seeds each unit is drawn with frequency ≈ n/N (the recorded probability)."""
    hits = np.zeros(20)
    for seed in range(4000):
        hits[draw_sample(20, strategy="random", n=5, seed=seed).index] += 1
    assert np.allclose(hits / 4000, 0.25, atol=0.03)


def test_stratified_probability_is_per_stratum():
    strata = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    s = draw_sample(100, strategy="stratified", n=10, seed=0, strata=strata)
    got = {}
    for i, p, h in zip(s.index, s.inclusion_prob, s.stratum):
        assert strata[i] == h
        got.setdefault(h, []).append(p)
    assert {h: len(v) for h, v in got.items()} == {"a": 5, "b": 3, "c": 2}
    assert got["a"][0] == pytest.approx(5 / 50) and got["b"][0] == pytest.approx(3 / 30)
    assert s.design["strata"]["c"] == {"population": 20, "sampled": 2}


def test_stratified_keeps_a_stratum_without_key_as_its_own():
    s = draw_sample(6, strategy="stratified", n=3, seed=0, strata=["x", "x", None, None, "y", "y"])
    assert set(s.stratum) == {"x", "y", None}
    assert "(none)" in s.design["strata"]


@given(sizes=st.lists(st.integers(1, 60), min_size=1, max_size=8), n=st.integers(1, 200))
def test_allocation_sums_to_n_and_respects_sizes(sizes, n):
    sizes = np.array(sizes)
    a = allocate(sizes, n)
    assert a.sum() == min(n, sizes.sum())
    assert np.all(a <= sizes) and np.all(a >= 0)
    if n >= len(sizes):
        assert np.all(a >= 1)


@settings(max_examples=60)
@given(n_items=st.integers(0, 80), n_annot=st.integers(1, 9), k=st.integers(1, 9), seed=st.integers(0, 99))
def test_assignment_is_balanced_and_distinct(n_items, n_annot, k, seed):
    names = [f"a{i}" for i in range(n_annot)]
    if k > n_annot:
        with pytest.raises(AuditorError, match="overlap"):
            assign(n_items, names, k, seed)
        return
    q = assign(n_items, names, k, seed)
    loads = [len(v) for v in q.values()]
    assert sum(loads) == n_items * k
    assert max(loads) - min(loads) <= 1                         # balanced
    assert all(len(set(v)) == len(v) for v in q.values())        # nobody sees an item twice
    per_item = np.bincount([i for v in q.values() for i in v], minlength=n_items)
    assert np.all(per_item == k)


def test_assignment_with_overlap_two_pairs_every_annotator_pair():
    q = assign(30, ["alice", "bob", "carol"], 2, seed=0)
    sets = {a: set(v) for a, v in q.items()}
    for a in sets:
        for b in sets:
            if a < b:
                assert len(sets[a] & sets[b]) >= 9


def test_bad_designs_say_what_to_do():
    with pytest.raises(AuditorError, match="--sample"):
        draw_sample(10, strategy="random", n=None, seed=0)
    with pytest.raises(AuditorError, match="unknown strategy"):
        draw_sample(10, strategy="greedy", n=3, seed=0)
    with pytest.raises(AuditorError, match="population is empty"):
        draw_sample(0, strategy="all", n=None, seed=0)
