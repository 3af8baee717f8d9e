"""One item (conversation x sample) against an OpenAI-compatible endpoint, with instructor's validation and re-ask.

The request is prepared by instructor (``handle_response_model``: tools / response_format / schema in the system
message, depending on the mode), the reply parsed by instructor (``process_response``) and an invalid reply re-asked
with instructor's own correction messages (``handle_reask_kwargs``). We drive that loop ourselves, instead of
``client.chat.completions.create(response_model=...)``, for three reasons: instructor rebuilds the response model's
schema on every call (about 3 ms of CPU, which caps a run near 100 requests/s), we need the raw text and the
reason of a reply that stays invalid, and transport retries must honour ``Retry-After`` across all workers.

The prepared body (plain JSON: messages, model, sampling, tools / response_format) is posted with
``client.post("/chat/completions", cast_to=ChatCompletion)``: the request ``chat.completions.create`` makes after
walking every parameter through the SDK's typed transform (a fifth to a third of a request's client CPU here, for a
body that is already JSON). ``tests/test_judge_request_body.py`` checks the endpoint receives the same bodies and
headers either way.

Outcomes: ``ok`` (rows per dimension), ``failed`` (raw text and reason: invalid after the re-asks, truncated,
transport errors or timeouts after the retries, a 4xx refusal; not retried: a reply over ``max_reply_bytes`` or a
200 reply that is no chat completion, such as an HTML page, both with their first bytes kept as the raw reply), or
:class:`FatalEndpointError` (401/403/404: no point asking again; the run stops). Waits of ``NOTICE_WAIT_S`` or
more before a retry are announced through ``notify`` (the library never prints).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import json
import random
import re
import time
import urllib.parse
from typing import Any, Awaitable, Callable

from ..errors import AuditorError
from ._config import Judge
from ._response import answers_to_rows, response_model_for
from ._transport import PREFIX_BYTES, ReplyTooLarge, connection_failure, too_large

__all__ = ["ItemResult", "ItemCaller", "FatalEndpointError", "retry_after_seconds", "backoff_delay"]

_USER = "\x00AUDITOR_USER\x00"
_SYSTEM = "\x00AUDITOR_SYSTEM\x00"
_SENTINELS = re.compile("\x00AUDITOR_(?:USER|SYSTEM)\x00")
MAX_RETRY_AFTER_S = 300.0
NOTICE_WAIT_S = 2.0            # a wait at least this long before a retry is announced (``notify``)


class FatalEndpointError(AuditorError):
    """The endpoint refuses every request (bad key, no permission, unknown model or URL): the run stops."""


@dataclasses.dataclass
class ItemResult:
    """What one item produced. ``rows`` (one per dimension) when ``status == "ok"``; ``error`` otherwise."""

    conversation_id: str
    sample: int
    status: str                       # ok | failed
    rows: list[dict] = dataclasses.field(default_factory=list)
    raw: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    n_requests: int = 0
    n_reasks: int = 0
    n_retries: int = 0
    replaces_failure: bool = False
    connection_error: bool = False


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, *, base: float, cap: float = 30.0, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter (``uniform(0, min(cap, base * 2**(attempt-1)))``); a server's
    ``Retry-After`` is a floor (plus up to 10 % jitter so that waiting workers do not return all at once)."""
    rng = rng or random
    delay = rng.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))
    if retry_after is not None:
        delay = max(delay, retry_after * (1 + 0.1 * rng.random()))
    return delay


def _completion_type() -> Any:
    from openai.types.chat import ChatCompletion

    return ChatCompletion


def _short(e: BaseException, limit: int = 600) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _raw_text(completion: Any) -> str:
    try:
        msg = completion.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return ""
    calls = getattr(msg, "tool_calls", None) or []
    if calls:
        args = calls[0].function.arguments
        return args if isinstance(args, str) else json.dumps(args)
    return msg.content or ""


def _reply_parser(mode: Any, model: Any) -> Callable[[Any, Any], Any]:
    """instructor's reply parser for ``mode``: its registered OpenAI handler, called directly.

    ``instructor.process_response`` does the same after walking the response model for async validators on every
    call (about 0.4 ms here, as much as the rest of our per-item work); our models have none, which is checked once
    below. Falls back to ``process_response`` if instructor's registry moves.
    """
    from instructor.processing import process_response

    def fallback(completion: Any, model: Any) -> Any:
        return process_response(completion, response_model=model, stream=False, mode=mode)

    try:
        import instructor.v2  # noqa: F401 - registers the handlers
        from instructor import Provider
        from instructor.v2.core.registry import mode_registry
        from instructor.v2.validation.async_validators import reject_async_validators

        reject_async_validators(model)
        handlers = mode_registry.get_handlers(Provider.OPENAI, mode)
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other instructor versions
        return fallback
    parse = handlers.response_parser

    def direct(completion: Any, model: Any) -> Any:
        return parse(response=completion, response_model=model, validation_context=None, strict=None, stream=False,
                     is_async=False)

    return direct


class ItemCaller:
    """Asks the endpoint about one item; shared by all workers of a run (one HTTP client, one rate gate)."""

    def __init__(self, judge: Judge, client: Any, *, backoff_base_s: float = 0.5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, seed: int | None = None,
                 redact: Callable[[str], str] = lambda s: s, notify: Callable[[str], None] | None = None):
        from instructor import Mode

        self.judge = judge
        self.client = client
        self.cfg = judge.config
        self.mode = {"tools": Mode.TOOLS, "json": Mode.JSON, "json_schema": Mode.JSON_SCHEMA}[self.cfg.mode]
        self.model = response_model_for(judge.rubric, judge.role)
        self.backoff_base_s = backoff_base_s
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.redact = redact
        self.notify = notify
        self.request_s = 0.0           # time spent in requests, summed over workers
        self.wait_s = 0.0              # time spent waiting before retries (backoff, Retry-After), summed
        self._prepared: dict[bool, tuple[Any, dict]] = {}
        self._parse: Callable[[Any, Any], Any] | None = None
        self._gate_until = 0.0         # monotonic time before which nobody sends (after a 429 with Retry-After)

    # -- request preparation (instructor's, computed once per run and filled in per item) ------------------
    def _template(self, with_system: bool) -> tuple[Any, dict]:
        if with_system not in self._prepared:
            from instructor.processing import handle_response_model

            msgs = ([{"role": "system", "content": _SYSTEM}] if with_system else []) + [
                {"role": "user", "content": _USER}]
            model, kwargs = handle_response_model(self.model, mode=self.mode, messages=msgs, model=self.cfg.model,
                                                  temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens)
            self._prepared[with_system] = (model, kwargs)
        return self._prepared[with_system]

    def request_kwargs(self, messages: list[dict]) -> tuple[Any, dict]:
        """instructor's request for these messages (tools / response_format / schema text per the mode)."""
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        user = next(m["content"] for m in messages if m["role"] == "user")
        model, kwargs = self._template(system is not None)
        if self._parse is None:
            self._parse = _reply_parser(self.mode, model)

        parts = {_USER: user, _SYSTEM: system or ""}

        def fill(m: dict) -> dict:
            c = m.get("content")
            if isinstance(c, str) and "\x00AUDITOR_" in c:      # one pass: the texts themselves are not rescanned
                return {**m, "content": _SENTINELS.sub(lambda x: parts[x.group(0)], c)}
            return dict(m)

        return model, {**kwargs, "messages": [fill(m) for m in kwargs["messages"]]}

    # -- the loop -----------------------------------------------------------------------------------------
    async def _wait_gate(self) -> None:
        loop = asyncio.get_running_loop()
        while (d := self._gate_until - loop.time()) > 0:
            await self._sleep(d)

    async def _sleep(self, d: float) -> None:
        t = time.monotonic()
        try:
            await self.sleep(d)
        finally:
            self.wait_s += time.monotonic() - t

    def _not_a_completion(self, res: ItemResult, completion: Any) -> ItemResult:
        """A 200 reply that is no chat completion (an HTML page, a JSON body without ``choices``): not retried."""
        if isinstance(completion, str):
            body = completion
        else:
            try:
                body = completion.model_dump_json(exclude_unset=True)
            except Exception:  # noqa: BLE001 - only for showing it
                body = repr(completion)
        head = body.lstrip()[:PREFIX_BYTES]
        first = " ".join(head[:80].split())
        if "<html" in head[:300].lower() or head[:300].lower().startswith("<!doctype"):
            what, fix = "an HTML page", ("check base_url: it must be the API root, which usually ends in /v1 (e.g. "
                                         "http://127.0.0.1:8000/v1), not a web page")
        else:
            what, fix = ("a body without choices", "check base_url (it usually ends in /v1) and model: the endpoint "
                         "must serve the OpenAI chat completions API; the body may be an error it reports with "
                         "status 200")
        res.error = self.redact(f"not a chat completion: the endpoint returned {what} (HTTP 200; first bytes: "
                                f"{first!r}). Fix: {fix}.")
        res.raw = self.redact(head)
        return res

    def _too_large(self, res: ItemResult, big: Any) -> ItemResult:
        size = f"{big.declared:,} bytes declared" if big.declared is not None else "a chunked body"
        res.error = self.redact(f"reply too large: over max_reply_bytes={big.cap:,} ({size}); not read further (nor "
                                "its token usage, which the cost leaves out). Fix: lower max_tokens, or raise "
                                "max_reply_bytes in the config if replies this long are expected.")
        res.raw = self.redact(big.prefix.decode("utf-8", errors="replace"))
        return res

    def response_model(self) -> Any:
        """The response model instructor prepared (and the reply parser), as the requests use them."""
        model, _ = self._template(False)
        if self._parse is None:
            self._parse = _reply_parser(self.mode, model)
        return model

    def interpret(self, res: ItemResult, completion: Any, model: Any,
                  kwargs: dict | Callable[[], dict]) -> dict | None:
        """What a 200 reply means for the item. ``None``: ``res`` is final (``ok`` with its rows, or ``failed`` with
        the reason and raw text); otherwise the request to send next, a re-ask with instructor's correction
        messages (``res.n_reasks`` counts them; after ``max_retries`` re-asks the item fails). Token usage is
        added to ``res``. ``kwargs``: the request that got this reply (or a function building it, called only for
        a re-ask). Shared by the synchronous loop and batch collection."""
        from instructor.core.exceptions import IncompleteOutputException
        from instructor.processing import handle_reask_kwargs

        if isinstance(completion, str) or not getattr(completion, "choices", None):
            self._not_a_completion(res, completion)
            return None
        usage = getattr(completion, "usage", None)
        if usage is not None:
            res.tokens_in += usage.prompt_tokens or 0
            res.tokens_out += usage.completion_tokens or 0
        raw = _raw_text(completion)
        try:
            answers = self._parse(completion, model)
        except IncompleteOutputException:
            res.error = (f"truncated: the reply stopped at max_tokens={self.cfg.max_tokens} "
                         "(finish_reason=length). Fix: raise max_tokens in the config.")
            res.raw = self.redact(raw)
            return None
        except Exception as e:      # noqa: BLE001 - any parse/validation failure is re-asked, then recorded
            if res.n_reasks >= self.cfg.max_retries:
                res.error = self.redact(f"invalid reply after {res.n_reasks} re-ask"
                                        f"{'' if res.n_reasks == 1 else 's'}: {type(e).__name__}: {_short(e)}")
                res.raw = self.redact(raw)
                return None
            res.n_reasks += 1
            kw = kwargs() if callable(kwargs) else kwargs
            return handle_reask_kwargs({**kw, "messages": list(kw["messages"])}, self.mode, completion, e)
        res.status = "ok"
        res.rows = answers_to_rows(self.judge.rubric, answers)
        res.raw = self.redact(raw)
        res.error = None
        return None

    async def call(self, conversation_id: str, sample: int, messages: list[dict]) -> ItemResult:
        import openai

        res = ItemResult(conversation_id, sample, "failed")
        model, kwargs = self.request_kwargs(messages)
        header = urllib.parse.quote(f"{conversation_id}#{sample}", safe="#@:/-_.~")
        timeout = self.cfg.timeout_s
        max_retries = self.cfg.max_retries
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_gate()
            transient: str | None = None
            retry_after: float | None = None
            raw_body: str | None = None
            completion = None
            res.n_requests += 1
            t_req = time.monotonic()
            try:
                async with asyncio.timeout(timeout):
                    completion = await self.client.post(
                        "/chat/completions", cast_to=_completion_type(), body=kwargs,
                        options={"headers": {"X-Auditor-Item": header}, "security": {"bearer_auth": True}})
            except TimeoutError:
                transient = f"timeout: no reply within timeout_s={timeout:g} s"
            except ReplyTooLarge as e:               # read outside the SDK's request wrapper (not seen so far)
                return self._too_large(res, e)
            except openai.APITimeoutError:
                transient = f"timeout: no reply within timeout_s={timeout:g} s"
            except openai.APIConnectionError as e:
                big = too_large(e)
                if big is not None:
                    return self._too_large(res, big)
                what, unreachable = connection_failure(e, self.judge.base_url)
                transient = self.redact(f"connection error: {what}")
                res.connection_error = unreachable
            except openai.APIStatusError as e:
                code = e.status_code
                raw_body = e.response.text if e.response is not None else None
                if code in (401, 403):
                    var = self.cfg.api_key_env
                    raise FatalEndpointError(self.redact(
                        f"{self.judge.base_url} refused the request (HTTP {code}). Fix: check the API key in "
                        + (f"${var}" if var else "an environment variable named by api_key_env")
                        + " and its permissions for model " + repr(self.cfg.model) + ".")) from None
                if code == 404:
                    raise FatalEndpointError(self.redact(
                        f"{self.judge.base_url}: HTTP 404 for model {self.cfg.model!r} "
                        f"({_short(e, 200)}). Fix: check base_url (it usually ends in /v1) and "
                        "the model name (`curl BASE_URL/models` lists them).")) from None
                if code == 429 or code == 408 or code == 409 or code >= 500:
                    transient = self.redact(f"HTTP {code}: {_short(e, 200)}")
                    retry_after = retry_after_seconds(e.response.headers if e.response is not None else None)
                else:
                    res.error = self.redact(f"HTTP {code}: the endpoint rejected the request: {_short(e)}")
                    res.raw = self.redact(raw_body) if raw_body else None
                    return res
            except json.JSONDecodeError as e:       # a reply body that is not JSON
                transient = f"malformed reply body (not JSON: {e.msg})"
                raw_body = e.doc
            except openai.APIResponseValidationError as e:
                transient = self.redact(f"malformed reply body: {_short(e, 200)}")
                raw_body = e.response.text if e.response is not None else None
            finally:
                self.request_s += time.monotonic() - t_req

            if transient is not None:
                if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                    res.error = self.redact(f"{transient}; the server asked to wait {retry_after:.0f} s "
                                            f"(> {MAX_RETRY_AFTER_S:.0f})")
                    res.raw = self.redact(raw_body) if raw_body else None
                    return res
                if res.n_retries >= max_retries:
                    res.error = self.redact(f"{transient} (gave up after {res.n_retries} retr"
                                            f"{'y' if res.n_retries == 1 else 'ies'}; max_retries={max_retries})")
                    res.raw = self.redact(raw_body) if raw_body else None
                    return res
                res.n_retries += 1
                if retry_after is not None:
                    self._gate_until = max(self._gate_until, loop.time() + retry_after)
                delay = backoff_delay(res.n_retries, base=self.backoff_base_s, retry_after=retry_after, rng=self.rng)
                if self.notify is not None and delay >= NOTICE_WAIT_S:
                    why = (f"the server asked ({transient.split(':')[0]}, Retry-After {retry_after:g} s)"
                           if retry_after is not None else f"backing off after {transient.split(':')[0]}")
                    self.notify(self.redact(f"waiting {delay:.1f} s before retry {res.n_retries} of "
                                            f"{conversation_id}#{sample}: {why}"))
                await self._sleep(delay)
                continue
            res.connection_error = False
            nxt = self.interpret(res, completion, model, kwargs)
            if nxt is None:
                return res
            kwargs = nxt
