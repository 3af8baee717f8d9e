"""τ-USI behavioural features (auditor.stats.usi_behaviour): each feature on turns built for it, the None cases,
pooling, Dice–Sørensen, and a cross-check against an independent re-derivation of the released scorer's recipe
(OdysSim ``agents/tau_usi/utils.py`` ``extract_conversation_features``, ``usi_metric.py`` ``build_row`` and
``compute_dimension_dice``, read, not imported)."""

from __future__ import annotations

import hashlib
import math
import random
import re
import statistics

import numpy as np
import pytest

from auditor.stats import usi_behaviour as ub
from auditor.stats.usi_behaviour import (DIMENSIONS, FEATURES, conversation_features, dice, feature_dice,
                                         feature_matrix, pooled_row)


def U(*texts):
    """A conversation of user turns only."""
    return [{"role": "user", "content": t} for t in texts]


def feat(name, *texts):
    return conversation_features(U(*texts))[name]


# ── the public constants ────────────────────────────────────────────────────────────────────────────────────


def test_feature_names_and_order():
    assert FEATURES == ("n_turns", "user_words_per_turn", "politeness_rate", "short_msg_rate", "formality_rate",
                        "ack_only_rate", "verbosity_cv", "repeat_rate", "id_confuse_rate", "info_frontload",
                        "id_density", "opening_words", "uncertainty_rate", "certainty_rate", "pushback_q_rate",
                        "clarify_q_rate", "info_q_rate", "emotion_rate", "accusation_rate", "pivot_rate")


def test_dimensions_are_the_scorers_dimension_keys():
    assert list(DIMENSIONS) == ["usi_d1_conv", "usi_d2_info", "usi_d3_clarif", "usi_d4_react"]
    assert DIMENSIONS["usi_d1_conv"] == ("politeness_rate", "short_msg_rate", "formality_rate", "ack_only_rate",
                                         "verbosity_cv", "repeat_rate", "id_confuse_rate")
    assert DIMENSIONS["usi_d2_info"] == ("info_frontload", "id_density", "user_words_per_turn", "opening_words")
    assert DIMENSIONS["usi_d3_clarif"] == ("uncertainty_rate", "certainty_rate", "pushback_q_rate",
                                           "clarify_q_rate", "info_q_rate")
    assert DIMENSIONS["usi_d4_react"] == ("emotion_rate", "accusation_rate", "pivot_rate")
    in_dims = [f for fs in DIMENSIONS.values() for f in fs]
    assert sorted(in_dims) == sorted(set(FEATURES) - {"n_turns"})      # n_turns is in no dimension


# sha256 (first 16 hex digits) of each regular expression's pattern text in the released scorer
# (sunnweiwei/OdysSim agents/tau_usi/utils.py at 76f478e5): the phrase lists are the scorer's, character for character
SCORER_PATTERNS = {
    "_MARKUP": "bb6477b2d256718c", "_POLITE": "d01e8c1a80cfea40", "_EMOTION": "5e32565e5ce8018c",
    "_DASH": "f660ceda05f8ed82", "_ACK_ONLY": "33544592921d7cae", "_ID_LIKE": "2043bf6f31295c25",
    "_UNCERTAIN": "eb0e956af7d5fca5", "_CERTAIN": "a93299add763088a", "_PUSHBACK": "1c07c39afd00f561",
    "_CLARIFY": "d377f698bf09249f", "_INFO_Q": "87de62d7cb2b9dd1", "_ACCUSATION": "d20887ed3428daa1",
    "_PIVOT": "2845d42cd9071c70", "_AGENT_TALK": "b95431824c0a4b9f",
}


@pytest.mark.parametrize("name", sorted(SCORER_PATTERNS))
def test_patterns_are_the_scorers(name):
    pattern = getattr(ub, name)
    assert hashlib.sha256(pattern.pattern.encode()).hexdigest()[:16] == SCORER_PATTERNS[name]
    assert bool(pattern.flags & re.DOTALL) == (name == "_MARKUP")
    assert not pattern.flags & re.IGNORECASE       # case is handled by lower-casing the text


# ── None cases and content handling ────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("messages", [[], [{"role": "assistant", "content": "hello"}],
                                      [{"role": "User", "content": "hi"}], [{"role": "tool", "content": "x"}]])
def test_no_user_turn_gives_none(messages):
    assert conversation_features(messages) is None


def test_none_and_non_str_content():
    f = conversation_features([{"role": "user", "content": None}, {"role": "user", "content": 12345},
                               {"role": "user"}])
    assert f["user_words_per_turn"] == pytest.approx(1 / 3)      # words 0, 1 ("12345"), 0
    assert f["short_msg_rate"] == 1.0
    assert f["id_density"] == pytest.approx(1 / 3)               # "12345": a five-digit run is ID-like
    assert f["opening_words"] == 0.0
    assert f["info_frontload"] == 1.0                            # the one word is in the first two turns
    assert f["verbosity_cv"] == pytest.approx(math.sqrt(2 / 9) / (1 / 3))


def test_all_twenty_keys_in_order():
    f = conversation_features(U("hi"))
    assert tuple(f) == FEATURES and all(isinstance(v, float) for v in f.values())


# ── each feature by construction ───────────────────────────────────────────────────────────────────────────


def test_n_turns_counts_every_message_of_any_role():
    msgs = [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"},
            {"role": "tool", "content": "{}"}, {"role": "system", "content": None}, {"role": "user", "content": "ok"}]
    assert conversation_features(msgs)["n_turns"] == 5.0


def test_word_counts_frontload_opening_and_cv():
    # three user turns of 2, 4, 6 words (no word of six letters, so nothing is ID-like); agent turns in between
    msgs = [{"role": "assistant", "content": "how can i help you today with many words here"},
            {"role": "user", "content": "ab cd"},
            {"role": "assistant", "content": "x"},
            {"role": "user", "content": "ab cd ef gh"},
            {"role": "user", "content": "ab cd ef gh ij kl"}]
    f = conversation_features(msgs)
    assert f["user_words_per_turn"] == 4.0
    assert f["verbosity_cv"] == pytest.approx(math.sqrt(8 / 3) / 4)     # population std of (2, 4, 6) / 4
    assert f["opening_words"] == 2.0                                      # the first USER turn
    assert f["info_frontload"] == pytest.approx(6 / 12)
    assert f["short_msg_rate"] == pytest.approx(1 / 3)
    assert f["id_confuse_rate"] == 0.0                                    # the agent's own words do not count
    assert f["id_density"] == 0.0


def test_cv_and_frontload_edge_cases():
    assert feat("verbosity_cv", "ab cd ef") == 0.0                        # one turn
    assert feat("verbosity_cv", "", "") == 0.0                            # mean 0
    assert feat("info_frontload", "", "") == 0.0                          # no words at all
    assert feat("info_frontload", "ab cd ef") == 1.0
    assert feat("info_frontload", "ab", "ab", "ab cd") == pytest.approx(2 / 4)


def test_politeness_rate():
    assert feat("politeness_rate", "thanks!", "the cat sat", "please hurry") == pytest.approx(2 / 3)
    assert feat("politeness_rate", "Thank You so much") == 1.0            # lower-cased
    assert feat("politeness_rate", "thanksgiving plans") == 0.0          # word-bounded
    assert feat("politeness_rate", "I understand, no worries") == 1.0


def test_thanks_is_polite_and_ack_only():
    f = conversation_features(U("thanks!"))
    assert f["politeness_rate"] == 1.0 and f["ack_only_rate"] == 1.0 and f["short_msg_rate"] == 1.0


def test_short_msg_rate_threshold_is_three_words():
    assert feat("short_msg_rate", "ab cd ef", "ab cd ef gh") == 0.5
    assert feat("short_msg_rate", "") == 1.0                               # 0 words is short


def test_formality_rate_em_and_en_dash():
    assert feat("formality_rate", "yes \u2014 fine", "from 3\u20134", "a plain - hyphen", "x") == 0.5


def test_ack_only_rate():
    texts = ("ok", "  Got it!! ", "ok then", "Sounds good.", "yes, please", "uh-huh", "sure -,. !")
    # "ok then" and "yes, please" are more than one acknowledgement; the rest are one followed by ! . - , and spaces
    assert feat("ack_only_rate", *texts) == pytest.approx(5 / 7)
    assert feat("ack_only_rate", "ok?") == 0.0                              # "?" is not allowed after it


def test_repeat_rate_trigram_more_than_ten_times():
    assert feat("repeat_rate", "one two three " * 11) == 1.0               # "one two three" 11 times
    assert feat("repeat_rate", "one two three " * 10) == 0.0               # 10 times: not more than 10
    assert feat("repeat_rate", *(["One two THREE"] * 11)) == 1.0           # counted over turns, lower-cased
    assert feat("repeat_rate", *(["one two three"] * 10)) == 0.0
    assert feat("repeat_rate", *(["two three", "one"] * 11)) == 0.0       # trigrams never span two turns


def test_id_confuse_rate_is_any_turn():
    assert feat("id_confuse_rate", "ok", "How can I help you?", "fine", "fine") == 1.0
    assert feat("id_confuse_rate", "Let me check your order") == 1.0
    assert feat("id_confuse_rate", "ok", "fine") == 0.0


def test_id_density():
    texts = ("my order is #W1234567", "mail me at jo@do.com", "hi", "use gift_card_7")
    # one ID-like token in each of turns 1, 2 and 4 ("gift_card_7": 9 word characters, the first pattern)
    assert feat("id_density", *texts) == pytest.approx(3 / 4)
    assert feat("id_density", "reservation") == 1.0        # any run of six or more letters/digits counts
    assert feat("id_density", "abc12 x") == 0.0


def test_markup_is_stripped_before_counting():
    f = conversation_features(U("<|think|>please\nthese many hidden words<|/think|>ok",
                                "<function=lookup>{\"id\": \"ZZ99887766\"}</function>fine sorry",
                                "<|tool|>thanks tool output<|/tool|>hmm",
                                "ab <function=unterminated call please"))
    assert f["user_words_per_turn"] == pytest.approx((1 + 2 + 1 + 1) / 4)
    assert f["opening_words"] == 1.0
    assert f["ack_only_rate"] == pytest.approx(1 / 4)      # "ok"
    assert f["politeness_rate"] == pytest.approx(1 / 4)    # only "fine sorry"; the hidden "please"/"thanks" are gone
    assert f["id_density"] == 0.0                          # the hidden ID and six-letter words are gone


def test_uncertainty_and_certainty_rates():
    assert feat("uncertainty_rate", "I think so", "Maybe tomorrow", "sure") == pytest.approx(2 / 3)
    assert feat("uncertainty_rate", "I dont remember", "i'm unsure") == 1.0
    assert feat("certainty_rate", "Definitely", "of course not", "ok", "ok") == 0.5


def test_question_kinds_precedence():
    f = conversation_features(U("Are you sure? What do you mean?",    # push-back and clarification: push-back
                                "What do you mean? How much is it?",  # clarification and information: clarification
                                "How much is it?",                    # information
                                "ok"))
    assert (f["pushback_q_rate"], f["clarify_q_rate"], f["info_q_rate"]) == (0.25, 0.25, 0.25)


def test_question_kinds_each():
    assert feat("pushback_q_rate", "I already told you that", "ok") == 0.5
    assert feat("clarify_q_rate", "Wait, which one?", "ok") == 0.5
    assert feat("info_q_rate", "What is my balance", "ok", "ok", "ok") == 0.25


def test_reaction_rates():
    assert feat("emotion_rate", "I'm so frustrated", "Ugh", "fine") == pytest.approx(2 / 3)
    assert feat("accusation_rate", "this is useless", "your fault", "ok") == pytest.approx(2 / 3)
    assert feat("pivot_rate", "On second thought, Tuesday", "do that instead", "fine", "ok") == 0.5


# ── matrix, pooling, Dice ──────────────────────────────────────────────────────────────────────────────────


def test_feature_matrix_rows_and_nan_rows():
    convs = [U("ab cd"), [], [{"role": "assistant", "content": "hi"}], U("thanks", "ab cd ef gh")]
    m = feature_matrix(convs)
    assert m.shape == (4, 20)
    assert np.isnan(m[1]).all() and np.isnan(m[2]).all()
    assert list(m[3]) == [conversation_features(convs[3])[k] for k in FEATURES]
    assert feature_matrix([]).shape == (0, 20)


def test_pooled_row_ignores_nan_rows():
    m = np.array([[1.0] * 20, [np.nan] * 20, [3.0] * 20])
    assert np.array_equal(pooled_row(m), np.full(20, 2.0))
    assert np.isnan(pooled_row(np.full((2, 20), np.nan))).all()
    assert np.isnan(pooled_row(np.empty((0, 20)))).all()
    convs = [U("ab cd"), [], U("ab cd ef gh")]
    assert pooled_row(feature_matrix(convs))[FEATURES.index("user_words_per_turn")] == 3.0


def test_feature_dice_values():
    got = feature_dice([0.0, 2.0, -2.0, 1.0, 5.0, np.nan], [0.0, 1.0, 1.0, -1.0, 0.0, 1.0])
    assert got[:5] == pytest.approx([1.0, 2 / 3, 2 / 3, 1.0, 0.0])       # both 0 → 1; absolute values
    assert np.isnan(got[5])


def test_dice_dimensions():
    zero = np.zeros(20)
    assert dice(zero, zero) == {d: 100.0 for d in DIMENSIONS}
    h, m = np.ones(20), np.ones(20)
    m[FEATURES.index("politeness_rate")] = 3.0        # 2·1/4 = 0.5
    m[FEATURES.index("opening_words")] = 2.0          # 2·1/3
    m[FEATURES.index("n_turns")] = 50.0               # in no dimension
    d = dice(h, m)
    assert d["usi_d1_conv"] == pytest.approx((6 + 0.5) / 7 * 100)
    assert d["usi_d2_info"] == pytest.approx((3 + 2 / 3) / 4 * 100)
    assert d["usi_d3_clarif"] == 100.0 and d["usi_d4_react"] == 100.0


def test_dice_ignores_the_scorers_times_100_on_rates():
    rng = np.random.default_rng(1)
    h, m = rng.uniform(0, 1, 20), rng.uniform(0, 1, 20)
    rates = [i for i, f in enumerate(FEATURES) if f.endswith("_rate") or f == "info_frontload"]
    h100, m100 = h.copy(), m.copy()
    h100[rates] *= 100
    m100[rates] *= 100
    a, b = dice(h, m), dice(h100, m100)
    assert all(a[k] == pytest.approx(b[k], rel=1e-12) for k in DIMENSIONS)


# ── cross-check: an independent re-derivation of the scorer's recipe ───────────────────────────────────────

_HAND_MARKUP = re.compile(r"<\|think\|>.*?<\|/think\|>|<function=.*?(?:</function>|$)|<\|tool\|>.*?<\|/tool\|>",
                          re.DOTALL)
_PHRASE_FEATURES = {"politeness_rate": ub._POLITE_PHRASES, "uncertainty_rate": ub._UNCERTAIN_PHRASES,
                    "certainty_rate": ub._CERTAIN_PHRASES, "emotion_rate": ub._EMOTION_WORDS,
                    "accusation_rate": ub._ACCUSATION_WORDS, "pivot_rate": ub._PIVOT_PHRASES}
# the scorer's build_row multiplies these by 100 (its "_pct" columns)
_PCT = {"short_msg_rate", "politeness_rate", "formality_rate", "ack_only_rate", "repeat_rate", "id_confuse_rate",
        "info_frontload", "uncertainty_rate", "certainty_rate", "pushback_q_rate", "clarify_q_rate", "info_q_rate",
        "emotion_rate", "accusation_rate", "pivot_rate"}


def _has(phrases, text):
    """Some phrase occurs, word-bounded: tried one phrase at a time (no alternation)."""
    return any(re.search(r"\b(?:" + p + r")\b", text) for p in phrases)


def _hand_features(conv):
    """extract_conversation_features, re-derived from its text, loop by loop."""
    if not conv:
        return None
    user = [_HAND_MARKUP.sub("", str(m.get("content") or "")) for m in conv if m.get("role") == "user"]
    if not user:
        return None
    low = [t.lower() for t in user]
    n = len(user)
    wc = [len(t.split()) for t in user]
    mean = sum(wc) / n
    tri: dict = {}
    for t in low:
        w = t.split()
        for g in zip(w, w[1:], w[2:]):
            tri[g] = tri.get(g, 0) + 1
    kind = []
    for t in low:
        if _has(ub._PUSHBACK_PHRASES, t):
            kind.append("p")
        elif _has(ub._CLARIFY_PHRASES, t):
            kind.append("c")
        elif _has(ub._INFO_Q_PHRASES, t):
            kind.append("i")
        else:
            kind.append("")
    ids = re.compile("|".join(ub._ID_PARTS))
    f = {
        "n_turns": len(conv), "user_words_per_turn": mean, "opening_words": wc[0],
        "short_msg_rate": sum(c <= 3 for c in wc) / n,
        "formality_rate": sum(("\u2014" in t) or ("\u2013" in t) for t in user) / n,
        "ack_only_rate": sum(any(re.fullmatch("(?:" + p + r")[\s!.\-,]*", t.strip()) for p in ub._ACK_PHRASES)
                             for t in low) / n,
        "verbosity_cv": statistics.pstdev(wc) / mean if mean > 0 else 0.0,
        "repeat_rate": 1.0 if tri and max(tri.values()) > 10 else 0.0,
        "id_confuse_rate": 1.0 if any(_has(ub._AGENT_TALK_PHRASES, t) for t in low) else 0.0,
        "info_frontload": sum(wc[:2]) / sum(wc) if sum(wc) else 0.0,
        "id_density": sum(len(ids.findall(t)) for t in low) / n,
        "pushback_q_rate": kind.count("p") / n, "clarify_q_rate": kind.count("c") / n,
        "info_q_rate": kind.count("i") / n,
    }
    for name, phrases in _PHRASE_FEATURES.items():
        f[name] = sum(_has(phrases, t) for t in low) / n
    return f


def _hand_row(convs):
    """build_row: the mean over conversations with features, rates × 100."""
    feats = [f for f in map(_hand_features, convs) if f is not None]
    return {k: sum(f[k] for f in feats) / len(feats) * (100 if k in _PCT else 1) for k in FEATURES}


def _hand_dice(h, m):
    """compute_dimension_dice."""
    out = {}
    for d, keys in DIMENSIONS.items():
        sims = [2 * min(abs(h[k]), abs(m[k])) / (abs(h[k]) + abs(m[k])) if abs(h[k]) + abs(m[k]) > 0 else 1.0
                for k in keys]
        out[d] = sum(sims) / len(sims) * 100
    return out


_BITS = ["please", "Thanks!", "thank you", "ok", "OK.", "got it", "yes", "sounds good -", "are you sure",
         "what do you mean", "how much", "I already told you", "Wait, what", "which order is", "you said 5?",
         "i think", "Maybe", "definitely", "of course", "frustrated", "UGH", "blame", "useless", "instead",
         "how about", "your order", "how can i help", "let me check", "order #W1234567", "abc123def",
         "user_id_12345", "jo@do.com", "gift_card_7", "\u2014", "\u2013", "a b c", "<|think|>hidden words<|/think|>",
         "<function=f>{x}</function>", "<function=unterminated", "<|tool|>t<|/tool|>", "hello", "the", "flight",
         "i'm confused", "meaning?", "is there a", "what's the status", "why can't", "on second thought", "I'd like",
         "", "\n", "don't ask me that again", "no problem", "uh-huh", "!!"]


def _corpus(seed, n):
    rng = random.Random(seed)
    convs = []
    for _ in range(n):
        conv = []
        for _ in range(rng.randint(0, 7)):
            text = " ".join(rng.choice(_BITS) for _ in range(rng.randint(0, 7)))
            if rng.random() < 0.05:
                text = "a b c " * rng.randint(9, 12)
            conv.append({"role": rng.choice(["user", "user", "assistant", "tool"]), "content": text})
        convs.append(conv)
    return convs


def test_cross_check_features_against_hand_derivation():
    convs = _corpus(7, 400)
    seen_nonzero = set()
    for conv in convs:
        ours, hand = conversation_features(conv), _hand_features(conv)
        assert (ours is None) == (hand is None)
        if ours is None:
            continue
        for k in FEATURES:
            assert ours[k] == pytest.approx(hand[k], rel=1e-12, abs=1e-12), (k, conv)
            if ours[k] > 0:
                seen_nonzero.add(k)
    assert seen_nonzero == set(FEATURES)              # the corpus exercises every feature


def test_cross_check_dice_against_hand_derivation():
    for seed in range(5):
        human, model = _corpus(100 + seed, 60), _corpus(200 + seed, 45)
        ours = dice(pooled_row(feature_matrix(human)), pooled_row(feature_matrix(model)))
        hand = _hand_dice(_hand_row(human), _hand_row(model))
        assert ours == pytest.approx(hand, rel=1e-10)
