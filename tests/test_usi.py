"""τ-USI rows of the matched design against an independent computation on the bundled example files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from auditor import Store
from auditor.audit import audit
from auditor.stats.usi_behaviour import DIMENSIONS, conversation_features

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tau_usi"
META = re.compile(r"^\\(tau|reward)\b")


def _clean(conv):
    """The scorer's meta-message filter (human and LLM rules together, as auditor's ingest applies them)."""
    out = []
    for m in conv:
        c = str(m.get("content", ""))
        if META.match(c) or any(t in c for t in ("<|survey|>", "<|canvas|>", "<|highlight|>")) or \
                c.strip() in ("/stop", "###STOP###"):
            continue
        out.append(m)
    return out


def _row(convs):
    feats = [f for f in (conversation_features(_clean(c)) for c in convs) if f is not None]
    keys = [k for fs in DIMENSIONS.values() for k in fs]
    return {k: float(np.mean([f[k] for f in feats])) for k in keys}


def _dice(h, m):
    out = {}
    for d, keys in DIMENSIONS.items():
        sims = [2 * min(abs(h[k]), abs(m[k])) / (abs(h[k]) + abs(m[k])) if abs(h[k]) + abs(m[k]) > 0 else 1.0
                for k in keys]
        out[d] = float(np.mean(sims) * 100)
    return out


def _batches():
    human = json.loads((EXAMPLE / "human_annotations_synthetic.json").read_text())
    batches = [{}, {}, {}]
    for k, v in human.items():
        b = 1 if k.endswith("_ann2") else 2 if k.endswith("_ann3") else 0
        if v.get("keep", True):
            batches[b][re.sub(r"_ann[23]$", "", k)] = v
    return batches


def _hand_ceiling():
    """The scorer's "Human (inter-ann.)" D1-D4: each pair of batches on the tasks both kept, mean over pairs."""
    batches, per_pair = _batches(), []
    for i in range(3):
        for j in range(i + 1, 3):
            both = sorted(set(batches[i]) & set(batches[j]))
            per_pair.append(_dice(_row([batches[j][t]["conversation"] for t in both]),
                                  _row([batches[i][t]["conversation"] for t in both])))
    return {d: float(np.mean([p[d] for p in per_pair])) for d in DIMENSIONS}


def _hand_d_scores():
    """D1-D4 by the released scorer's recipe, written out on the raw JSON (no store, no auditor aggregation)."""
    batches = _batches()
    runs: dict = {}
    for r in json.loads((EXAMPLE / "sim-synthetic.json").read_text())["results"]:
        base, run = r["instance_id"].rsplit("_", 1)
        if r.get("keep", True):
            runs.setdefault(run, {})[base] = r
    per_batch = []
    for b in batches:
        run_rows, union = [], set()
        for run in runs.values():
            overlap = sorted(set(b) & set(run))
            if overlap:
                run_rows.append(_row([run[t]["conversation"] for t in overlap]))
                union |= set(overlap)
        model = {k: float(np.mean([r[k] for r in run_rows])) for k in run_rows[0]}
        per_batch.append(_dice(_row([b[t]["conversation"] for t in sorted(union)]), model))
    return {d: float(np.mean([p[d] for p in per_batch])) for d in DIMENSIONS}


@pytest.fixture(scope="module")
def tau_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("usi") / "tau.duckdb"
    with Store(path) as s:
        s.ingest_tau_usi(EXAMPLE / "human_annotations_synthetic.json", kind="human")
        s.ingest_tau_usi(EXAMPLE / "sim-synthetic.json", kind="simulator")
    return path


def test_usi_rows_match_the_scorers_recipe(tau_store):
    with Store(tau_store, read_only=True) as s:
        rows = audit(s, design="matched", n_boot=200, statistics=["usi", "usi_d1_conv", "usi_d2_info",
                                                                    "usi_d3_clarif", "usi_d4_react", "eval_score",
                                                                    "outcome_ece"], ceiling=False)
    got = rows.set_index("statistic")["value"]
    hand = _hand_d_scores()
    for d, v in hand.items():
        assert got[d] == pytest.approx(v, abs=1e-9), d
    usi = (sum(hand.values()) + got["eval_score"] + (1 - got["outcome_ece"]) * 100) / 6
    assert got["usi"] == pytest.approx(usi, abs=1e-9)
    r = rows.set_index("statistic").loc["usi"]
    assert r["ci_low"] < r["value"] < r["ci_high"] and r["level"] == "interval" and r["n"] == 6
    assert "all parts resampled together" in r["note"]


def test_the_human_ceiling_compares_pairs_of_batches(tau_store):
    with Store(tau_store, read_only=True) as s:
        rows = audit(s, design="matched", n_boot=100, statistics=["usi", "usi_d1_conv", "usi_d2_info",
                                                                    "usi_d3_clarif", "usi_d4_react", "eval_score",
                                                                    "outcome_ece"])
    ceil = rows[rows["rater"] == "human_loo"].set_index("statistic")["value"]
    hand = _hand_ceiling()
    for d, v in hand.items():
        assert ceil[d] == pytest.approx(v, abs=1e-9), d
    assert ceil["usi"] == pytest.approx((sum(hand.values()) + ceil["eval_score"] + (1 - ceil["outcome_ece"]) * 100)
                                        / 6, abs=1e-9)
    sim = rows[rows["rater"] != "human_loo"].set_index("statistic")["value"]
    assert ceil["usi"] > sim["usi"]          # the synthetic "easy mode" simulator is less human-like than people


def test_feature_rows_say_which_behaviour_differs(tau_store):
    with Store(tau_store, read_only=True) as s:
        rows = audit(s, design="matched", n_boot=50, statistics=["usi_feature"], ceiling=False)
    feats = rows.set_index("statistic")["value"]
    assert len(feats) == 19 and all(k.startswith("usi_feature=") for k in feats.index)
    assert ((feats >= 0) & (feats <= 100)).all()
    # one row alone works too (the CLI's --statistic usi_feature=politeness_rate)
    with Store(tau_store, read_only=True) as s:
        one = audit(s, design="matched", n_boot=50, statistics=["usi_feature=politeness_rate"], ceiling=False)
    assert list(one["statistic"]) == ["usi_feature=politeness_rate"]
    assert one["value"].iloc[0] == feats["usi_feature=politeness_rate"]


def test_features_of_a_hand_built_conversation():
    msgs = [{"role": "user", "content": "Hi — I need to change flight ABC123, please."},
            {"role": "assistant", "content": "Sure."},
            {"role": "user", "content": "ok"},
            {"role": "user", "content": "Are you sure? I already told you my id <|think|>x y z<|/think|>"},
            {"role": "tool", "content": "{}"}]
    f = conversation_features(msgs)
    assert f["n_turns"] == 5
    words = [9, 1, 9]                     # markup removed before counting; "—" is a word
    assert f["user_words_per_turn"] == pytest.approx(np.mean(words))
    assert f["verbosity_cv"] == pytest.approx(np.std(words) / np.mean(words))
    assert f["politeness_rate"] == pytest.approx(1 / 3) and f["formality_rate"] == pytest.approx(1 / 3)
    assert f["short_msg_rate"] == pytest.approx(1 / 3) and f["ack_only_rate"] == pytest.approx(1 / 3)
    assert f["pushback_q_rate"] == pytest.approx(1 / 3) and f["clarify_q_rate"] == 0
    assert f["info_frontload"] == pytest.approx(10 / 19) and f["opening_words"] == 9
    # any 6+ character token counts as ID-like (the scorer's definition): change, flight, abc123, please; already
    assert f["id_density"] == pytest.approx((4 + 0 + 1) / 3)
    assert conversation_features([{"role": "assistant", "content": "hello"}]) is None
    assert conversation_features([]) is None


def _user(*turns):
    return [{"role": "user", "content": t} for t in turns]


@pytest.mark.parametrize("feature, turns, expected", [
    ("uncertainty_rate", ("I think it was May", "book it"), 0.5),
    ("certainty_rate", ("definitely the red one", "ok", "fine"), 1 / 3),
    ("clarify_q_rate", ("what do you mean", "book it"), 0.5),
    ("info_q_rate", ("how much is it?", "what is the status", "thanks"), 2 / 3),
    ("pushback_q_rate", ("why can't you do it, what do you mean", "ok"), 0.5),     # push-back wins over clarify
    ("clarify_q_rate", ("why can't you do it, what do you mean", "ok"), 0.0),
    ("emotion_rate", ("I am so frustrated", "ok", "fine", "sure"), 0.25),
    ("accusation_rate", ("this is useless", "ok"), 0.5),
    ("pivot_rate", ("actually can we do Tuesday instead", "ok"), 0.5),
    ("id_confuse_rate", ("ok", "let me check your order"), 1.0),
    ("id_confuse_rate", ("ok", "please change it"), 0.0),
    ("repeat_rate", ("i want to cancel " * 11,), 1.0),              # "i want to" 11 times
    ("repeat_rate", ("i want to cancel " * 10,), 0.0),              # 10 times is not more than 10
    ("short_msg_rate", ("one two three", "one two three four"), 0.5),
    ("ack_only_rate", ("sounds good!", "sounds good, but later"), 0.5),
    ("formality_rate", ("a – b", "a - b"), 0.5),                     # en dash counts, hyphen does not
    ("politeness_rate", ("THANKS", "no"), 0.5),                       # matched on the lower-cased text
])
def test_each_feature_on_turns_built_for_it(feature, turns, expected):
    assert conversation_features(_user(*turns))[feature] == pytest.approx(expected)
