"""Behavioural features of a conversation's user turns: the 20 features behind τ-USI's D1–D4.

τ-USI is the score of "Mind the Sim2Real Gap in User Simulation for Agentic Tasks" (arXiv 2603.11245). The
definitions here follow that study's released scorer, GitHub ``sunnweiwei/OdysSim`` (Apache-2.0):
``agents/tau_usi/utils.py`` (``extract_conversation_features``, its regular expressions, ``DIMENSION_KEYS``) and
``agents/tau_usi/usi_metric.py`` (``build_row``, ``compute_dimension_dice``). Same 20 features, same word and
phrase lists, thresholds and precedence, so the numbers are comparable with the published leaderboard. The code is
our own. No I/O, no printing.

Text of a user turn: its content (``str(content or "")``) with agent markup removed (``<|think|>…<|/think|>``,
``<function=…</function>`` or ``<function=…`` to the end, ``<|tool|>…<|/tool|>``). Words: whitespace-separated
tokens of that text. Phrase matching: on the lower-cased text, word-bounded (``\\b(…)\\b``). Platform meta-messages
are removed at ingest, so none are filtered here.

Per conversation (U = the user turns, |U| their number):

====================  ==========================================================================================
n_turns               messages of any role
user_words_per_turn   mean words per user turn
politeness_rate       share of U with a politeness phrase ("please", "thanks", "sorry", …)
short_msg_rate        share of U with at most 3 words
formality_rate        share of U with an em dash or an en dash (on the text before lower-casing)
ack_only_rate         share of U that are, whole, one acknowledgement ("ok", "got it", "thanks", …) followed only
                      by spaces and ``! . - ,``
verbosity_cv          population standard deviation of the words per user turn / their mean (0 when the mean is 0)
repeat_rate           1 when one word trigram (within a turn, lower-cased) occurs more than 10 times over U, else 0
id_confuse_rate       1 when any user turn talks like the agent ("how can i help", "your order", …), else 0
info_frontload        words of the first two user turns / all user words (0 without words)
id_density            mean number of ID-like tokens per user turn (6+ letters/digits, 5+ digit runs, e-mails, …)
opening_words         words of the first user turn
uncertainty_rate      share of U with a hedge ("i think", "not sure", "maybe", …)
certainty_rate        share of U with a certainty word ("definitely", "of course", …)
pushback_q_rate       share of U that push back ("are you sure", "i already told", …)
clarify_q_rate        share of U that ask for clarification ("what do you mean", …) and do not push back
info_q_rate           share of U that ask for information ("how much", "what is my", …) and neither of the above
emotion_rate          share of U with an emotion word ("frustrated", "ugh", …)
accusation_rate       share of U with an accusation word ("blame", "useless", …)
pivot_rate            share of U that change course ("instead", "how about", "on second thought", …)
====================  ==========================================================================================

D1–D4 (:data:`DIMENSIONS`): per feature the Dice–Sørensen similarity 2·min(h, m) / (h + m) of the absolute pooled
values of the humans (h) and the simulator (m), 1 when both are 0; a dimension's score is the mean over its
features × 100.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

__all__ = ["FEATURES", "DIMENSIONS", "conversation_features", "feature_matrix", "pooled_row", "dice",
           "feature_dice"]

FEATURES: tuple[str, ...] = (
    "n_turns", "user_words_per_turn", "politeness_rate", "short_msg_rate", "formality_rate", "ack_only_rate",
    "verbosity_cv", "repeat_rate", "id_confuse_rate", "info_frontload", "id_density", "opening_words",
    "uncertainty_rate", "certainty_rate", "pushback_q_rate", "clarify_q_rate", "info_q_rate", "emotion_rate",
    "accusation_rate", "pivot_rate")

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "usi_d1_conv": ("politeness_rate", "short_msg_rate", "formality_rate", "ack_only_rate", "verbosity_cv",
                    "repeat_rate", "id_confuse_rate"),
    "usi_d2_info": ("info_frontload", "id_density", "user_words_per_turn", "opening_words"),
    "usi_d3_clarif": ("uncertainty_rate", "certainty_rate", "pushback_q_rate", "clarify_q_rate", "info_q_rate"),
    "usi_d4_react": ("emotion_rate", "accusation_rate", "pivot_rate"),
}

SHORT_WORDS = 3        # a short message has at most this many words
REPEAT_ABOVE = 10      # a trigram occurring more than this many times marks a repetitive user
FRONT_TURNS = 2        # info_frontload: the share of the words said in this many first user turns
TRIGRAM = 3

# ── phrase lists (regular-expression fragments; the scorer's lists, in its order) ─────────────────────────────

_MARKUP_PARTS = (r"<\|think\|>.*?<\|/think\|>", r"<function=.*?(?:</function>|$)", r"<\|tool\|>.*?<\|/tool\|>")

_POLITE_PHRASES = (
    "please", "thank you", "thanks", "sorry", "excuse me", "appreciate", "grateful", "kind of you", "wonderful",
    "courteous", "considerate", "i understand", "no worries", "my apologies", "pardon")

_EMOTION_WORDS = (
    "frustrated", "upset", "angry", "confused", "worried", "annoyed", "furious", "ridiculous", "terrible",
    "horrible", "awful", "ugh", "stressed", "anxious", "nervous", "uncomfortable", "panic", "disappointed",
    "disappointing", "irritated", "irritating", "aggravated", "outraged", "outrageous", "exasperated", "bothered",
    "disgusted", "miserable", "devastated", "heartbroken", "desperate")

_DASHES = r"\u2014\u2013"  # em dash, en dash (regular-expression escapes)

_ACK_PHRASES = (
    "yes", "yeah", "yea", "yep", "yup", "ok", "okay", "okey", "sure", "right", "fine", "great", "perfect", "awesome",
    "cool", "agree", "agreed", "correct", "absolutely", "indeed", "alright", "got it", "go ahead", "sounds good",
    "that works", "proceed", "confirm", "do it", "no problem", "thank you", "thanks", "please", "mhm", "uh-huh",
    "aight")
_ACK_TAIL = r"[\s!.\-,]*"  # what may follow the acknowledgement

_ID_PARTS = (r"\b[a-z0-9]{6,}\b", r"#?\w*\d{5,}\w*", r"\w+_\w+_\d{3,}", r"gift_card_\w+", r"credit_card_\w+",
             r"paypal_\w+", r"\w+@\w+\.\w+")

_UNCERTAIN_PHRASES = (
    "i think", "not sure", "i don'?t remember", "i don'?t recall", "i believe", "probably", "maybe", "i forgot",
    "don'?t know", "i guess", "i'?m not sure", "if i recall", "i don'?t have", "can'?t recall", "can'?t find",
    "i'?m unsure", "i might", "perhaps", "apparently", "sort of", "kind of", "somewhat", "partly", "possibly",
    "vaguely", "roughly", "hesitant", "doubtful", "confused", "uncertain", "dunno")

_CERTAIN_PHRASES = (
    "definitely", "absolutely", "certainly", "exactly", "precisely", "clearly", "always", "never", "completely",
    "entirely", "fully", "obvious", "obviously", "undoubtedly", "without a doubt", "for sure", "of course",
    "guaranteed", "no doubt")

_PUSHBACK_PHRASES = (
    "are you sure",
    "that'?s (not right|wrong|incorrect|not what)",
    "i already (told|said|gave|provided|mentioned)",
    "you already (asked|have)",
    "try again",
    "check again",
    "that can'?t be (right|correct)",
    "that'?s (crazy|nonsense|ridiculous|absurd)",
    "this is (not fair|nonsense)",
    "why (can'?t|won'?t|didn'?t|isn'?t|aren'?t|would)",
    "doesn'?t (seem|sound|look|make sense)",
    "not what i (asked|said|meant|wanted)",
    "do(n'?t| not) ask me .* again",
    "i would never")

_CLARIFY_PHRASES = (
    "what do you mean",
    "what does that mean",
    "what did you mean",
    "could you (clarify|elaborate|specify)",
    "can you (explain|clarify|elaborate)",
    "i don'?t understand",
    "i dont understand",
    "what'?s the difference",
    "whats the difference",
    "what exactly",
    "what specifically",
    "which (one|reservation|order|flight|option|plan|account|item|product) (is|was|do|should|did|would)",
    "i'?m not sure which",
    "im not sure which",
    "which is which",
    r"you (said|mentioned|told me|wrote|indicated) .{0,30}\?",
    "that mean",
    "what does that (involve|include|entail|look like)",
    "(sorry|wait),? (what|which|how|i don'?t)",
    "can you (be more specific|give me more detail|break that down|walk me through)",
    "i'?m (confused|lost)",
    "im (confused|lost)",
    "(how|what) (exactly|specifically) (does|do|is|are|would|will|should)",
    "could you (repeat|say) that",
    "can you (repeat|say) that",
    "what (is|are) the (options|choices|alternatives|details)",
    "i need (more|some) (info|information|details|clarification)",
    "(so|wait),? (you'?re saying|does that mean|is that)",
    r"meaning\??",
    r"how so\??",
    r"in what (way|sense)\??")

_INFO_Q_PHRASES = (
    "what is (the|my)",
    "what'?s (the|my)",
    "how much",
    "how many",
    "when (will|does|is|can|did)",
    "where (is|are|was|can)",
    "how (do|can|would|should) i",
    "what are (the|my)",
    "can you (check|tell|find|look|see|show|help|list)",
    "do you (have|know|see)",
    "is (there|it|that) (a |any )?",
    "what options",
    "how long",
    "what.s the (status|price|cost|total|balance)")

_ACCUSATION_WORDS = (
    "blame", "fault", "ridiculous", "wrong", "useless", "incompetent", "failure", "misleading", "irresponsible",
    "unacceptable", "disgrace", "insult", "scam", "shame", "stupid", "trouble", "disappointing", "ruined")

_PIVOT_PHRASES = (
    "(wait|actually) (can|let|could|would)",
    "i('?d| would) (like|prefer|rather)",
    "(can you|can we|could you) just",
    "instead",
    "rather than",
    "how about",
    "what about",
    "what if",
    "on second thought",
    "is there (a |any |another )?way to",
    "(let'?s|can we|lets) (try|do|go with|switch|change)",
    "maybe (we|i|you) (should|could|can)",
    "(change|switch|try) (it |that )?(to|something|a different)")

_AGENT_TALK_PHRASES = (
    "how can i (help|assist)",
    "how may i (help|assist)",
    "what can i (do|help|assist) (for|with)",
    "do you (want|require|wish|prefer)",
    "would you (like|prefer)",
    "let me (check|look|verify|find|pull up|search|assist|help)",
    "i('?ll| will) (check|look into|verify|process|handle|assist|help)",
    "i('?m| am) (happy|glad|here) to (help|assist)",
    "is there anything else i can",
    "thank you for (calling|contacting|reaching|choosing|your patience)",
    "for (security|verification) (purposes|reasons)",
    "(may|could) i (verify)",
    "allow me to",
    "permit me to",
    "your (order|account|reservation|booking|request|ticket|case|inquiry)",
    "i (see|understand) (that|your)",
    "according to (our|the) (records|system|policy)",
    "(our|the) (policy|system|records) (shows?|indicates?)",
    "i (can|could) (offer|suggest|recommend)",
    "(have you|did you) (tried?|considered?)",
    "i apologize for (the|any) (inconvenience|confusion|delay|trouble)")


def _bounded(fragments: tuple[str, ...]) -> re.Pattern:
    """One word-bounded alternation ``\\b(f1|f2|…)\\b`` of the fragments (searched anywhere in a turn)."""
    return re.compile(r"\b(" + "|".join(fragments) + r")\b")


_MARKUP = re.compile("|".join(_MARKUP_PARTS), re.DOTALL)
_POLITE = _bounded(_POLITE_PHRASES)
_EMOTION = _bounded(_EMOTION_WORDS)
_DASH = re.compile("[" + _DASHES + "]")
_ACK_ONLY = re.compile(r"^(" + "|".join(_ACK_PHRASES) + r")" + _ACK_TAIL + r"$")   # the whole (stripped) turn
_ID_LIKE = re.compile("(" + "|".join(_ID_PARTS) + ")")
_UNCERTAIN = _bounded(_UNCERTAIN_PHRASES)
_CERTAIN = _bounded(_CERTAIN_PHRASES)
_PUSHBACK = _bounded(_PUSHBACK_PHRASES)
_CLARIFY = _bounded(_CLARIFY_PHRASES)
_INFO_Q = _bounded(_INFO_Q_PHRASES)
_ACCUSATION = _bounded(_ACCUSATION_WORDS)
_PIVOT = _bounded(_PIVOT_PHRASES)
_AGENT_TALK = _bounded(_AGENT_TALK_PHRASES)

# ── per-conversation features ───────────────────────────────────────────────────────────────────────────────


def _user_texts(messages: list) -> list[str]:
    """The user turns' text, in order, with agent markup removed (content None or non-str: ``str(content or "")``)."""
    return [_MARKUP.sub("", str(m.get("content") or "")) for m in messages
            if isinstance(m, dict) and m.get("role") == "user"]


def _share(flags) -> float:
    """Share of True among the flags (one per user turn)."""
    flags = list(flags)
    return sum(bool(f) for f in flags) / len(flags) if flags else 0.0


def _matching_share(pattern: re.Pattern, texts: list[str]) -> float:
    """Share of the turns in which ``pattern`` is found."""
    return _share(pattern.search(t) is not None for t in texts)


def _verbosity_cv(word_counts: list[int]) -> float:
    """Population standard deviation of the words per turn over their mean; 0 when the mean is 0."""
    mean = sum(word_counts) / len(word_counts)
    if mean <= 0:
        return 0.0
    var = sum((w - mean) ** 2 for w in word_counts) / len(word_counts)
    return float(var ** 0.5 / mean)


def _repeats_a_trigram(lowered: list[str]) -> bool:
    """Whether one word trigram (taken inside each turn) occurs more than REPEAT_ABOVE times over all turns."""
    counts: Counter = Counter()
    for text in lowered:
        w = text.split()
        counts.update(tuple(w[i:i + TRIGRAM]) for i in range(len(w) - TRIGRAM + 1))
    return any(c > REPEAT_ABOVE for c in counts.values())


def _question_kind(text: str) -> str:
    """One kind per turn, first match wins: "pushback", else "clarify", else "info", else ""."""
    for kind, pattern in (("pushback", _PUSHBACK), ("clarify", _CLARIFY), ("info", _INFO_Q)):
        if pattern.search(text):
            return kind
    return ""


def conversation_features(messages: list[dict]) -> dict[str, float] | None:
    """The 20 features of one conversation (definitions in the module docstring), keyed as in :data:`FEATURES`.

    ``messages``: ``[{"role": ..., "content": ...}, ...]`` with platform meta-messages already removed; ``n_turns``
    counts every message of any role. None when there are no messages or no ``role == "user"`` message.
    """
    if not messages:
        return None
    texts = _user_texts(messages)
    if not texts:
        return None
    lowered = [t.lower() for t in texts]
    words = [len(t.split()) for t in texts]
    total = sum(words)
    kinds = [_question_kind(t) for t in lowered]
    values = {
        "n_turns": float(len(messages)),
        "user_words_per_turn": total / len(words),
        "politeness_rate": _matching_share(_POLITE, lowered),
        "short_msg_rate": _share(w <= SHORT_WORDS for w in words),
        "formality_rate": _matching_share(_DASH, texts),
        "ack_only_rate": _share(_ACK_ONLY.match(t.strip()) for t in lowered),
        "verbosity_cv": _verbosity_cv(words),
        "repeat_rate": float(_repeats_a_trigram(lowered)),
        "id_confuse_rate": float(any(_AGENT_TALK.search(t) for t in lowered)),
        "info_frontload": sum(words[:FRONT_TURNS]) / total if total > 0 else 0.0,
        "id_density": sum(len(_ID_LIKE.findall(t)) for t in lowered) / len(lowered),
        "opening_words": float(words[0]),
        "uncertainty_rate": _matching_share(_UNCERTAIN, lowered),
        "certainty_rate": _matching_share(_CERTAIN, lowered),
        "pushback_q_rate": _share(k == "pushback" for k in kinds),
        "clarify_q_rate": _share(k == "clarify" for k in kinds),
        "info_q_rate": _share(k == "info" for k in kinds),
        "emotion_rate": _matching_share(_EMOTION, lowered),
        "accusation_rate": _matching_share(_ACCUSATION, lowered),
        "pivot_rate": _matching_share(_PIVOT, lowered),
    }
    return {k: float(values[k]) for k in FEATURES}


def feature_matrix(conversations: list[list[dict]]) -> np.ndarray:
    """(n, 20) features in :data:`FEATURES` order, one row per conversation; a NaN row where the features are None."""
    out = np.full((len(conversations), len(FEATURES)), np.nan)
    for i, messages in enumerate(conversations):
        f = conversation_features(messages)
        if f is not None:
            out[i] = [f[k] for k in FEATURES]
    return out


# ── pooling and Dice–Sørensen ───────────────────────────────────────────────────────────────────────────────


def pooled_row(matrix: np.ndarray) -> np.ndarray:
    """Column means over the rows without NaN (the conversations that have features): the scorer's ``build_row``.

    Rates stay shares in [0, 1]; the scorer multiplies them by 100 first, which does not change a Dice similarity.
    All NaN (or no rows): a NaN row. Several runs of one simulator: the scorer averages the runs' rows
    (``_average_rows``), i.e. the mean of ``pooled_row`` per run, not one pool over all runs.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"pooled_row wants an (n, features) matrix, got shape {m.shape}")
    ok = ~np.isnan(m).any(axis=1)
    return m[ok].mean(axis=0) if ok.any() else np.full(m.shape[1], np.nan)


def feature_dice(human_row, model_row) -> np.ndarray:
    """Per-feature Dice–Sørensen similarity 2·min(h, m) / (h + m) of the absolute values (h, m); 1 when both are 0.

    Rows in :data:`FEATURES` order; NaN in, NaN out.
    """
    h = np.abs(np.asarray(human_row, dtype=float))
    m = np.abs(np.asarray(model_row, dtype=float))
    s = h + m
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(s > 0, 2.0 * np.minimum(h, m) / s, 1.0)
    return np.where(np.isnan(s), np.nan, out)


def dice(human_row, model_row) -> dict[str, float]:
    """D1–D4 keyed by :data:`DIMENSIONS`: the mean per-feature similarity of each dimension's features, × 100."""
    sim = feature_dice(human_row, model_row)
    return {d: float(np.mean([sim[FEATURES.index(f)] for f in fs]) * 100) for d, fs in DIMENSIONS.items()}
