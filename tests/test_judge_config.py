"""Judge configs, hashes, response models, prompt rendering, --where checking, backoff: no server needed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from auditor import Store, load_rubric
from auditor.errors import AuditorError, ConfigError
from auditor.judge import (PromptRenderer, answers_to_rows, backoff_delay, cost_usd, load_judge,
                           response_model_for, retry_after_seconds)
from auditor.judge._records import check_where, safe_url
from conftest_judge import KEY_ENV, SECRET, TEMPLATE, write_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "judges"
URL = "http://127.0.0.1:9/v1"


def _edit(path: Path, **changes) -> Path:
    cfg = yaml.safe_load(path.read_text())
    cfg.update(changes)
    for k in [k for k, v in changes.items() if v is None]:
        cfg.pop(k)
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- examples -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, role, rubric", [("llm_rubric_judge", "judge", "llm_rubric"),
                                                ("tau_usi_simulator", "simulator", "tau_usi")])
def test_example_configs_load_and_render(name, role, rubric):
    judge = load_judge(EXAMPLES / f"{name}.yaml")
    assert (judge.role, judge.rubric.name, judge.rater_kind) == (role, rubric, role)
    assert judge.rater_id == f"{judge.name}@{judge.config_hash[:8]}"
    from auditor.judge._prompt import SAMPLE_CONVERSATION

    msgs = PromptRenderer(judge.prompt_text, judge.rubric, judge.role, judge.prompt_path).render(SAMPLE_CONVERSATION)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "change my flight to Friday" in user
    for d in judge.rubric.dimensions:            # every question and option reaches the model
        assert d.question in user
        assert all(o.label in user for o in d.options)
    if role == "simulator":
        assert "You: Hi, I want to change my flight" in user and "customer" in msgs[0]["content"]


# -- validation errors name the file and the field ----------------------------------------------------------
@pytest.mark.parametrize("changes, field, words", [
    ({"temperature": 3}, "temperature", "less than or equal to 2"),
    ({"mode": "xml"}, "mode", "'tools', 'json' or 'json_schema'"),
    ({"role": "critic"}, "role", "'judge' or 'simulator'"),
    ({"samples": 0}, "samples", "greater than or equal to 1"),
    ({"concurrency": "many"}, "concurrency", "valid integer"),
    ({"model": None}, "model", "required"),
    ({"base_url": "127.0.0.1:8000"}, "base_url", "http://"),
    ({"api_key_env": "sk-live-abcdef0123456789"}, "api_key_env", "NAME of an environment variable"),
    ({"price_out_per_1m": None}, "(top level)", "both price_in_per_1m and price_out_per_1m"),
    ({"temprature": 0.2}, "temprature", "unknown field"),
])
def test_invalid_fields_are_named(tmp_path, changes, field, words):
    path = _edit(write_config(tmp_path, URL), **changes)
    with pytest.raises(ConfigError) as e:
        load_judge(path)
    msg = str(e.value)
    assert str(path) in msg and f"field '{field}'" in msg and words in msg, msg
    assert "sk-live-abcdef0123456789" not in msg          # a pasted key is never echoed


def test_api_key_in_config_is_refused_without_echo(tmp_path):
    path = _edit(write_config(tmp_path, URL), api_key=SECRET)
    with pytest.raises(ConfigError) as e:
        load_judge(path)
    assert "field 'api_key'" in str(e.value) and "api_key_env" in str(e.value) and SECRET not in str(e.value)


def test_missing_prompt_rubric_and_template_errors(tmp_path):
    path = write_config(tmp_path, URL)
    with pytest.raises(ConfigError, match="field 'prompt'.*not found"):
        load_judge(_edit(path, prompt="nope.j2"))
    with pytest.raises(ConfigError, match="field 'rubric'.*unknown rubric 'nope'"):
        load_judge(_edit(write_config(tmp_path, URL), rubric="nope"))
    path = write_config(tmp_path, URL, template="Hello {% for d in dimensions %}{{ d.name }")
    with pytest.raises(ConfigError, match=r"test-judge\.j2, line 1: prompt template error"):
        load_judge(path)
    with pytest.raises(ConfigError, match="not found"):
        load_judge(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_judge(tmp_path / "list.yaml")


def test_rubric_path_relative_to_config(tmp_path):
    rub = yaml.safe_load((Path(__file__).resolve().parents[1] / "rubrics" / "likert5.yaml").read_text())
    rub["name"] = "my_rubric"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.yaml").write_text(yaml.safe_dump(rub))
    judge = load_judge(write_config(tmp_path, URL, rubric="sub/mine.yaml"))
    assert judge.rubric.name == "my_rubric"


def test_base_url_from_env_and_api_key_only_at_run_time(tmp_path):
    path = write_config(tmp_path, None, base_url_env="MY_JUDGE_URL")
    with pytest.raises(ConfigError, match=r"\$MY_JUDGE_URL, which is not set"):
        load_judge(path, env={})
    judge = load_judge(path, env={"MY_JUDGE_URL": "http://127.0.0.1:8000/v1/"})
    assert judge.base_url == "http://127.0.0.1:8000/v1"
    with pytest.raises(ConfigError, match=rf"\${KEY_ENV}, which is not set"):
        judge.api_key({})
    assert judge.api_key({KEY_ENV: SECRET}) == SECRET
    assert load_judge(write_config(tmp_path, URL, api_key_env=None)).api_key({}) == "no-key"
    assert load_judge(write_config(tmp_path, None)).base_url == "https://api.openai.com/v1"


# -- the hash -------------------------------------------------------------------------------------------------
def test_hash_covers_what_changes_output_and_nothing_else(tmp_path):
    base = load_judge(write_config(tmp_path / "a", URL)).config_hash
    changed = {
        "model": {"model": "other-model"}, "temperature": {"temperature": 0.7}, "mode": {"mode": "json"},
        "max_tokens": {"max_tokens": 512}, "rubric": {"rubric": "likert5"}, "role": {"role": "simulator"},
        "base_url": {"base_url": "http://127.0.0.1:10/v1"}, "name": {"name": "other"},
    }
    for what, ch in changed.items():
        h = load_judge(write_config(tmp_path / what, URL, **{**ch, "filename": "c.yaml"})).config_hash
        assert h != base, what
    prompt = load_judge(write_config(tmp_path / "p", URL, template=TEMPLATE + "Be strict.\n")).config_hash
    assert prompt != base
    same = {"concurrency": 64, "timeout_s": 99, "max_retries": 7, "price_in_per_1m": 5.0, "price_out_per_1m": 9.0,
            "api_key_env": "ANOTHER_VAR", "samples": 5}
    for k, v in same.items():
        assert load_judge(write_config(tmp_path / f"s-{k}", URL, **{k: v})).config_hash == base, k
    # the key's value never enters the hash: the hash does not depend on the environment at all
    j = load_judge(write_config(tmp_path / "a", URL), env={KEY_ENV: "x"})
    assert j.config_hash == base and SECRET not in str(j.hashed_payload)
    # trailing slash is the same endpoint
    assert load_judge(write_config(tmp_path / "slash", URL + "/")).config_hash == base


def test_safe_url_drops_credentials():
    assert safe_url("https://user:pw@host.example:8443/v1?api-key=abc") == "https://host.example:8443/v1"


# -- response models ------------------------------------------------------------------------------------------
def test_response_model_constrains_every_dimension_to_its_options():
    rub = load_rubric("tau_usi")
    model = response_model_for(rub, "simulator")
    assert model.__name__ == "SurveyAnswers"
    schema = model.model_json_schema()
    props = schema["properties"]
    assert list(props)[0] == "rationale" and list(props)[-1] == "confidence"
    for d in rub.dimensions:
        enum = props[d.name].get("enum")
        assert enum == [o.label for o in d.options]
        assert d.name in schema["required"]
    good = {d.name: d.options[0].label for d in rub.dimensions}
    ans = model.model_validate({**good, "confidence": 0.5})
    rows = answers_to_rows(rub, ans)
    assert [r["value"] for r in rows] == [d.options[0].value for d in rub.dimensions]
    assert all(r["status"] == "ok" and r["confidence"] == 0.5 for r in rows)
    with pytest.raises(ValidationError):
        model.model_validate({**good, "task_success": "Kind of"})
    with pytest.raises(ValidationError):
        model.model_validate({**good, "confidence": 1.5})
    with pytest.raises(ValidationError):
        model.model_validate({k: v for k, v in good.items() if k != "reuse"})


def test_numbers_are_their_labels_and_missing_code_is_not_answered():
    rub = load_rubric("llm_rubric")
    model = response_model_for(rub, "judge")
    assert model.model_json_schema()["properties"]["Q0"]["enum"] == ["1", "2", "3", "4", "0"]
    ans = model.model_validate({"Q0": 4, "Q1": 2.0, "Q2": " 3 ", **{f"Q{i}": "0" for i in range(3, 9)}})
    rows = {r["dimension"]: r for r in answers_to_rows(rub, ans)}
    assert (rows["Q0"]["label"], rows["Q0"]["value"]) == ("4", 4.0)
    assert rows["Q1"]["value"] == 2.0 and rows["Q2"]["value"] == 3.0
    assert rows["Q5"]["status"] == "not_answered" and rows["Q5"]["value"] is None
    with pytest.raises(ValidationError):
        model.model_validate({f"Q{i}": 2.5 for i in range(9)})      # 2.5 is no option: not rounded, not guessed


def test_dimension_names_that_are_not_identifiers(tmp_path):
    rub = yaml.safe_load((Path(__file__).resolve().parents[1] / "rubrics" / "binary_success.yaml").read_text())
    rub["name"] = "odd_names"
    rub["dimensions"][0]["name"] = "task-success.v2"
    p = tmp_path / "odd.yaml"
    p.write_text(yaml.safe_dump(rub))
    r = load_rubric(p)
    model = response_model_for(r)
    assert "task-success.v2" in model.model_json_schema()["properties"]
    label = r.dimensions[0].options[0].label
    rows = answers_to_rows(r, model.model_validate({"task-success.v2": label}))
    assert rows[0]["dimension"] == "task-success.v2" and rows[0]["label"] == label


# -- prompt rendering -----------------------------------------------------------------------------------------
def test_prompt_system_block_transcript_and_strict_undefined():
    rub = load_rubric("likert5")
    conv = {"id": "x1", "messages": '[{"role": "system", "content": "hidden"}, {"role": "user", "content": "hi"}, '
                                    '{"role": "assistant", "content": "hello"}, {"role": "tool", "content": "t"}]'}
    msgs = PromptRenderer(TEMPLATE, rub, "judge").render(conv, 3)
    assert msgs[0] == {"role": "system", "content": "You rate conversations."}
    assert "Conversation x1 (sample 3)" in msgs[1]["content"]
    assert "User: hi\n\nAgent: hello" in msgs[1]["content"] and "hidden" not in msgs[1]["content"]
    sim = PromptRenderer("{{ transcript }}", rub, "simulator").render(conv)
    assert sim == [{"role": "user", "content": "You: hi\n\nAgent: hello"}]
    with pytest.raises(ConfigError, match="prompt template failed for conversation 'x1'.*no_such_thing"):
        PromptRenderer("{{ no_such_thing }}", rub, "judge").render(conv)
    with pytest.raises(ConfigError, match="empty message"):
        PromptRenderer("{% if false %}x{% endif %}", rub, "judge").render(conv)


def test_sandbox_blocks_python_internals():
    rub = load_rubric("likert5")
    with pytest.raises(Exception):
        PromptRenderer("{{ rubric.__class__.__mro__[1].__subclasses__() }}", rub, "judge").render(
            {"id": "x", "messages": []})


# -- --where --------------------------------------------------------------------------------------------------
def test_where_must_be_one_read_only_condition(tmp_path):
    assert check_where(None) == "TRUE"
    assert check_where("task_id = 't1' AND n_turns > 2") == "(task_id = 't1' AND n_turns > 2)"
    for bad in ["1=1; DROP TABLE signals", "1=1); DELETE FROM signals WHERE (1=1", "task_id = "]:
        with pytest.raises(AuditorError, match="--where"):
            check_where(bad)


# -- backoff, Retry-After, cost -------------------------------------------------------------------------------
def test_backoff_is_exponential_with_jitter_and_honours_retry_after():
    rng = random.Random(0)
    for attempt in range(1, 8):
        cap = min(30.0, 0.5 * 2 ** (attempt - 1))
        draws = [backoff_delay(attempt, base=0.5, rng=rng) for _ in range(200)]
        assert 0 <= min(draws) and max(draws) <= cap and max(draws) > 0.6 * cap
    assert all(2.0 <= backoff_delay(1, base=0.5, retry_after=2.0, rng=rng) <= 2.2 for _ in range(100))


def test_retry_after_parsing():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "0.25"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None and retry_after_seconds(None) is None
    assert retry_after_seconds({"retry-after": "garbage"}) is None
    http_date = retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert http_date == 0.0                       # a date in the past: no wait


def test_cost():
    assert cost_usd(1_000_000, 1_000_000, 0.5, 1.5) == 2.0
    assert cost_usd(10, 10, None, None) is None


def test_save_judge_is_idempotent_and_guards_the_rater(tmp_path):
    from auditor.judge._records import save_judge

    judge = load_judge(write_config(tmp_path, URL))
    with Store(":memory:") as s:
        save_judge(s, judge)
        save_judge(s, judge)
        assert s.sql("SELECT count(*) AS n FROM judge_configs")["n"][0] == 1
        r = s.sql("SELECT * FROM raters")
        assert r["rater_id"].tolist() == [judge.rater_id] and r["kind"][0] == "judge"
        assert r["config_hash"][0] == judge.config_hash
        spec = s.sql("SELECT spec::VARCHAR AS s FROM judge_configs")["s"][0]
        assert KEY_ENV in spec and SECRET not in spec
