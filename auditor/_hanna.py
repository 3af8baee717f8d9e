"""The HANNA part of the demo (MIT, dig-team): 1,056 generated stories of 11 systems, three crowd ratings of six
criteria each, five LLM judges (Eval-Prompt 1), and the user study of LLM rating explanations (three raters, six
binary issue flags: the authors' Gwet AC1 values).

- Conversations ``hanna-story-<id>`` (``system_id`` = the generating system, ``task_id`` = ``hanna-prompt-<i>``,
  the WritingPrompts prompt every system wrote for; no messages: the story texts are not bundled) and
  ``hanna-explanation-<j>`` (the LLM explanation as the only message).
- Humans ``hanna-slot-1/2/3``: the released *annotation slots*, not persistent workers (MTurk workers differ across
  stories), so read them as interchangeable raters (alpha, ICC(1)); per-pair statistics between slots mix workers.
- Judges ``<model>:p1``: each released value is the mean of 3 sampled answers; values below 1 are the authors'
  code for failed answers averaged in (253 of Mistral-7B's 6,336): stored as ``failed`` with the released value.
"""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

from .store import LoadResult, Store

__all__ = ["HANNA_JUDGES", "build_hanna", "hanna_data_dir"]

CRITERIA = {"RE": "relevance", "CH": "coherence", "EM": "empathy", "SU": "surprise", "EG": "engagement",
            "CX": "complexity"}
HANNA_JUDGES = ["Beluga-13B", "OrcaPlatypus", "Mistral-7B", "Llama-13B", "ChatGPT"]
ISSUES = ["guidelines", "syntax", "superfluous", "incorrectness", "unsubstantiated", "incoherence"]
FAILED = ("the released value {v} is below the scale: the authors averaged failed answers coded <= 0 into the mean "
          "of 3 samples")


def hanna_data_dir():
    return resources.files("auditor") / "data" / "hanna"


def _stories() -> pd.DataFrame:
    return pd.read_csv(str(hanna_data_dir() / "stories.csv"), dtype={"system": str})


def _conversations(stories: pd.DataFrame, study: pd.DataFrame) -> pd.DataFrame:
    conv = pd.DataFrame({"conversation_id": "hanna-story-" + stories["story_id"].astype(str),
                         "task_id": "hanna-prompt-" + stories["prompt"].astype(str),
                         "system_id": stories["system"], "dataset": "hanna"})
    items = study.iloc[::3]
    expl = pd.DataFrame({"conversation_id": [f"hanna-explanation-{j}" for j in range(len(items))],
                         "messages": [json.dumps([{"role": "assistant", "content": str(t)}], ensure_ascii=False)
                                      for t in items["Input.explanation"]],
                         "story": items["Input.story_id"].astype(str).to_numpy(), "dataset": "hanna"})
    return pd.concat([conv, expl], ignore_index=True)


def _humans(stories: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for code, dim in CRITERIA.items():
        for k in (1, 2, 3):
            parts.append(pd.DataFrame({"conversation_id": "hanna-story-" + stories["story_id"].astype(str),
                                       "rater_id": f"hanna-slot-{k}", "dimension": dim,
                                       "value": stories[f"human{k}_{code}"]}))
    return pd.concat(parts, ignore_index=True)


def _judge(stories: pd.DataFrame, model: str) -> pd.DataFrame:
    parts = []
    for code, dim in CRITERIA.items():
        v = stories[f"{model}_{code}"].astype(float)
        bad = v < 1
        parts.append(pd.DataFrame({
            "conversation_id": "hanna-story-" + stories["story_id"].astype(str), "dimension": dim,
            "value": v.where(~bad), "status": bad.map({True: "failed", False: "ok"}),
            "error": [FAILED.format(v=x) if b else None for x, b in zip(v, bad)],
            "raw": [repr(x) if b else None for x, b in zip(v, bad)]}))
    return pd.concat(parts, ignore_index=True)


def _study(study: pd.DataFrame) -> pd.DataFrame:
    """user_study.csv: rows grouped in consecutive triples (rater r of item j is row 3j + r)."""
    out = pd.DataFrame({"conversation_id": [f"hanna-explanation-{i // 3}" for i in range(len(study))],
                        "rater_id": [f"hanna-study-rater-{i % 3 + 1}" for i in range(len(study))]})
    for n, flag in enumerate(ISSUES, start=1):
        out[flag] = study[f"Answer.a-{n}-{flag}.1"].astype(int)
    return out


def build_hanna(store: Store) -> list[LoadResult]:
    """Load the bundled HANNA data into ``store``. Re-running it changes nothing."""
    d = hanna_data_dir()
    stories = _stories()
    study = pd.read_csv(str(d / "user_study.csv"))
    src = str(d / "stories.csv")
    results = [store.ingest_conversations(_conversations(stories, study), source_name=src)]
    results.append(store.ingest_signals(_humans(stories), rubric="hanna", rater_kind="human", source_name=src))
    for model in HANNA_JUDGES:
        results.append(store.ingest_signals(_judge(stories, model), rubric="hanna", rater_kind="judge",
                                            rater_id=f"{model}:p1", model=model, between_options=True,
                                            source_name=f"{src} ({model}, Eval-Prompt 1)"))
    results.append(store.ingest_signals(_study(study), rubric="hanna_issues", wide=True, rater_kind="human",
                                        source_name=str(d / "user_study.csv")))
    return results
