"""Judge configs as data: a YAML file validated by pydantic, its prompt template, its rubric and its hash.

The config hash identifies everything that changes what the model is asked and how: the name, model, resolved
base URL, role, structured-output mode, temperature, max_tokens, the prompt template's text, the rubric's content
hash and the JSON schema of the response model built from it. It leaves out what only changes how the work is
done (samples, concurrency, timeout, retries, the reply size cap, prices, batch mode, where the key lives) and never
sees the API key: a batch run and a synchronous run of one config are one rater and share its stored answers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._yaml import load_yaml
from ..errors import ConfigError, RubricError
from ..rubric import Rubric, load_rubric

__all__ = ["JudgeConfig", "Judge", "load_judge", "DEFAULT_BASE_URL", "HASH_FORMAT"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
HASH_FORMAT = 1          # bump when the meaning of the hashed payload changes
_ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"


class JudgeConfig(BaseModel):
    """The fields of a judge config YAML file (see ``examples/judges/``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$",
                      description="Names the rater (its id is name@hash8).")
    model: str = Field(min_length=1, description="The model name the endpoint serves.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; default the OpenAI API.")
    base_url_env: str | None = Field(None, pattern=_ENV_NAME,
                                     description="Or: an environment variable holding the base URL.")
    api_key_env: str | None = Field(None, pattern=_ENV_NAME,
                                    description="The environment variable holding the API key (read at run time "
                                                "only). Omit for local servers that need no key.")
    rubric: str = Field(min_length=1, description="Built-in rubric name, or a rubric YAML path relative to this file.")
    prompt: str = Field(min_length=1, description="Jinja2 prompt template path, relative to this file.")
    role: Literal["judge", "simulator"] = "judge"
    mode: Literal["tools", "json", "json_schema"] = "tools"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    samples: int = Field(1, ge=1, le=1000, description="Draws per conversation (sample index 0..samples-1).")
    max_tokens: int = Field(1024, ge=1, le=1_000_000)
    timeout_s: float = Field(60.0, gt=0, le=3600, description="Per-request timeout in seconds.")
    max_reply_bytes: int = Field(1_000_000, ge=1024, le=1_000_000_000,
                                 description="Largest reply body read; a longer reply fails its item (with its "
                                             "first bytes kept) instead of filling memory.")
    concurrency: int = Field(8, ge=1, le=1024)
    max_retries: int = Field(3, ge=0, le=20, description="Re-asks after an invalid reply, and (separately) retries "
                                                         "after a transient HTTP error or timeout.")
    price_in_per_1m: float | None = Field(None, ge=0, description="USD per 1M input tokens.")
    price_out_per_1m: float | None = Field(None, ge=0, description="USD per 1M output tokens.")
    batch: bool = Field(False, description="Run through the provider's Batch API (as `judge run --batch`).")
    batch_size: int = Field(50_000, ge=1, le=50_000, description="Most requests per provider batch (OpenAI's "
                                                                 "limit is 50,000 and 200 MB per file).")
    price_in_per_1m_batch: float | None = Field(None, ge=0, description="USD per 1M input tokens in batch mode "
                                                                      "(default: half of price_in_per_1m).")
    price_out_per_1m_batch: float | None = Field(None, ge=0, description="USD per 1M output tokens in batch mode "
                                                                       "(default: half of price_out_per_1m).")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8000/v1)")
        return v

    @model_validator(mode="after")
    def _one_url(self):
        if self.base_url and self.base_url_env:
            raise ValueError("give base_url or base_url_env, not both")
        if (self.price_in_per_1m is None) != (self.price_out_per_1m is None):
            raise ValueError("give both price_in_per_1m and price_out_per_1m (USD per 1M tokens), or neither")
        if (self.price_in_per_1m_batch is None) != (self.price_out_per_1m_batch is None):
            raise ValueError("give both price_in_per_1m_batch and price_out_per_1m_batch, or neither")
        return self

    def public_spec(self) -> dict[str, Any]:
        """The config as stored in the store: every field (it holds no secret, only the key's variable name)."""
        return self.model_dump()


_SECRET_FIELDS = {"api_key", "apikey", "key", "token", "secret", "password", "openai_api_key"}


def _format_errors(path: Path, err: ValidationError) -> str:
    msgs = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "string_pattern_mismatch" and loc in ("api_key_env", "base_url_env"):
            msg = ("must be the NAME of an environment variable (capitals, digits, _; e.g. OPENAI_API_KEY), not "
                   "its value")
        elif e["type"] == "extra_forbidden":
            msg = ("unknown field. Valid fields: " + ", ".join(JudgeConfig.model_fields))
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] == "literal_error":
            msg = msg.replace("Input should be", "must be")
        msgs.append(f"field '{loc}': {msg}")
    return (f"{path}: invalid judge config: " + "; ".join(msgs).rstrip(".") + ". Fix: correct the field "
            "(examples/judges/llm_rubric_judge.yaml is a complete config; `auditor judge validate CONFIG` checks one "
            "without running it).")


def _normalise_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclasses.dataclass(frozen=True)
class Judge:
    """A loaded judge config: validated fields, prompt text, rubric, resolved base URL and hash."""

    config: JudgeConfig
    path: Path
    prompt_path: Path
    prompt_text: str
    rubric: Rubric
    base_url: str

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def role(self) -> str:
        return self.config.role

    @property
    def rater_kind(self) -> str:
        return self.config.role

    @functools.cached_property
    def response_schema(self) -> dict:
        from ._response import response_model_for

        return response_model_for(self.rubric, self.role).model_json_schema()

    @functools.cached_property
    def hashed_payload(self) -> dict[str, Any]:
        c = self.config
        return {"format": HASH_FORMAT, "name": c.name, "model": c.model, "base_url": self.base_url, "role": c.role,
                "mode": c.mode, "temperature": c.temperature, "max_tokens": c.max_tokens, "prompt": self.prompt_text,
                "rubric": self.rubric.name, "rubric_hash": self.rubric.content_hash, "schema": self.response_schema}

    @functools.cached_property
    def config_hash(self) -> str:
        payload = json.dumps(self.hashed_payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def rater_id(self) -> str:
        """``name@hash8``: a changed prompt or model is a different rater, never mixed with the old one."""
        return f"{self.config.name}@{self.config_hash[:8]}"

    @property
    def prices_known(self) -> bool:
        return self.config.price_in_per_1m is not None and self.config.price_out_per_1m is not None

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float | None:
        """USD for these tokens at the config's prices; ``None`` when it gives none."""
        from ._cost import cost_usd

        return cost_usd(tokens_in, tokens_out, self.config.price_in_per_1m, self.config.price_out_per_1m)

    @property
    def batch_prices_estimated(self) -> bool:
        """True when batch prices are not in the config and are taken as half the synchronous ones."""
        return self.config.price_in_per_1m_batch is None

    def batch_cost_usd(self, tokens_in: int, tokens_out: int) -> float | None:
        """USD for these tokens at the config's batch prices, else at half its synchronous prices (an estimate:
        see :attr:`batch_prices_estimated`); ``None`` when it gives no prices at all."""
        from ._cost import cost_usd

        c = self.config
        if c.price_in_per_1m_batch is not None:
            return cost_usd(tokens_in, tokens_out, c.price_in_per_1m_batch, c.price_out_per_1m_batch)
        if c.price_in_per_1m is None:
            return None
        return cost_usd(tokens_in, tokens_out, c.price_in_per_1m / 2, c.price_out_per_1m / 2)

    def api_key(self, env: Mapping[str, str] | None = None) -> str:
        """The API key from the environment variable the config names (read now, never stored)."""
        env = os.environ if env is None else env
        var = self.config.api_key_env
        if var is None:
            return "no-key"       # local servers (vLLM, llama.cpp, Ollama) accept any key
        key = env.get(var)
        if not key:
            raise ConfigError(f"{self.path}: api_key_env names ${var}, which is not set. Fix: export {var}=... "
                              "(or remove api_key_env for a local server that needs no key).")
        return key


def _resolve_base_url(cfg: JudgeConfig, path: Path, env: Mapping[str, str]) -> str:
    if cfg.base_url:
        return _normalise_url(cfg.base_url)
    if cfg.base_url_env:
        url = env.get(cfg.base_url_env)
        if not url:
            raise ConfigError(f"{path}: base_url_env names ${cfg.base_url_env}, which is not set. Fix: export "
                              f"{cfg.base_url_env}=http://host:port/v1, or write base_url in the config.")
        if not (url.startswith("http://") or url.startswith("https://")):
            raise ConfigError(f"{path}: ${cfg.base_url_env} must hold an http(s) URL. Fix: export "
                              f"{cfg.base_url_env}=http://host:port/v1")
        return _normalise_url(url)
    return DEFAULT_BASE_URL


def load_judge(path: str | Path, *, env: Mapping[str, str] | None = None) -> Judge:
    """Load and validate a judge config YAML file, its prompt template and its rubric.

    ``env`` (default: ``os.environ`` at call time) resolves ``base_url_env``. The API key is not read here.
    Raises :class:`~auditor.errors.ConfigError` naming the file and the field.
    """
    from ._prompt import compile_template

    p = Path(path)
    env = os.environ if env is None else env
    if not p.is_file():
        raise ConfigError(f"{p}: judge config file not found. Fix: pass the path of a YAML file like "
                          "examples/judges/llm_rubric_judge.yaml.")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"), str(p))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text. Fix: save the config as UTF-8.") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a judge config must be a YAML mapping (name, model, rubric, prompt, ...)")
    secret = sorted(k for k in data if str(k).lower() in _SECRET_FIELDS)
    if secret:
        # never echo the value: it may be a real key
        raise ConfigError(f"{p}: field '{secret[0]}': a judge config must not hold an API key. Fix: put the key in "
                          "an environment variable and name it with api_key_env (e.g. api_key_env: OPENAI_API_KEY).")
    try:
        cfg = JudgeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(p, e)) from None
    base = p.parent
    prompt_path = (base / cfg.prompt) if not Path(cfg.prompt).is_absolute() else Path(cfg.prompt)
    if not prompt_path.is_file():
        raise ConfigError(f"{p}: field 'prompt': template file {prompt_path} not found. Fix: give a path relative "
                          "to the config file.")
    prompt_text = prompt_path.read_text(encoding="utf-8")
    compile_template(prompt_text, prompt_path)
    rub_ref = cfg.rubric
    rub_path = base / rub_ref
    try:
        rubric = load_rubric(rub_path if (Path(rub_ref).suffix and rub_path.exists()) else rub_ref)
    except RubricError as e:
        raise ConfigError(f"{p}: field 'rubric': {e}") from None
    return Judge(config=cfg, path=p, prompt_path=prompt_path, prompt_text=prompt_text, rubric=rubric,
                 base_url=_resolve_base_url(cfg, p, env))
