"""The embedded default: a store built from real data bundled in the package (LLM-Rubric and HANNA, both MIT).

LLM-Rubric: 223 real information-seeking conversations, one human judgment each on the LLM-Rubric questions Q0..Q8
(0 = not answered), and GPT-3.5-turbo-16k's probability for each answer, stored as two judge raters:
``gpt-3.5-turbo-16k:expected`` (the expected value sum_k k p_k of the renormalised probabilities) and
``gpt-3.5-turbo-16k:argmax`` (the most probable option); ``system_id`` is the dialogue system (0, 1, 2).
HANNA (:mod:`auditor._hanna`): 1,056 stories of 11 systems with three human ratings each, five LLM judges.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from .store import LoadResult, Store

__all__ = ["DEMO_JUDGES", "DATASETS", "build_demo_store", "demo_data_dir"]

DATASETS = ("llm-rubric", "hanna", "all")

DEMO_MODEL = "gpt-3.5-turbo-16k"
DEMO_JUDGES = {f"{DEMO_MODEL}:expected": "expected", f"{DEMO_MODEL}:argmax": "argmax"}


def demo_data_dir():
    return resources.files("auditor") / "data" / "llm_rubric"


def build_demo_store(store: Store, dataset: str = "all") -> list[LoadResult]:
    """Load the bundled data (``llm-rubric``, ``hanna`` or ``all``) into ``store``. Re-running it changes nothing."""
    from .errors import AuditorError

    if dataset not in DATASETS:
        raise AuditorError(f"unknown demo dataset {dataset!r}. Fix: use one of {', '.join(DATASETS)}.")
    results = _llm_rubric(store) if dataset in ("llm-rubric", "all") else []
    if dataset in ("hanna", "all"):
        from ._hanna import build_hanna

        results += build_hanna(store)
    return results


def _llm_rubric(store: Store) -> list[LoadResult]:
    d = demo_data_dir()
    results = [store.ingest_conversations(str(d / "conversations.jsonl"), user_kind="human",
                                          mapping={"dialogue_version": "system_id"})]
    humans = pd.read_csv(str(d / "human_judges_real_convs_FIXED_ANON.tsv"), sep="\t", dtype=str)
    humans["annotator_id"] = "annotator-" + humans["annotator_id"]
    results.append(store.ingest_signals(
        humans, rubric="llm_rubric", wide=True, rater_kind="human",
        mapping={"text_id": "conversation_id", "annotator_id": "rater_id"},
        source_name=str(d / "human_judges_real_convs_FIXED_ANON.tsv")))
    probs = {f"answer{k}_prob": f"prob_{k}" for k in range(1, 5)}
    for rater, score in DEMO_JUDGES.items():
        results.append(store.ingest_signals(
            str(d / "gpt-3.5-turbo-16k_real_evaluations_FIXED.tsv"), rubric="llm_rubric", rater_kind="judge",
            rater_id=rater, model=DEMO_MODEL, score=score, renormalize=True,
            mapping={"text_id": "conversation_id", "criterion": "dimension", "sample_llm": "llm_sample", **probs}))
    return results
