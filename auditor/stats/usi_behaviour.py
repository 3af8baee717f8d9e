"""Behavioural features of a conversation's user turns: the 20 features behind τ-USI's D1–D4.

The definitions follow the study's released scorer (GitHub ``sunnweiwei/OdysSim``, ``agents/tau_usi/utils.py``,
``extract_conversation_features`` and ``DIMENSIONS``; Apache-2.0), so the scores are comparable with the published
leaderboard: the same phrase lists, thresholds and precedence. The code is our own.

Per conversation (messages ``[{"role", "content"}]``; platform meta-messages are removed at ingest):

- text of a user turn: its content with agent markup (``<|think|>…<|/think|>``, ``<function=…</function>``,
  ``<|tool|>…<|/tool|>``) removed; words = whitespace-separated tokens; matching is on the lower-cased text;
- ``n_turns``: messages of any role; ``user_words_per_turn``: mean words per user turn; ``opening_words``: words
  of the first user turn;
- rates over user turns (share of turns that match): ``politeness_rate``, ``short_msg_rate`` (≤ 3 words),
  ``formality_rate`` (an em or en dash), ``ack_only_rate`` (the whole turn is an acknowledgement),
  ``uncertainty_rate``, ``certainty_rate``, ``emotion_rate``, ``accusation_rate``, ``pivot_rate``;
- ``pushback_q_rate``, ``clarify_q_rate``, ``info_q_rate``: each turn counts once, in that precedence;
- ``verbosity_cv``: population standard deviation of the words per user turn over their mean;
- ``repeat_rate``: 1 when some word trigram occurs more than 10 times over all user turns, else 0;
- ``id_confuse_rate``: 1 when any user turn talks like the agent ("how can I help", "your order", …), else 0;
- ``info_frontload``: share of all user words in the first two user turns;
- ``id_density``: mean count of ID-like tokens per user turn.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

__all__ = ["FEATURES", "DIMENSIONS", "conversation_features", "feature_matrix", "pooled_row", "dice",
           "feature_dice"]

FEATURES = ("n_turns", "user_words_per_turn", "politeness_rate", "short_msg_rate", "formality_rate",
            "ack_only_rate", "verbosity_cv", "repeat_rate", "id_confuse_rate", "info_frontload", "id_density",
            "opening_words", "uncertainty_rate", "certainty_rate", "pushback_q_rate", "clarify_q_rate",
            "info_q_rate", "emotion_rate", "accusation_rate", "pivot_rate")

DIMENSIONS = {
    "usi_d1_conv": ("politeness_rate", "short_msg_rate", "formality_rate", "ack_only_rate", "verbosity_cv",
                    "repeat_rate", "id_confuse_rate"),
    "usi_d2_info": ("info_frontload", "id_density", "user_words_per_turn", "opening_words"),
    "usi_d3_clarif": ("uncertainty_rate", "certainty_rate", "pushback_q_rate", "clarify_q_rate", "info_q_rate"),
    "usi_d4_react": ("emotion_rate", "accusation_rate", "pivot_rate"),
}


def _words(*alternatives: str) -> re.Pattern:
    """A word-bounded alternation of regular-expression fragments."""
    return re.compile(r"\b(" + "|".join(alternatives) + r")\b")


_MARKUP = re.compile(r"<\|think\|>.*?<\|/think\|>|<function=.*?(?:</function>|$)|<\|tool\|>.*?<\|/tool\|>",
                     re.DOTALL)
_POLITE = _words("please", "thank you", "thanks", "sorry", "excuse me", "appreciate", "grateful", "kind of you",
                 "wonderful", "courteous", "considerate", "i understand", "no worries", "my apologies", "pardon")
_EMOTION = _words("frustrated", "upset", "angry", "confused", "worried", "annoyed", "furious", "ridiculous",
                  "terrible", "horrible", "awful", "ugh", "stressed", "anxious", "nervous", "uncomfortable", "panic",
                  "disappointed", "disappointing", "irritated", "irritating", "aggravated", "outraged", "outrageous",
                  "exasperated", "bothered", "disgusted", "miserable", "devastated", "heartbroken", "desperate")
_DASH = re.compile("[\u2014\u2013]")
_ACK_WORDS = ("yes", "yeah", "yea", "yep", "yup", "ok", "okay", "okey", "sure", "right", "fine", "great", "perfect",
              "awesome", "cool", "agree", "agreed", "correct", "absolutely", "indeed", "alright", "got it",
              "go ahead", "sounds good", "that works", "proceed", "confirm", "do it", "no problem", "thank you",
              "thanks", "please", "mhm", "uh-huh", "aight")
_ACK_ONLY = re.compile(r"^(" + "|".join(_ACK_WORDS) + r")[\s!.\-,]*$")
_ID_LIKE = re.compile(r"(\b[a-z0-9]{6,}\b|#?\w*\d{5,}\w*|\w+_\w+_\d{3,}|gift_card_\w+|credit_card_\w+|paypal_\w+|"
                      r"\w+@\w+\.\w+)")
_UNCERTAIN = _words("i think", "not sure", "i don'?t remember", "i don'?t recall", "i believe", "probably", "maybe",
                    "i forgot", "don'?t know", "i guess", "i'?m not sure", "if i recall", "i don'?t have",
                    "can'?t recall", "can'?t find", "i'?m unsure", "i might", "perhaps", "apparently", "sort of",
                    "kind of", "somewhat", "partly", "possibly", "vaguely", "roughly", "hesitant", "doubtful",
                    "confused", "uncertain", "dunno")
_CERTAIN = _words("definitely", "absolutely", "certainly", "exactly", "precisely", "clearly", "always", "never",
                  "completely", "entirely", "fully", "obvious", "obviously", "undoubtedly", "without a doubt",
                  "for sure", "of course", "guaranteed", "no doubt")
_PUSHBACK = _words(
    "are you sure", "that'?s (not right|wrong|incorrect|not what)", "i already (told|said|gave|provided|mentioned)",
    "you already (asked|have)", "try again", "check again", "that can'?t be (right|correct)",
    "that'?s (crazy|nonsense|ridiculous|absurd)", "this is (not fair|nonsense)",
    "why (can'?t|won'?t|didn'?t|isn'?t|aren'?t|would)", "doesn'?t (seem|sound|look|make sense)",
    "not what i (asked|said|meant|wanted)", "do(n'?t| not) ask me .* again", "i would never")
_CLARIFY = _words(
    "what do you mean", "what does that mean", "what did you mean", "could you (clarify|elaborate|specify)",
    "can you (explain|clarify|elaborate)", "i don'?t understand", "i dont understand", "what'?s the difference",
    "whats the difference", "what exactly", "what specifically",
    "which (one|reservation|order|flight|option|plan|account|item|product) (is|was|do|should|did|would)",
    "i'?m not sure which", "im not sure which", "which is which", "you (said|mentioned|told me|wrote|indicated) "
    r".{0,30}\?", "that mean", "what does that (involve|include|entail|look like)", "(sorry|wait),? (what|which|how|"
    "i don'?t)", "can you (be more specific|give me more detail|break that down|walk me through)",
    "i'?m (confused|lost)", "im (confused|lost)", "(how|what) (exactly|specifically) (does|do|is|are|would|will|"
    "should)", "could you (repeat|say) that", "can you (repeat|say) that", "what (is|are) the (options|choices|"
    "alternatives|details)", "i need (more|some) (info|information|details|clarification)",
    "(so|wait),? (you'?re saying|does that mean|is that)", r"meaning\??", r"how so\??", r"in what (way|sense)\??")
_INFO_Q = _words(
    "what is (the|my)", "what'?s (the|my)", "how much", "how many", "when (will|does|is|can|did)",
    "where (is|are|was|can)", "how (do|can|would|should) i", "what are (the|my)",
    "can you (check|tell|find|look|see|show|help|list)", "do you (have|know|see)", "is (there|it|that) (a |any )?",
    "what options", "how long", "what.s the (status|price|cost|total|balance)")
_ACCUSE = _words("blame", "fault", "ridiculous", "wrong", "useless", "incompetent", "failure", "misleading",
                 "irresponsible", "unacceptable", "disgrace", "insult", "scam", "shame", "stupid", "trouble",
                 "disappointing", "ruined")
_PIVOT = _words(
    "(wait|actually) (can|let|could|would)", "i('?d| would) (like|prefer|rather)", "(can you|can we|could you) just",
    "instead", "rather than", "how about", "what about", "what if", "on second thought",
    "is there (a |any |another )?way to", "(let'?s|can we|lets) (try|do|go with|switch|change)",
    "maybe (we|i|you) (should|could|can)", "(change|switch|try) (it |that )?(to|something|a different)")
_AGENT_TALK = _words(
    "how can i (help|assist)", "how may i (help|assist)", "what can i (do|help|assist) (for|with)",
    "do you (want|require|wish|prefer)", "would you (like|prefer)",
    "let me (check|look|verify|find|pull up|search|assist|help)",
    "i('?ll| will) (check|look into|verify|process|handle|assist|help)",
    "i('?m| am) (happy|glad|here) to (help|assist)",
    "is there anything else i can", "thank you for (calling|contacting|reaching|choosing|your patience)",
    "for (security|verification) (purposes|reasons)", "(may|could) i (verify)", "allow me to", "permit me to",
    "your (order|account|reservation|booking|request|ticket|case|inquiry)", "i (see|understand) (that|your)",
    "according to (our|the) (records|system|policy)", "(our|the) (policy|system|records) (shows?|indicates?)",
    "i (can|could) (offer|suggest|recommend)", "(have you|did you) (tried?|considered?)",
    "i apologize for (the|any) (inconvenience|confusion|delay|trouble)")

SHORT_WORDS = 3            # a short message has at most this many words
REPEAT_ABOVE = 10          # a trigram repeated more than this many times marks a repetitive user


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def conversation_features(messages: list[dict]) -> dict[str, float] | None:
    """The 20 features of one conversation (see the module docstring); None without any user turn."""
    if not messages:
        return None
    user = [_MARKUP.sub("", str(m.get("content") or "")) for m in messages
            if isinstance(m, dict) and m.get("role") == "user"]
    if not user:
        return None
    low = [u.lower() for u in user]
    words = [len(u.split()) for u in user]
    total = sum(words)
    mean_words = total / len(words)
    cv = float(np.std(words)) / mean_words if mean_words > 0 else 0.0
    trigrams = Counter(tuple(w[i:i + 3]) for w in (t.split() for t in low) for i in range(len(w) - 2))
    kinds = []
    for t in low:                  # one kind per turn: push-back before clarification before information
        kinds.append("pushback" if _PUSHBACK.search(t) else "clarify" if _CLARIFY.search(t) else
                     "info" if _INFO_Q.search(t) else "")
    return {
        "n_turns": float(len(messages)),
        "user_words_per_turn": float(mean_words),
        "politeness_rate": _share([bool(_POLITE.search(t)) for t in low]),
        "short_msg_rate": _share([w <= SHORT_WORDS for w in words]),
        "formality_rate": _share([bool(_DASH.search(u)) for u in user]),
        "ack_only_rate": _share([bool(_ACK_ONLY.match(t.strip())) for t in low]),
        "verbosity_cv": float(cv),
        "repeat_rate": float(any(c > REPEAT_ABOVE for c in trigrams.values())),
        "id_confuse_rate": float(any(_AGENT_TALK.search(t) for t in low)),
        "info_frontload": sum(words[:2]) / total if total > 0 else 0.0,
        "id_density": float(np.mean([len(_ID_LIKE.findall(t)) for t in low])),
        "opening_words": float(words[0]),
        "uncertainty_rate": _share([bool(_UNCERTAIN.search(t)) for t in low]),
        "certainty_rate": _share([bool(_CERTAIN.search(t)) for t in low]),
        "pushback_q_rate": _share([k == "pushback" for k in kinds]),
        "clarify_q_rate": _share([k == "clarify" for k in kinds]),
        "info_q_rate": _share([k == "info" for k in kinds]),
        "emotion_rate": _share([bool(_EMOTION.search(t)) for t in low]),
        "accusation_rate": _share([bool(_ACCUSE.search(t)) for t in low]),
        "pivot_rate": _share([bool(_PIVOT.search(t)) for t in low]),
    }


def feature_matrix(conversations: list[list[dict]]) -> np.ndarray:
    """(n, 20) features in :data:`FEATURES` order; a NaN row where a conversation has no user turn."""
    out = np.full((len(conversations), len(FEATURES)), np.nan)
    for i, msgs in enumerate(conversations):
        f = conversation_features(msgs)
        if f is not None:
            out[i] = [f[k] for k in FEATURES]
    return out


def pooled_row(matrix: np.ndarray) -> np.ndarray:
    """Column means over the rows without NaN (the scorer multiplies rates by 100 first; Dice does not change)."""
    m = np.asarray(matrix, dtype=float)
    ok = ~np.isnan(m).any(axis=1)
    return m[ok].mean(axis=0) if ok.any() else np.full(m.shape[1], np.nan)


def feature_dice(human_row, model_row) -> np.ndarray:
    """Per-feature Dice–Sørensen similarity 2·min(h, m) / (h + m) of absolute values; 1 when both are 0."""
    h, m = np.abs(np.asarray(human_row, dtype=float)), np.abs(np.asarray(model_row, dtype=float))
    s = h + m
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 2.0 * np.minimum(h, m) / s, 1.0)


def dice(human_row, model_row) -> dict[str, float]:
    """D1–D4: the mean per-feature similarity of each dimension's features, × 100."""
    sim = feature_dice(human_row, model_row)
    return {d: float(np.mean([sim[FEATURES.index(f)] for f in fs]) * 100) for d, fs in DIMENSIONS.items()}
