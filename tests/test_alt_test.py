"""The alternative annotator test (Calderon, Reichart & Dror, ACL 2025) against a plain re-implementation of the
paper's procedure, hand cases, refusals, and through the audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_1samp, ttest_rel

from auditor import Store
from auditor.audit import AuditOptions, audit
from auditor.stats import _registry
from auditor.stats.alt_test import ALT_TEST_STATISTICS, alt_test, alt_test_statistics, benjamini_yekutieli


# ---------------------------------------------------------------------------------------------------------
# the paper's procedure, written out plainly (dicts, loops, scipy's t-test, an explicit BY step-up)
# ---------------------------------------------------------------------------------------------------------

def _accuracy(pred, annotations):
    return float(np.mean([pred == a for a in annotations]))


def _neg_rmse(pred, annotations):
    return -float(np.sqrt(np.mean([(pred - a) ** 2 for a in annotations])))


def _by_rejections(p_values, q):
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    harmonic = sum(1.0 / i for i in range(1, m + 1))
    largest = -1
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= rank / m * q / harmonic:
            largest = rank
    return set(order[:largest]) if largest > 0 else set()


def reference_alt_test(llm: dict, humans: dict, scoring, epsilon, q=0.05, min_humans_per_item=2, min_items=30):
    """Returns (winning_rate, advantage_probability, {human: p_value})."""
    who_rated = {}
    for h, anns in humans.items():
        for i in anns:
            who_rated.setdefault(i, []).append(h)
    keep = {i for i, hs in who_rated.items() if len(hs) >= min_humans_per_item and i in llm}
    p_values, rhos, tested = [], [], []
    for h, anns in humans.items():
        items = [i for i in anns if i in keep]
        if len(items) < min_items:
            continue
        w_llm, w_h = [], []
        for i in items:
            others = [humans[o][i] for o in who_rated[i] if o != h]
            s_h = scoring(anns[i], others)
            s_llm = scoring(llm[i], others)
            w_llm.append(1 if s_llm >= s_h else 0)
            w_h.append(1 if s_h >= s_llm else 0)
        d = [a - b for a, b in zip(w_h, w_llm)]
        p = ttest_1samp(d, epsilon, alternative="less").pvalue
        # the same test written as a paired t-test: H0 mean(W_h - eps) >= mean(W_llm)
        if np.std(d) > 0:
            p_rel = ttest_rel(np.array(w_h) - epsilon, w_llm, alternative="less").pvalue
            assert p == pytest.approx(p_rel, rel=1e-9)
        p_values.append(p)
        rhos.append(float(np.mean(w_llm)))
        tested.append(h)
    rejected = _by_rejections(p_values, q)
    return len(rejected) / len(tested), float(np.mean(rhos)), dict(zip(tested, p_values))


def _to_dicts(item, rater, value, llm_item, llm_value):
    humans = {}
    for i, r, v in zip(item, rater, value):
        humans.setdefault(r, {})[i] = v
    return dict(zip(llm_item, llm_value)), humans


def _synthetic(seed, *, n_items=80, n_humans=5, k=3, coverage=0.8, llm_noise=0.2, human_noise=0.35,
               continuous_llm=False):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, k + 1, n_items)
    item, rater, value = [], [], []
    for h in range(n_humans):
        rated = rng.random(n_items) < coverage
        noisy = np.where(rng.random(n_items) < human_noise, rng.integers(1, k + 1, n_items), truth)
        item += list(np.flatnonzero(rated))
        rater += [f"h{h}"] * int(rated.sum())
        value += list(noisy[rated].astype(float))
    llm = np.where(rng.random(n_items) < llm_noise, rng.integers(1, k + 1, n_items), truth).astype(float)
    if continuous_llm:
        llm = llm + rng.normal(0, 0.3, n_items)
    return np.array(item), np.array(rater), np.array(value), np.arange(n_items), llm


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level,epsilon", [("nominal", 0.15), ("binary", 0.1), ("ordinal", 0.2), ("interval", 0.0)])
def test_matches_the_papers_procedure(seed, level, epsilon):
    k = 2 if level == "binary" else 4
    data = _synthetic(seed, k=k, llm_noise=0.1 + 0.1 * (seed % 3), continuous_llm=level == "interval")
    scoring = _accuracy if level in ("binary", "nominal") else _neg_rmse
    wr_ref, rho_ref, p_ref = reference_alt_test(*_to_dicts(*data), scoring, epsilon)
    res = alt_test(*data, scoring="accuracy" if scoring is _accuracy else "neg_rmse", epsilon=epsilon)
    assert res.winning_rate == pytest.approx(wr_ref, abs=1e-12)
    assert res.advantage == pytest.approx(rho_ref, abs=1e-12)
    got = dict(zip(res.per_human["human"], res.per_human["p_value"]))
    assert set(got) == set(p_ref)
    for h, p in p_ref.items():
        assert got[h] == pytest.approx(p, rel=1e-9, abs=1e-15), h
    rows = {r.statistic: r for r in alt_test_statistics(*data, level=level, epsilon=epsilon, n_boot=0)}
    assert rows["alt_test_winning_rate"].value == pytest.approx(wr_ref, abs=1e-12)
    assert rows["alt_test_passed"].value == float(wr_ref >= 0.5)


def test_sparse_design_and_humans_below_the_item_threshold_are_skipped():
    item, rater, value, li, lv = _synthetic(11, n_items=60, n_humans=6, coverage=0.55)
    wr_ref, rho_ref, p_ref = reference_alt_test(*_to_dicts(item, rater, value, li, lv), _accuracy, 0.15)
    res = alt_test(item, rater, value, li, lv, epsilon=0.15)
    assert len(res.per_human) == len(p_ref) < 6          # someone has < 30 items shared with another human
    assert res.winning_rate == pytest.approx(wr_ref) and res.advantage == pytest.approx(rho_ref)


def test_by_hand_llm_is_the_majority_and_each_human_errs_on_a_third():
    truth = np.arange(30) % 2
    H = np.tile(truth, (3, 1))
    H[0, :10] ^= 1
    H[1, 10:20] ^= 1
    H[2, 20:] ^= 1
    items, raters = np.tile(np.arange(30), 3), np.repeat(["a", "b", "c"], 30)
    res = alt_test(items, raters, H.ravel(), np.arange(30), truth, epsilon=0.15)
    # for human a: on its 10 errors the LLM matches both others (1.0 vs 0.0): LLM wins; elsewhere the human and
    # the LLM give the same label: a tie, both win. So W_llm = 1 everywhere, d = W_h - W_llm = -1 on 10 items.
    per = res.per_human.set_index("human")
    assert per.loc["a", "rho_llm"] == 1.0 and per.loc["a", "rho_human"] == pytest.approx(20 / 30)
    assert per.loc["a", "mean_diff"] == pytest.approx(-1 / 3)
    t = (-1 / 3 - 0.15) / (np.std(np.r_[-np.ones(10), np.zeros(20)], ddof=1) / np.sqrt(30))
    assert per.loc["a", "t"] == pytest.approx(t)
    assert res.winning_rate == 1.0 and res.passed == 1.0 and res.advantage == 1.0


def test_a_random_llm_fails():
    item, rater, value, li, _ = _synthetic(5, n_items=100, coverage=1.0, human_noise=0.1)
    rng = np.random.default_rng(0)
    rows = {r.statistic: r for r in alt_test_statistics(item, rater, value, li, rng.integers(1, 4, 100).astype(float),
                                                        level="nominal", n_boot=200)}
    assert rows["alt_test_winning_rate"].value == 0.0 and rows["alt_test_passed"].value == 0.0
    adv = rows["alt_test_advantage"]
    assert adv.ci_low <= adv.value <= adv.ci_high and adv.value < 0.6
    assert "beats 0 of 5 humans" in rows["alt_test_winning_rate"].note


def test_ties_everywhere_give_p_zero_like_scipy():
    # the LLM copies human h0 exactly and humans agree everywhere: every item a tie, d = 0 < epsilon
    items = np.tile(np.arange(40), 3)
    raters = np.repeat(["h0", "h1", "h2"], 40)
    vals = np.tile(np.arange(40) % 3, 3).astype(float)
    res = alt_test(items, raters, vals, np.arange(40), (np.arange(40) % 3).astype(float))
    assert (res.per_human["p_value"] == 0.0).all()
    assert ttest_1samp(np.zeros(40), 0.15, alternative="less").pvalue == 0.0
    assert res.winning_rate == 1.0


def test_benjamini_yekutieli_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.random(int(rng.integers(1, 15))) ** 3
        assert benjamini_yekutieli(p, 0.05).tolist() == multipletests(p, 0.05, method="fdr_by")[0].tolist()


def test_refusals_say_why():
    item, rater, value, li, lv = _synthetic(2, n_humans=2, coverage=1.0)
    rows = alt_test_statistics(item, rater, value, li, lv, level="nominal")
    assert [r.statistic for r in rows] == ALT_TEST_STATISTICS
    assert all(np.isnan(r.value) for r in rows)
    assert "needs >= 3" in rows[0].note and "h0: 80" in rows[0].note
    item, rater, value, li, lv = _synthetic(2, n_items=20, coverage=1.0)
    rows = alt_test_statistics(item, rater, value, li, lv, level="nominal")
    assert np.isnan(rows[0].value) and ">= 30 items" in rows[0].note
    rows = alt_test_statistics(item, rater, value, li, lv, level="nominal", min_items=10)   # option lowers it
    assert not np.isnan(rows[0].value)
    one_each = alt_test_statistics([0, 1, 2], ["a", "b", "c"], [1, 2, 3], [0, 1, 2], [1, 2, 3], level="ordinal")
    assert "no item rated by the LLM has two or more human ratings" in one_each[0].note


def test_registry_and_input_checks():
    for s in ALT_TEST_STATISTICS:
        assert _registry.get(s, "alt_test").name == s
    with pytest.raises(ValueError, match="one annotation per item"):
        alt_test([0, 0], ["a", "b"], [1, 1], [0, 0], [1, 2])
    with pytest.raises(ValueError, match="scoring"):
        alt_test([0], ["a"], [1], [0], [1], scoring="f1")


# ---------------------------------------------------------------------------------------------------------
# through the audit
# ---------------------------------------------------------------------------------------------------------

def test_through_the_audit_with_several_humans(mem_store):
    item, rater, value, li, lv = _synthetic(7, n_items=50, n_humans=4, coverage=0.9)
    human_df = pd.DataFrame({"conversation_id": [f"c{i}" for i in item], "dimension": "Q0", "rater_id": rater,
                             "rater_kind": "human", "value": value})
    llm_df = pd.DataFrame({"conversation_id": [f"c{i}" for i in li], "dimension": "Q0", "rater_id": "judge",
                           "rater_kind": "judge", "value": lv})
    mem_store.ingest_signals(pd.concat([human_df, llm_df]), rubric="llm_rubric")
    df = audit(mem_store, AuditOptions(n_boot=100, extra={"alt_test_epsilon": 0.2}))
    rows = df[(df.rater == "judge") & df.statistic.str.startswith("alt_test")].set_index("statistic")
    llm, humans = _to_dicts(item, rater, value, li, lv)
    wr, rho, _ = reference_alt_test(llm, humans, _neg_rmse, 0.2)          # Q0 is ordinal: -RMSE
    assert rows.loc["alt_test_winning_rate", "value"] == pytest.approx(wr)
    assert rows.loc["alt_test_advantage", "value"] == pytest.approx(rho)
    assert rows.loc["alt_test_passed", "value"] == float(wr >= 0.5)
    assert (rows.reference == "humans").all()
    assert "epsilon=0.2" in rows.loc["alt_test_winning_rate", "note"]


def test_demo_store_refuses(demo_db):
    with Store(demo_db, read_only=True) as s:
        df = audit(s, AuditOptions(n_boot=0, dimensions=["Q0"]))
    alt = df[df.statistic.isin(ALT_TEST_STATISTICS)]
    assert len(alt) == 2 * len(ALT_TEST_STATISTICS)                      # both judges
    assert alt.value.isna().all()
    assert alt.note.str.contains("refused: no item rated by the LLM has two or more human ratings").all()
