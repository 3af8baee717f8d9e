"""The runner posts the prepared body itself: the endpoint must receive exactly what the SDK's typed method sends."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from auditor import Store
from auditor.judge import load_judge, run_judge
from auditor.judge._call import ItemCaller
from auditor.judge._prompt import PromptRenderer
from auditor.judge._records import plan_items
from conftest_judge import ENV, SECRET, fake, make_store, write_config  # noqa: F401


def _seen(fake) -> list[tuple]:
    return sorted((r.path, r.key, json.dumps(r.body, sort_keys=True), r.auth) for r in fake.chat_requests())


@pytest.mark.parametrize("mode", ["tools", "json", "json_schema"])
def test_the_runner_sends_the_body_and_headers_chat_completions_create_sends(tmp_path, fake, mode):
    db = make_store(tmp_path / "s.duckdb", n=4)
    cfg = write_config(tmp_path, fake.url, mode=mode, samples=2)
    judge = load_judge(cfg)
    with Store(db) as s:
        items = list(plan_items(s, judge, samples=2).items)
        res = run_judge(s, judge, env=ENV, backoff_base_s=0.01)
    assert (res.status, res.n_done) == ("finished", 8)
    ours = _seen(fake)
    fake.reset_log()
    renderer = PromptRenderer(judge.prompt_text, judge.rubric, judge.role)
    caller = ItemCaller(judge, client=None)

    async def through_the_sdk():
        client = openai.AsyncOpenAI(base_url=fake.url, api_key=SECRET, max_retries=0)
        for it in items:
            _, kw = caller.request_kwargs(renderer.render(it.conversation, it.sample))
            await client.chat.completions.create(**kw, extra_headers={"X-Auditor-Item": f"{it.conversation_id}#"
                                                                                         f"{it.sample}"})
        await client.close()

    asyncio.run(through_the_sdk())
    theirs = _seen(fake)
    assert len(ours) == 8 and all(r[3] == f"Bearer {SECRET}" for r in ours)
    assert ours == theirs
