"""Stability (test-retest alpha, flip rate, position consistency) and confounds (bias against length / turns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from auditor.audit import AuditOptions, audit
from auditor.audit._extras import extra_paired_rows
from auditor.stats import _registry
from auditor.stats import stability as stab
from auditor.stats.confounds import confound_slope, confound_slopes


# ---------------------------------------------------------------------------------------------------------
# stability
# ---------------------------------------------------------------------------------------------------------

def test_retest_alpha_by_hand_and_against_krippendorff():
    import krippendorff

    assert stab.retest_alpha([1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 1], [1, 1, 2, 2, 3, 3], level="ordinal",
                             n_boot=0).value == 1.0
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 5, 50)
    M = np.vstack([np.clip(truth + rng.integers(-1, 2, 50), 1, 4) for _ in range(3)]).astype(float)
    M[2, :10] = np.nan                                     # a third sample on 40 conversations only
    units = np.tile(np.arange(50), 3)
    samples = np.repeat([0, 1, 2], 50)
    ok = ~np.isnan(M.ravel())
    for level in ("ordinal", "interval", "nominal"):
        row = stab.retest_alpha(units[ok], samples[ok], M.ravel()[ok], level=level, n_boot=100)
        ref = krippendorff.alpha(reliability_data=M, level_of_measurement=level)
        assert row.value == pytest.approx(ref, abs=1e-9), level
        assert row.statistic == "test_retest_alpha" and row.n == 50
        assert row.ci_low <= row.ci_high


def test_retest_alpha_needs_repeated_samples():
    row = stab.retest_alpha([1, 2, 3], [0, 0, 0], [1, 2, 3], level="ordinal")
    assert np.isnan(row.value) and "samples >= 2" in row.note


def test_flip_rate_by_hand():
    # conversation 1: 1, 1 (stable); 2: 2, 3 (flip); 3: 3, 3 (stable); 4: one sample (not counted)
    row = stab.flip_rate([1, 1, 2, 2, 3, 3, 4], [0, 1, 0, 1, 0, 1, 0], [1, 1, 2, 3, 3, 3, 1], n_boot=100)
    assert row.value == pytest.approx(1 / 3) and row.n == 3
    assert "2 samples" in row.note
    row = stab.flip_rate([1, 1, 1, 2, 2, 2], [0, 1, 2, 0, 1, 2], [1, 1, 2, 4, 4, 4], n_boot=0)
    assert row.value == 0.5
    assert np.isnan(stab.flip_rate([1, 2], [0, 0], [1, 1]).value)


def test_position_consistency_by_hand():
    row = stab.position_consistency([1, 2, 3, 4], [0, 1, 0.5, 1], [1, 2, 3, 5], [0, 0, 0.5, 1], n_boot=100)
    assert row.value == pytest.approx(2 / 3) and row.n == 3          # conversation 4/5 judged in one order only
    assert "1 changed with the order" in row.note
    assert np.isnan(stab.position_consistency([1], [0], [2], [0]).value)
    with pytest.raises(ValueError, match="one verdict per conversation"):
        stab.position_consistency([1, 1], [0, 1], [1], [0])


def test_stability_through_the_audit(mem_store):
    rng = np.random.default_rng(1)
    n = 40
    conv = [f"c{i}" for i in range(n)]
    human = rng.integers(1, 5, n)
    rows = [dict(conversation_id=c, dimension="Q0", rater_id="h", rater_kind="human", value=v, sample=0)
            for c, v in zip(conv, human)]
    samples = np.vstack([np.clip(human + rng.integers(-1, 2, n), 1, 4) for _ in range(3)])
    for s in range(3):
        rows += [dict(conversation_id=c, dimension="Q0", rater_id="j", rater_kind="judge", value=v, sample=s)
                 for c, v in zip(conv, samples[s])]
    mem_store.ingest_signals(pd.DataFrame(rows), rubric="llm_rubric")
    df = audit(mem_store, AuditOptions(n_boot=100))
    got = df[df.rater == "j"].set_index("statistic")
    flips = np.mean(samples.min(axis=0) != samples.max(axis=0))
    assert got.loc["flip_rate", "value"] == pytest.approx(flips)
    assert got.loc["flip_rate", "reference"] == "j"
    import krippendorff
    assert got.loc["test_retest_alpha", "value"] == pytest.approx(
        krippendorff.alpha(reliability_data=samples.astype(float), level_of_measurement="ordinal"), abs=1e-9)
    assert "position_consistency" not in got.index           # no swapped-order rater stored


def test_position_consistency_through_the_audit(mem_store):
    """Convention: the swapped-order verdicts are rater '<id>:swapped', labels in the original frame."""
    conv = [f"p{i}" for i in range(8)]
    human = ["A", "A", "B", "B", "tie", "A", "B", "A"]
    judge = ["A", "A", "B", "B", "tie", "A", "A", "A"]
    swapped = ["A", "B", "B", "B", "tie", "B", "A", "A"]      # flips on p1 and p5
    frames = [pd.DataFrame({"conversation_id": conv, "dimension": "preference", "rater_id": r, "rater_kind": k,
                            "label": lab})
              for r, k, lab in (("h", "human", human), ("gpt", "judge", judge), ("gpt:swapped", "judge", swapped))]
    mem_store.ingest_signals(pd.concat(frames), rubric="pairwise_preference")
    df = audit(mem_store, AuditOptions(n_boot=100))
    pc = df[df.statistic == "position_consistency"]
    assert len(pc) == 1                                       # only for the base rater
    r = pc.iloc[0]
    assert r.rater == "gpt" and r.reference == "gpt:swapped"
    assert r.value == pytest.approx(6 / 8) and r.n == 8
    assert "2 changed with the order" in r.note


def test_explicitly_requested_measures_say_why_they_are_missing(mem_store):
    from auditor.audit import _fetch
    from auditor.audit._paired import paired_inputs, reference_scores

    mem_store.ingest_signals(pd.DataFrame({"conversation_id": ["a", "b", "c", "a", "b", "c"], "dimension": "Q0",
                                           "rater_id": ["h"] * 3 + ["j"] * 3,
                                           "rater_kind": ["human"] * 3 + ["judge"] * 3,
                                           "value": [1, 2, 3, 1, 3, 3]}), rubric="llm_rubric")
    raters = _fetch.raters(mem_store)
    rub = _fetch.load_stored_rubric(mem_store, "llm_rubric")
    dim = rub.dimension("Q0")
    sig = _fetch.dimension_signals(mem_store, "llm_rubric", "Q0")
    inp = paired_inputs(sig, raters["j"].index, reference_scores(sig, [raters["h"].index], "ordinal"), "ordinal")
    opts = AuditOptions(n_boot=0, statistics=["test_retest_alpha", "flip_rate", "position_consistency", "ece",
                                              "confound_slope_length", "rogan_gladen_rate"])
    ctx = dict(rater="j", reference="humans", design="paired", rubric="llm_rubric", dimension="Q0", level="ordinal")
    rows = {r["statistic"]: r for r in extra_paired_rows(mem_store, sig, rub, dim, "j", raters,
                                                         [raters["h"].index], [raters["h"].index], inp, opts, ctx)}
    assert set(rows) == set(opts.statistics)
    assert all(np.isnan(r["value"]) for r in rows.values())
    assert "samples >= 2" in rows["test_retest_alpha"]["note"]
    assert "j:swapped" in rows["position_consistency"]["note"]
    assert "neither option probabilities nor a confidence" in rows["ece"]["note"]
    assert "length" in rows["confound_slope_length"]["note"]
    assert "binary dimension" in rows["rogan_gladen_rate"]["note"]


# ---------------------------------------------------------------------------------------------------------
# confounds
# ---------------------------------------------------------------------------------------------------------

def test_confound_slope_by_hand():
    assert confound_slope([0, 1, 2], [1000, 2000, 3000]).value == pytest.approx(1.0)     # per 1,000 characters
    assert confound_slope([0, 1, 2], [2, 4, 6], statistic="confound_slope_turns").value == pytest.approx(0.5)
    # d = 0, 2, 1 at z = 1, 2, 3 (per-1000 units): slope = sum (z - 2)(d - 1) / sum (z - 2)^2 = 0.5
    assert confound_slope([0, 2, 1], [1000, 2000, 3000], n_boot=0).value == pytest.approx(0.5)


def test_confound_slope_matches_linregress_and_the_interval_covers():
    rng = np.random.default_rng(2)
    z = rng.integers(500, 20_000, 400).astype(float)
    d = 0.3 + 0.05 * z / 1000 + rng.normal(0, 0.5, 400)
    row = confound_slope(d, z, n_boot=300)
    ref = st.linregress(z / 1000, d)
    assert row.value == pytest.approx(ref.slope, abs=1e-10)
    assert row.ci_low < 0.05 < row.ci_high
    # the bootstrap interval is about as wide as the OLS one
    assert (row.ci_high - row.ci_low) == pytest.approx(2 * 1.96 * ref.stderr, rel=0.35)


def test_confound_degenerate_and_missing_lengths():
    row = confound_slope([0, 1, 2], [5, 5, 5], statistic="confound_slope_turns")
    assert np.isnan(row.value) and "same length" in row.note
    row = confound_slope([0, 1, 2, 3], [1000, np.nan, 3000, 4000], n_boot=0)
    assert row.n == 3 and "1 conversation(s) without a length dropped" in row.note
    assert np.isnan(confound_slope([0, 1], [1, 2]).value)
    rows = confound_slopes([0, 1, 2, 3], {"confound_slope_length": [1000, 2000, 3000, 4000],
                                          "confound_slope_turns": [1, 1, 1, 1]}, n_boot=50)
    assert rows[0].value == pytest.approx(1.0) and np.isnan(rows[1].value)
    with pytest.raises(LookupError):
        confound_slope([0, 1, 2], [1, 2, 3], statistic="confound_slope_words")


def test_confounds_through_the_audit(mem_store, tmp_path):
    """A judge whose leniency grows by exactly 1 point per 1,000 characters and 0.5 per turn."""
    n = 30
    rng = np.random.default_rng(3)
    turns = rng.integers(1, 4, n) * 2                          # 2, 4 or 6 messages
    chars_per_msg = rng.choice([500, 1000, 1500], n)          # lengths in whole thousands: values on the scale
    convs = pd.DataFrame({"conversation_id": [f"c{i}" for i in range(n)],
                          "messages": [[{"role": "user" if k % 2 == 0 else "assistant", "content": "x" * int(c)}
                                        for k in range(t)] for t, c in zip(turns, chars_per_msg)]})
    mem_store.ingest_conversations(convs)
    n_chars = turns * chars_per_msg
    human = np.full(n, 2.0)
    judge = human + n_chars / 1000
    mem_store.ingest_signals(pd.concat([
        pd.DataFrame({"conversation_id": convs.conversation_id, "dimension": "x", "rater_id": "h",
                      "rater_kind": "human", "value": human}),
        pd.DataFrame({"conversation_id": convs.conversation_id, "dimension": "x", "rater_id": "j",
                      "rater_kind": "judge", "value": judge})]), rubric=_interval_rubric(tmp_path))
    df = audit(mem_store, AuditOptions(n_boot=100))
    got = df[df.rater == "j"].set_index("statistic")
    assert got.loc["confound_slope_length", "value"] == pytest.approx(1.0, abs=1e-9)
    assert got.loc["confound_slope_length", "n"] == n
    ref = st.linregress(turns, n_chars / 1000).slope
    assert got.loc["confound_slope_turns", "value"] == pytest.approx(ref, abs=1e-9)
    assert "per turn" in got.loc["confound_slope_turns", "note"]


def _interval_rubric(folder) -> str:
    text = ("name: interval_test\nversion: '1'\ndimensions:\n  - name: x\n    level: interval\n    options:\n"
            + "".join(f"      - {{label: '{v}', value: {v}}}\n" for v in range(0, 31)))
    path = folder / "interval_test.yaml"
    path.write_text(text)
    return str(path)


def test_registry():
    for name in ("test_retest_alpha", "flip_rate", "position_consistency"):
        assert _registry.get(name, "stability").kind == "stability"
    for name in ("confound_slope_length", "confound_slope_turns"):
        assert _registry.get(name, "confound").kind == "confound"
    assert _registry.get("flip_rate").higher_is_better is False
