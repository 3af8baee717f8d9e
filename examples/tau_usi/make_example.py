"""Regenerate the SYNTHETIC tau-USI example pair in this folder (deterministic; no real study data is used).

    python examples/tau_usi/make_example.py

Writes human_annotations_synthetic.json (3 human batches x 6 tasks, the study's annotation format) and
sim-synthetic.json (one made-up simulator, 10 runs per task, the released rollout's {"results": [...]} format).
Every conversation, answer and reward is invented: the simulator is built to be an "easy mode" user (it succeeds
more often than the humans and answers the survey more favourably), so the audit shows a visible gap.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
# task -> (human success probability, simulator success probability); ids exist in the study's difficulty map
TASKS = {"airline_3": (0.5, 0.8), "airline_18": (0.9, 1.0), "airline_21": (0.5, 0.7),
         "retail_5": (0.7, 0.9), "retail_34": (0.1, 0.4), "retail_59": (0.2, 0.5)}
OPTIONS = {
    "task_success": ["No - Task failed", "No - Due to a policy issue, which the agent clearly explained",
                     "Partially - Some progress", "Yes - Task completed", "Fully - Exceeded expectations"],
    "efficiency": ["Very inefficient - Too many steps", "Somewhat inefficient", "About right", "Very efficient"],
    "question_amount_preference": ["Too many", "About right", "Too few"],
    "answer_effort_time": ["High", "Medium", "Low"],
    "human_like": ["No", "Partially", "Yes"],
    "interaction_flow": ["Not smooth", "OK", "Smooth", "Excellent"],
    "overall_score": ["1 (Very poor)", "2 (Poor)", "3 (Acceptable)", "4 (Good)", "5 (Excellent)"],
    "reuse": ["Absolutely no", "No", "Maybe", "Yes", "Absolutely yes"],
}
QUESTIONS = {
    "task_success": "Was your task completed?", "efficiency": "How efficient was the agent?",
    "question_amount_preference": "How did you find the number of questions the agent asked?",
    "answer_effort_time": "How much effort or time did answering the agent take?",
    "human_like": "Did the agent feel human-like?", "interaction_flow": "How smooth was the interaction?",
    "overall_score": "Overall, how would you rate the agent?", "reuse": "Would you use this agent again?",
}
REQUESTS = {"airline": ["change my flight to next Friday", "cancel my reservation", "add a checked bag"],
            "retail": ["return a pair of headphones", "exchange a lamp for another colour", "check my order status"]}


def _survey(rng: random.Random, success: bool, lenient: bool, skip: tuple[str, ...] = ()) -> dict:
    out = {}
    for dim, opts in OPTIONS.items():
        if dim in skip:
            continue
        if dim == "task_success":
            i = rng.choice([3, 4] if lenient else [3]) if success else rng.choice([0, 1, 2])
        elif dim == "question_amount_preference":
            i = 1 if lenient or rng.random() < 0.5 else rng.choice([0, 2])
        else:
            top = len(opts) - 1
            base = top if lenient else (top - 1 if success else max(top - 2, 0))
            i = min(top, max(0, base + rng.choice([-1, 0, 0] if not lenient else [0, 0, -1])))
        out[dim] = {"question": QUESTIONS[dim], "answer": opts[i]}
    return out


def _dialogue(rng: random.Random, domain: str, success: bool, human: bool) -> list[dict]:
    req = rng.choice(REQUESTS[domain])
    msgs = [{"role": "user", "content": f"\\tau start {domain} task"}] if human else []
    msgs += [{"role": "assistant", "content": "Hello! How can I help you today?"},
             {"role": "user", "content": f"Hi, I'd like to {req}." if human else f"Hello. I would like to {req}."},
             {"role": "assistant", "content": "Sure. Could you give me your user id, please?"},
             {"role": "user", "content": "it's mia_li_3668" if human else "My user id is mia_li_3668."},
             {"role": "assistant", "content": "Done, that is all set." if success else
              "I'm sorry, I cannot do that under our policy."}]
    if human:
        msgs += [{"role": "user", "content": "/stop"},
                 {"role": "assistant", "content": "<|survey|> Please answer a few questions."}]
    else:
        msgs += [{"role": "user", "content": "Thank you! ###STOP###" if success else "Okay, thanks anyway."},
                 {"role": "user", "content": "###STOP###"}]
    return msgs


def main() -> None:
    rng = random.Random(20261125)
    human = {}
    for batch in (1, 2, 3):
        for task, (p_h, _) in TASKS.items():
            domain = task.split("_")[0]
            ok = rng.random() < p_h
            skip = ("human_like",) if (task, batch) == ("airline_21", 2) else \
                ("reuse",) if (task, batch) == ("retail_5", 3) else ()
            key = task if batch == 1 else f"{task}_ann{batch}"
            human[key] = {"conversation": _dialogue(rng, domain, ok, True), "reward": int(ok),
                          "keep": (task, batch) != ("retail_59", 3),
                          "survey": _survey(rng, ok, lenient=False, skip=skip)}
    runs = []
    for task, (_, p_s) in TASKS.items():
        domain, index = task.split("_")
        for run in range(1, 11):
            ok = rng.random() < p_s
            survey = _survey(rng, ok, lenient=True)
            if (task, run) in {("airline_3", 2), ("retail_34", 7)}:
                survey["answer_effort_time"]["answer"] = None      # the simulator gave no answer
            runs.append({"instance_id": f"{task}_{run}", "domain": domain, "task_index": int(index),
                         "agent_id": "agent-synthetic", "conversation": _dialogue(rng, domain, ok, False),
                         "survey": survey, "reward": float(ok), "termination_reason": "user_stop"})
    def dump(v) -> str:
        return json.dumps(v, ensure_ascii=False)

    # one entry / run per line: small files that still diff well
    (HERE / "human_annotations_synthetic.json").write_text(
        "{\n" + ",\n".join(f"{dump(k)}: {dump(v)}" for k, v in human.items()) + "\n}\n")
    comment = ("SYNTHETIC example made by examples/tau_usi/make_example.py: invented simulator runs, not data from "
               "the tau-bench human study.")
    (HERE / "sim-synthetic.json").write_text(
        "{" + f'"_comment": {dump(comment)},\n"results": [\n' + ",\n".join(dump(r) for r in runs) + "\n]}\n")


if __name__ == "__main__":
    main()
