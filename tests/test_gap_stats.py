"""The evaluative-gap statistics (auditor.stats.gap): hand-derived cases, the released scorer's rules, properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from auditor.rubric import load_rubric
from auditor.stats import _registry, gap

TAU = load_rubric("tau_usi")


def _rescaled(dim: str, label: str | None) -> float:
    d = TAU.dimension(dim)
    if label is None:
        return float("nan")
    lo, hi = d.value_range
    return float(gap.rescale_unit(d.label_to_value()[label], lo, hi))


def _long(answers: dict, item: str) -> pd.DataFrame:
    """{unit: {dim: label or None}} -> the long frame eval_unit_scores reads."""
    pos = {d.name: i for i, d in enumerate(TAU.dimensions)}
    rows = [dict(unit=u, item=f"{item}:{u}", dim=pos[d], value=_rescaled(d, lab))
            for u, ans in answers.items() for d, lab in ans.items()]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# Eval
# ---------------------------------------------------------------------------------------------------------

# Worked on paper. Rescaling by each dimension's option-value range:
#   task_success 1..5:  "Yes - Task completed"=4 -> (4-1)/4 = 0.75; "Fully"=5 -> 1.0; "No - policy"=2 -> 0.25
#   question_amount_preference {Too many: 1, About right: 2, Too few: 1}: Too many / Too few -> 0, About right -> 1
#   answer_effort_time 1..3: Low=3 -> 1.0, Medium=2 -> 0.5, High=1 -> 0.0
# Task A: human (0.75, 0, 1.0), LLM (1.0, 1, 0.5): |d| = 0.25, 1, 0.5 -> mean 0.58333 -> Eval 100*(1-0.58333) = 41.667
# Task B: human (0.25, 1, not answered), LLM (0.25, 0, 0.0): only the dims the human answered count:
#         |d| = 0, 1 -> mean 0.5 -> Eval 50
# Eval = (41.667 + 50) / 2 = 45.833
HUMAN_AB = {"A": {"task_success": "Yes - Task completed", "question_amount_preference": "Too few",
                  "answer_effort_time": "Low"},
            "B": {"task_success": "No - Due to a policy issue, which the agent clearly explained",
                  "question_amount_preference": "About right", "answer_effort_time": None}}
LLM_AB = {"A": {"task_success": "Fully - Exceeded expectations", "question_amount_preference": "About right",
                "answer_effort_time": "Medium"},
          "B": {"task_success": "No - Due to a policy issue, which the agent clearly explained",
                "question_amount_preference": "Too many", "answer_effort_time": "High"}}


def test_eval_two_tasks_worked_on_paper():
    sc = gap.eval_unit_scores(_long(HUMAN_AB, "h"), _long(LLM_AB, "s")).set_index("unit")["score"]
    assert sc["A"] == pytest.approx(100 * (1 - (0.25 + 1 + 0.5) / 3))      # 41.667
    assert sc["B"] == pytest.approx(50.0)
    rows = {r.statistic: r for r in gap.eval_score(sc.to_numpy()[:, None], n_boot=200, seed=1)}
    assert rows["eval_score"].value == pytest.approx(45.8333333, abs=1e-6)
    assert rows["eval_score"].n == 2
    assert rows["eval_score"].ci_low <= rows["eval_score"].value <= rows["eval_score"].ci_high
    std = rows["eval_score_batch_std"]                     # one group: no spread over groups
    assert math.isnan(std.value) and std.note.startswith("undefined: 1 group(s)")


def test_eval_mean_and_population_std_over_batches():
    # batch 1 as above (45.833); batch 2 = the LLM's own answers -> 100 on both tasks
    s1 = gap.eval_unit_scores(_long(HUMAN_AB, "h1"), _long(LLM_AB, "s")).set_index("unit")["score"]
    s2 = gap.eval_unit_scores(_long(LLM_AB, "h2"), _long(LLM_AB, "s")).set_index("unit")["score"]
    assert (s2 == 100).all()
    M = np.column_stack([s1.to_numpy(), s2.to_numpy()])
    rows = {r.statistic: r for r in gap.eval_score(M, groups=["b1", "b2"], n_boot=0)}
    assert rows["eval_score"].value == pytest.approx((45.8333333 + 100) / 2)
    assert rows["eval_score_batch_std"].value == pytest.approx(np.std([45.8333333, 100]))   # population std
    assert math.isnan(rows["eval_score"].ci_low)                                            # bootstrap off
    assert "b1: 45.83" in rows["eval_score"].note and "b2: 100" in rows["eval_score"].note


def test_eval_missing_llm_answer_left_out_and_counted():
    llm = {u: dict(a) for u, a in LLM_AB.items()}
    llm["A"]["question_amount_preference"] = None            # the simulator gave no answer
    out = gap.eval_unit_scores(_long(HUMAN_AB, "h"), _long(llm, "s")).set_index("unit")
    assert out.loc["A", "score"] == pytest.approx(100 * (1 - (0.25 + 0.5) / 2))
    assert out.loc["A", "n_missing"] == 1 and out.loc["B", "n_missing"] == 0


def test_eval_runs_averaged_per_task():
    # two LLM runs on task A: one identical to the human (100), one the LLM_AB answers (41.667) -> 70.833
    runs = pd.concat([_long({"A": HUMAN_AB["A"]}, "run1"), _long({"A": LLM_AB["A"]}, "run2")])
    sc = gap.eval_unit_scores(_long({"A": HUMAN_AB["A"]}, "h"), runs)
    assert sc["score"].iloc[0] == pytest.approx((100 + 41.6666667) / 2)
    assert sc["n_pairs"].iloc[0] == 2


def _released_eval_agreement(h_entry, l_entry, rng):
    """A direct port of the released scorer's compute_eval_agreement (OdysSim agents/tau_usi/usi_metric.py)."""
    diffs = []
    for dim in TAU.dimensions:
        omap = dim.label_to_value()
        lo, hi = min(omap.values()), max(omap.values())

        def norm(entry):
            ans = (entry.get(dim.name) or {}).get("answer")
            if not isinstance(ans, str) or ans not in omap:
                return None
            return (omap[ans] - lo) / (hi - lo) if hi > lo else 1.0
        hv = norm(h_entry)
        if hv is None:
            continue
        lv = norm(l_entry)
        if lv is None:
            unique_vals = sorted(set(omap.values()))
            picked = rng.choice(unique_vals)
            lv = (picked - lo) / (hi - lo) if hi > lo else 1.0
        diffs.append(abs(hv - lv))
    return None if not diffs else (1.0 - float(np.mean(diffs))) * 100


def test_eval_imputation_reproduces_the_released_scorer():
    rs = np.random.default_rng(3)
    tasks = [f"airline_{i}" for i in (0, 1, 2, 10, 11, 20)]      # string order differs from numeric order

    def random_survey(p_missing):
        out = {}
        for d in TAU.dimensions:
            if rs.random() >= p_missing:
                out[d.name] = {"answer": d.options[rs.integers(len(d.options))].label}
        return out
    batches = [{t: random_survey(0.1) for t in tasks} for _ in range(3)]
    sim = {t: random_survey(0.4) for t in tasks}
    # released: one rng for all batches; tasks in sorted order; fields in rubric order
    rng = np.random.default_rng(42)
    released = [float(np.mean([s for t in sorted(set(b) & set(sim))
                               if (s := _released_eval_agreement(b[t], sim[t], rng)) is not None]))
                for b in batches]
    # ours: the same draws through eval_unit_scores with impute=
    impute = {i: list(gap.rescale_unit(np.array(d.distinct_values), *d.value_range))
              for i, d in enumerate(TAU.dimensions)}

    def frame(entries, item):
        return _long({t: {d.name: (e.get(d.name) or {}).get("answer") for d in TAU.dimensions}
                      for t, e in entries.items()}, item)
    rng2 = np.random.default_rng(42)
    ours = [gap.eval_unit_scores(frame(b, f"h{j}"), frame(sim, "s"), impute=impute, rng=rng2)["score"].mean()
            for j, b in enumerate(batches)]
    assert ours == pytest.approx(released, abs=1e-12)


def test_eval_symmetric_without_missing_and_perfect_is_100():
    a, b = _long(LLM_AB, "a"), _long({"A": HUMAN_AB["A"], "B": LLM_AB["B"]}, "b")
    ab = gap.eval_unit_scores(a, b)["score"].to_numpy()
    ba = gap.eval_unit_scores(b, a)["score"].to_numpy()
    assert ab == pytest.approx(ba)
    assert (gap.eval_unit_scores(a, a)["score"] == 100).all()


def test_eval_undefined_without_units():
    rows = gap.eval_score(np.full((3, 2), np.nan))
    assert all(math.isnan(r.value) and r.note.startswith("undefined") for r in rows)


# ---------------------------------------------------------------------------------------------------------
# outcome ECE
# ---------------------------------------------------------------------------------------------------------

def test_difficulty_bins_follow_the_cut_points():
    # the first bin whose cut point the value is below, else the last
    assert gap.difficulty_bins([0.0, 0.19, 0.2, 0.39, 0.4, 0.6, 0.79, 0.8, 1.0, np.nan]).tolist() == \
        [0, 0, 1, 1, 2, 3, 3, 4, 4, -1]


def test_pooled_difficulty_needs_ten_runs():
    task = ["a"] * 10 + ["b"] * 9
    success = [1] * 7 + [0] * 3 + [1] * 9
    assert gap.pooled_difficulty(task, success) == {"a": 0.7}


# Tasks t0..t4 with difficulty bins [0, 0, 1, 4, -1] (t4 has no difficulty and is left out).
# Run 1 = [1, 1, 0, 1, 1], run 2 = [1, 0, 0, 1, 0]; human batch 1 = [1, 0, 0, 1, 0], batch 2 = [0, 0, 1, 1, 1].
# run 1 vs batch 1: bin 0 (t0, t1): sim 1.0, human 0.5 -> 2/4 * 0.5 = 0.25; bin 1: 0 vs 0; bin 4: 1 vs 1 -> ECE 0.25
# run 2 vs batch 1: bin 0: 0.5 vs 0.5; bin 1: 0 vs 0; bin 4: 1 vs 1 -> 0           => batch 1: (0.25 + 0) / 2 = 0.125
# run 1 vs batch 2: bin 0: 1.0 vs 0 -> 2/4 * 1 = 0.5; bin 1: 0 vs 1 -> 1/4; bin 4: 0 -> ECE 0.75
# run 2 vs batch 2: bin 0: 0.5 vs 0 -> 0.25; bin 1: 1/4; bin 4: 0 -> ECE 0.5          => batch 2: 0.625
# outcome_ece = (0.125 + 0.625) / 2 = 0.375, population std over batches = 0.25
SIM = np.array([[1, 1], [1, 0], [0, 0], [1, 1], [1, 0]], dtype=float)
HUM = np.array([[1, 0], [0, 0], [0, 1], [1, 1], [0, 1]], dtype=float)
BINS = np.array([0, 0, 1, 4, -1])


def test_outcome_ece_known_bins():
    rows = {r.statistic: r for r in gap.outcome_ece(SIM, HUM, BINS, n_boot=300, seed=0)}
    assert rows["outcome_ece"].value == pytest.approx(0.375)
    assert rows["outcome_ece_batch_std"].value == pytest.approx(0.25)
    assert rows["outcome_ece"].n == 4                                # t4 has no difficulty
    assert rows["outcome_ece"].ci_low <= 0.375 <= rows["outcome_ece"].ci_high
    assert "batch 1: 0.125" in rows["outcome_ece"].note and "batch 2: 0.625" in rows["outcome_ece"].note


def test_outcome_ece_missing_runs_use_the_tasks_both_have():
    sim = SIM.copy()
    sim[1, 0] = np.nan            # run 1 lacks t1: run 1 vs batch 1 -> bin 0 only t0: |1 - 1| = 0 -> ECE 0
    rows = {r.statistic: r for r in gap.outcome_ece(sim, HUM[:, :1], BINS, n_boot=0)}
    assert rows["outcome_ece"].value == pytest.approx(0.0)


def test_outcome_ece_between_human_batches():
    # batch 1 vs batch 2: bin 0: 0.5 vs 0 -> 2/4 * 0.5 = 0.25; bin 1: 0 vs 1 -> 0.25; bin 4: 0 -> 0.5
    (row,) = gap.outcome_ece_between(HUM, BINS, n_boot=0)
    assert row.value == pytest.approx(0.5)
    (row3,) = gap.outcome_ece_between(np.column_stack([HUM, HUM[:, 0]]), BINS, n_boot=0)
    assert row3.value == pytest.approx((0.5 + 0.0 + 0.5) / 3)       # pairs (1,2), (1,3) identical, (2,3)


def test_outcome_ece_perfect_calibration_is_zero_and_undefined_without_difficulty():
    rows = gap.outcome_ece(HUM[:, :1], HUM[:, :1], BINS, n_boot=0)       # a run identical to the batch
    assert rows[0].value == 0.0
    rows = gap.outcome_ece(SIM, HUM, np.full(5, -1), n_boot=0)
    assert math.isnan(rows[0].value) and "difficulty" in rows[0].note


def test_outcome_ece_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        gap.outcome_ece(SIM * 2, HUM, BINS)


# ---------------------------------------------------------------------------------------------------------
# success-rate gap
# ---------------------------------------------------------------------------------------------------------

def test_success_rate_gap_hand_example():
    # runs averaged per task: [1, .5, 0, 1, .5]; batch 1 mean .4 over 5 tasks, sim mean .6 -> +0.2;
    # batch 2 mean .6 -> 0.0; value 0.1, population std 0.1
    rows = {r.statistic: r for r in gap.success_rate_gap(SIM, HUM, n_boot=300)}
    assert rows["success_rate_gap"].value == pytest.approx(0.1)
    assert rows["success_rate_gap_batch_std"].value == pytest.approx(0.1)
    assert rows["success_rate_gap"].ci_low <= 0.1 <= rows["success_rate_gap"].ci_high
    hum = HUM.copy()
    hum[0, 0] = np.nan            # batch 1 lacks t0: sim over t1..t4 = 2/4, batch 1 = 1/4 -> +0.25
    rows = {r.statistic: r for r in gap.success_rate_gap(SIM, hum, n_boot=0)}
    assert rows["success_rate_gap"].value == pytest.approx((0.25 + 0.0) / 2)


def test_success_rate_gap_between_is_absolute():
    (row,) = gap.success_rate_gap_between(HUM, n_boot=0)
    assert row.value == pytest.approx(abs(0.4 - 0.6))


# ---------------------------------------------------------------------------------------------------------
# one dimension matched by task
# ---------------------------------------------------------------------------------------------------------

def test_matched_distribution_single_task_hand_example():
    rows = {r.statistic: r for r in gap.matched_distribution_stats(
        ["t"] * 2, [5.0, 5.0], ["t"], [1], [4.0], level="ordinal", scale_values=[1, 2, 3, 4, 5], n_boot=0)}
    assert rows["mean_diff"].value == pytest.approx(1.0)
    assert rows["wasserstein"].value == pytest.approx(1.0)
    assert rows["js_divergence"].value == pytest.approx(1.0)           # disjoint supports
    assert rows["leniency_rate"].value == 1.0 and rows["severity_rate"].value == 0.0
    assert math.isnan(rows["variance_ratio"].value) and "do not vary" in rows["variance_ratio"].note


def test_matched_distribution_weights_tasks_equally():
    # t1: LLM 5,5,5,5 vs human 5; t2: LLM 1 vs human 3. Per task: mean diff 0 and -2 -> -1 (pooling answers would
    # give 4.2 - 4 = +0.2). Leniency: P(X > Y) = 0 on both; severity: 0 and 1 -> 0.5.
    rows = {r.statistic: r for r in gap.matched_distribution_stats(
        ["t1"] * 4 + ["t2"], [5, 5, 5, 5, 1], ["t1", "t2"], [1, 1], [5, 3], level="ordinal",
        scale_values=[1, 2, 3, 4, 5], n_boot=200)}
    assert rows["mean_diff"].value == pytest.approx(-1.0)
    assert rows["leniency_rate"].value == 0.0 and rows["severity_rate"].value == pytest.approx(0.5)
    assert rows["mean_diff"].n == 2


def test_matched_distribution_levels_and_no_common_task():
    nominal = gap.matched_distribution_stats(["t"], [1.0], ["t"], [1], [2.0], level="nominal", n_boot=0)
    assert [r.statistic for r in nominal] == ["js_divergence"]
    none = gap.matched_distribution_stats(["a"], [1.0], ["b"], [1], [2.0], level="ordinal", n_boot=0)
    assert none and all(math.isnan(r.value) and "no task" in r.note for r in none)


def test_matched_distribution_between_identical_batches_is_zero():
    rows = gap.matched_distribution_between(["t1", "t2", "t1", "t2"], [1, 1, 2, 2], [1.0, 3.0, 1.0, 3.0],
                                            level="ordinal", scale_values=[1, 2, 3], n_boot=0)
    assert {r.statistic: r.value for r in rows} == {"wasserstein": 0.0, "js_divergence": 0.0}


def test_bootstrap_is_seeded():
    a = gap.outcome_ece(SIM, HUM, BINS, n_boot=200, seed=5)[0]
    b = gap.outcome_ece(SIM, HUM, BINS, n_boot=200, seed=5)[0]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)


def test_registry_entries():
    for name in ("eval_score", "eval_score_batch_std", "outcome_ece", "outcome_ece_batch_std", "success_rate_gap",
                 "success_rate_gap_batch_std"):
        assert _registry.get(name, "gap").kind == "gap"
    for name in gap.MATCHED_STATISTICS:
        spec = _registry.get(f"matched_{name}", "matched")
        assert spec.func is gap.matched_distribution_stats and spec.extra["row_statistic"] == name
    import auditor.stats.paired  # noqa: F401  (registers the paired statistics of the same names)
    for name in gap.MATCHED_STATISTICS:
        assert _registry.get(name).kind == "paired"        # a lookup by name alone still finds the paired one
    assert _registry.get("outcome_ece").higher_is_better is False
    assert _registry.get("eval_score").maximum == 100.0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("distinct", [False, True])
def test_eval_sheet_scores_equal_the_pair_by_pair_computation(seed, distinct):
    # units with fixed sheet slots (rater x sample), answers missing at random, absent sheets, a nominal dim
    rng = np.random.default_rng(seed)
    U, K, D = 40, 5, 4
    S = rng.integers(0, 5, size=(U, K, D)) / 4.0
    S[rng.random((U, K, D)) < 0.25] = np.nan
    present = rng.random((U, K)) < 0.8
    S[~present] = np.nan
    S[present & (rng.random((U, K)) < 0.1)] = np.nan      # a sheet that exists with nothing answered
    nominal = np.array([False, True, False, False])
    ref_slots, other_slots = ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]) if distinct else ([0, 1, 2], [3, 4])
    got = gap.eval_sheet_scores(S, present, ref_slots, other_slots, nominal=nominal, distinct_items=distinct)
    # the same answers as long rows: item = unit * K + slot; every existing sheet has one row per dim
    u, k, d = np.nonzero(np.broadcast_to(present[:, :, None], S.shape))
    item, val = u * K + k, S[u, k, d]
    r, o = np.isin(k, ref_slots) & ~np.isnan(val), np.isin(k, other_slots)
    want = gap.eval_unit_scores_codes(u[r], item[r], d[r], val[r], u[o], item[o], d[o], val[o], n_units=U,
                                      n_items=U * K, n_dims=D, nominal=nominal, distinct_items=distinct)
    assert got is not None and want is not None
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got[2], want[2])
    np.testing.assert_array_equal(got[3], want[3])
    assert np.isfinite(got[1]).sum() > U // 2
