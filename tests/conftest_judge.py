"""Fixtures and helpers shared by the judge tests (imported by tests/test_judge_*.py; not a pytest conftest).

- ``fake``: a running :class:`FakeOpenAI` server (tests/fake_openai.py) on 127.0.0.1.
- :func:`make_store`: a store file with N synthetic conversations.
- :func:`write_config`: a judge config + prompt template in a folder, pointed at a server.
- :func:`expected_label`: the option the fake server answers for an item and dimension.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

try:
    from fake_openai import FakeOpenAI, pick
except ImportError:  # pragma: no cover - when tests/ is imported as a package
    from tests.fake_openai import FakeOpenAI, pick

from auditor import Store, load_rubric

# A distinctive fake key: tests assert it never reaches the store, logs or output.
SECRET = "sk-test-Zq8VfK3uLm2RwX9pT4aYbN7cD1eH5gJ0"
KEY_ENV = "AUDITOR_TEST_KEY"
ENV = {KEY_ENV: SECRET}
TEMPLATE = """{% set system %}You rate conversations.{% endset %}
Conversation {{ conversation.id }} (sample {{ sample }}):
{{ transcript }}

{% for d in dimensions %}
{{ d.name }}: {{ d.question }} Options: {{ d.options | map(attribute="label") | join(", ") }}

{% endfor %}
"""


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def conversations(n: int, *, prefix: str = "c", tasks: int = 5) -> pd.DataFrame:
    rows = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"Hello, I need help with order {i}."},
                {"role": "assistant", "content": f"Sure, order {i} is on its way."},
                {"role": "user", "content": "Thanks!"}]
        rows.append({"conversation_id": f"{prefix}{i:04d}", "task_id": f"t{i % tasks}", "messages": json.dumps(msgs),
                     "user_kind": "human" if i % 2 == 0 else "sim-a"})
    return pd.DataFrame(rows)


def make_store(path: Path, n: int = 12, **kw) -> Path:
    with Store(path) as s:
        s.ingest_conversations(conversations(n, **kw), source_name="synthetic")
    return path


def write_config(folder: Path, url: str, *, name: str = "test-judge", rubric: str = "llm_rubric",
                 template: str = TEMPLATE, filename: str | None = None, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.j2").write_text(template, encoding="utf-8")
    cfg = {"name": name, "model": "fake-model", "base_url": url, "api_key_env": KEY_ENV, "rubric": rubric,
           "prompt": f"{name}.j2", "role": "judge", "mode": "tools", "temperature": 0.0, "samples": 1,
           "max_tokens": 256, "timeout_s": 5, "concurrency": 4, "max_retries": 2, "price_in_per_1m": 1.0,
           "price_out_per_1m": 2.0}
    cfg.update(fields)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    path = folder / (filename or f"{name}.yaml")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def expected_label(rubric_name: str, conversation_id: str, sample: int, dimension: str) -> str:
    """The label the fake server picks (its enum is the option labels, then the missing code)."""
    d = load_rubric(rubric_name).dimension(dimension)
    enum = [o.label for o in d.options] + ([d.missing_code] if d.missing_code is not None else [])
    return pick(f"{conversation_id}#{sample}", dimension, enum)


def signals(path_or_store, rater_id: str | None = None) -> pd.DataFrame:
    q = "SELECT * FROM signals" + (" WHERE rater_id = ?" if rater_id else "") + " ORDER BY 1, 3, 5"
    if isinstance(path_or_store, Store):
        return path_or_store.sql(q, [rater_id] if rater_id else None)
    with Store(path_or_store, read_only=True) as s:
        return s.sql(q, [rater_id] if rater_id else None)
