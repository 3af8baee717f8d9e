"""Mean pairwise Cohen's kappa / percent agreement (the convention papers report) against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.stats.pairwise_raters import pairwise_rater_statistics


def _table():
    """3 raters, 4 categories, unequal overlap: a-b share 60 items, a-c 25, b-c 40 (some items by all three)."""
    rng = np.random.default_rng(7)
    rows = []
    for item in range(90):
        truth = rng.integers(0, 4)
        raters = {"a": item < 60 or 70 <= item < 80, "b": item < 60 or 80 <= item < 90,
                  "c": 45 <= item < 60 or 70 <= item < 80 or 80 <= item < 90 or item < 5}
        for r, on in raters.items():
            if on:
                rows.append((item, r, truth if rng.random() < 0.6 else rng.integers(0, 4)))
    return pd.DataFrame(rows, columns=["item", "rater", "value"])


def test_equals_the_shared_item_weighted_mean_of_sklearn_over_pairs():
    d = _table()
    wide = d.pivot(index="item", columns="rater", values="value")
    ks, ags, ws = [], [], []
    for a, b in [("a", "b"), ("a", "c"), ("b", "c")]:
        both = wide[[a, b]].dropna()
        ks.append(cohen_kappa_score(both[a], both[b]))
        ags.append(float((both[a] == both[b]).mean()))
        ws.append(len(both))
    assert sorted(ws) != [ws[0]] * 3                      # the overlap really is unequal
    rows = {r.statistic: r for r in pairwise_rater_statistics(d["item"], d["rater"], d["value"], level="nominal",
                                                              n_boot=300, seed=1)}
    k, a = rows["pairwise_cohen_kappa"], rows["pairwise_agreement"]
    assert k.value == pytest.approx(np.average(ks, weights=ws), abs=1e-12)
    assert a.value == pytest.approx(np.average(ags, weights=ws), abs=1e-12)
    assert k.ci_low < k.value < k.ci_high and a.ci_low < a.value < a.ci_high
    assert k.n == wide.notna().sum(axis=1).ge(2).sum()
    assert "weighted by the number of items each pair shares" in k.note
    # an unweighted mean would differ: the weighting matters here
    assert abs(np.mean(ks) - k.value) > 1e-3


def test_interval_levels_and_lonely_raters():
    assert pairwise_rater_statistics([1, 2], ["a", "b"], [1.0, 2.0], level="interval") == []
    rows = pairwise_rater_statistics([1, 2], ["a", "b"], [1.0, 2.0], level="ordinal", n_boot=10)
    assert all(np.isnan(r.value) and "no two raters" in r.note for r in rows)


def test_humans_rows_in_the_audit(tmp_path):
    d = _table()
    d["conversation_id"] = "c" + d["item"].astype(str)
    d["value"] = d["value"] + 1
    d["dimension"] = "score"
    with Store(tmp_path / "s.duckdb") as s:
        s.ingest_signals(d.rename(columns={"rater": "rater_id"})[["conversation_id", "rater_id", "dimension",
                                                                   "value"]],
                         rubric="likert5", rater_kind="human", source_name="t")
        df = audit(s, AuditOptions(n_boot=100, statistics=["pairwise_cohen_kappa", "pairwise_agreement"]))
    r = df.set_index("statistic")
    assert set(df.rater) == {"humans"} and len(df) == 2
    wide = d.pivot(index="item", columns="rater", values="value")
    ks, ws = [], []
    for a, b in [("a", "b"), ("a", "c"), ("b", "c")]:
        both = wide[[a, b]].dropna()
        ks.append(cohen_kappa_score(both[a], both[b]))
        ws.append(len(both))
    assert r.loc["pairwise_cohen_kappa", "value"] == pytest.approx(np.average(ks, weights=ws), abs=1e-12)
