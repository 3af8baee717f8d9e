"""A small synthetic store for the report tests (not a pytest conftest; imported by tests/test_report*.py and
tests/test_compare.py).

Three humans rate every conversation (so the human ceiling exists), two judges rate them too:
``judge-close`` (near the human consensus, with confidences, rationales and a costed judge run) and a lenient judge
whose *name* is an HTML payload. One conversation, one option label and the rationales carry script / onerror
payloads that would change ``document.title`` to ``pwned`` if they ever executed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from auditor import Store

PWN = "document.title='pwned'"
SCRIPT = "<script>alert(1);document.title='pwned'</script>"
IMG = f"<img src=x onerror=\"{PWN}\">"
EVIL_JUDGE = "judge <script>alert(1)</script>"
CLOSE_JUDGE = "judge-close"
MARKER = "XSS-PROBE-7f3a"

RUBRIC = {
    "name": "xss_demo", "version": "1", "description": "Synthetic rubric for report tests <b>not bold</b>",
    "dimensions": [
        {"name": "quality", "question": "How good was it? <i>honestly</i>", "level": "ordinal",
         "options": [{"label": "1 <b>awful</b>", "value": 1}, {"label": "2", "value": 2}, {"label": "3", "value": 3},
                     {"label": "4", "value": 4}, {"label": "5 & great", "value": 5}]},
        {"name": "helpful", "question": "Was it helpful?", "level": "binary",
         "options": [{"label": "no", "value": 0}, {"label": "yes", "value": 1}]},
        {"name": "effort", "question": "Effort", "level": "ordinal",
         "options": [{"label": "low", "value": 1}, {"label": "medium", "value": 2}, {"label": "high", "value": 3}]},
    ],
}


def write_rubric(folder: Path) -> Path:
    p = folder / "xss_demo.yaml"
    p.write_text(yaml.safe_dump(RUBRIC, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return p


def _label(dim: dict, v: int) -> str:
    return next(o["label"] for o in dim["options"] if o["value"] == v)


def build_store(path: Path, *, n: int = 40, seed: int = 7) -> Path:
    """Create the synthetic store file at ``path`` and return it."""
    rng = np.random.default_rng(seed)
    rubric = write_rubric(path.parent)
    convs = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"Question {i}: where is my order?"},
                {"role": "assistant", "content": f"Order {i} ships tomorrow."}]
        if i == 0:
            msgs = [{"role": "user", "content": f"{MARKER} {SCRIPT} and {IMG} & <b>bold?</b>"},
                    {"role": "assistant", "content": "</textarea></pre><svg onload=\"" + PWN + "\">"}]
        convs.append({"conversation_id": f"c{i:03d}" if i else "c000-<script>", "messages": json.dumps(msgs),
                      "user_kind": "human"})
    truth = {d["name"]: rng.integers(0, len(d["options"]), size=n) for d in RUBRIC["dimensions"]}
    rows = []
    for d in RUBRIC["dimensions"]:
        vals = [o["value"] for o in d["options"]]
        k = len(vals)
        t = truth[d["name"]]
        for i in range(n):
            cid = convs[i]["conversation_id"]
            for h in ("human-a", "human-b", "human-c"):
                j = int(np.clip(t[i] + rng.choice([-1, 0, 0, 0, 1]), 0, k - 1))
                rows.append({"conversation_id": cid, "dimension": d["name"], "rater_id": h, "rater_kind": "human",
                             "label": _label(d, vals[j])})
            j = int(np.clip(t[i] + rng.choice([0, 0, 0, 1, -1]), 0, k - 1))
            rows.append({"conversation_id": cid, "dimension": d["name"], "rater_id": CLOSE_JUDGE,
                         "rater_kind": "judge", "label": _label(d, vals[j]),
                         "confidence": float(np.round(rng.uniform(0.5, 0.95), 2))})
            j = int(np.clip(t[i] + rng.choice([1, 1, 2, 0]), 0, k - 1))
            rows.append({"conversation_id": cid, "dimension": d["name"], "rater_id": EVIL_JUDGE,
                         "rater_kind": "judge", "label": _label(d, vals[j])})
    with Store(path) as s:
        s.ingest_conversations(pd.DataFrame(convs), source_name="synthetic conversations")
        s.ingest_signals(pd.DataFrame(rows), rubric=str(rubric), source_name="synthetic ratings")
        with s.transaction() as con:
            con.execute("INSERT INTO judge_configs (config_hash, name, model, base_url, rubric, role, spec, prompt) "
                        "VALUES ('cafe1234', ?, 'fake-model <b>x</b>', 'http://127.0.0.1:9/v1', 'xss_demo', 'judge', "
                        "'{}', 'prompt')", [CLOSE_JUDGE])
            con.execute("UPDATE raters SET config_hash = 'cafe1234', model = 'fake-model <b>x</b>' WHERE rater_id = ?",
                        [CLOSE_JUDGE])
            con.execute("INSERT INTO runs (run_id, config_hash, rater_id, status, n_planned, n_done, tokens_in, "
                        "tokens_out, cost_usd, wall_s) VALUES ('run-1', 'cafe1234', ?, 'finished', ?, ?, 1000, 200, "
                        "0.5, 20.0)", [CLOSE_JUDGE, n, n])
            con.execute("UPDATE signal_rows SET run_id = 'run-1', rationale = ? || ' the answer fits ' || dimension, "
                        "raw = '{\"answer\": 1}' WHERE rater_id = ?", [IMG, CLOSE_JUDGE])
    return path
