"""A fake OpenAI-compatible server for judge tests and benchmarks: a real HTTP server on 127.0.0.1.

It serves ``POST /v1/chat/completions``, ``GET /v1/models`` and the Files and Batches API
(``tests/fake_batch_api.py``, as ``fake.batch``) on an OS-assigned port, answers with valid
structured output generated from the JSON schema each request carries (a tool call when ``tools`` are sent, JSON
content otherwise), records every request, and can be scripted per test to misbehave.

Answers are deterministic: each enum field's option is picked from a hash of the item key and the field name
(:func:`pick`), so a test can compute the value a judge must have stored. The item key is the
``X-Auditor-Item`` header the judge runner sends (``conversation_id#sample``), else a hash of the first user
message.

Faults (``kind`` strings): ``"429"`` (with ``Retry-After``), ``"429_echo"`` (a 429 whose body echoes the request
headers, ``Authorization`` included, with a ``Retry-After`` of an hour), ``"500"``, ``"401"``, ``"malformed"`` (an HTTP
body that is not JSON), ``"bad_json"`` (a well-formed reply whose structured content is not JSON), ``"invalid"``
(schema-invalid option values), ``"truncated"`` (cut-off content, ``finish_reason="length"``), ``"hang"`` (no
reply until ``hang_s`` passes or the server stops), ``"html"`` (status 200 with an HTML page, as a web UI at a base
URL without ``/v1`` answers; it echoes the ``Authorization`` header in a comment), ``"no_choices"`` (status 200, a
JSON error object), ``"reset"`` (headers and half the body, then the connection is reset), ``"huge"`` /
``"huge_chunked"`` (a valid reply of ``huge_bytes``, 50 MB by default, with a Content-Length or chunked, written in
1 MB pieces), ``"slowloris"`` (headers, then a chunk of one byte every ``slow_s`` seconds, never finishing).
Script them with :meth:`FakeOpenAI.fault_for` (per item, in order of attempts), :meth:`FakeOpenAI.fault_all`,
:meth:`FakeOpenAI.fault_next` (the next n requests) or :meth:`FakeOpenAI.hang_after` (hang every request after n
successful replies). Each recorded request keeps the usage its reply reported (``tokens_in``, ``tokens_out``).

Notes from DESIGN.md: ``protocol_version = "HTTP/1.1"``, Content-Length on every reply, Nagle off and a deep
listen queue, else keep-alive replies stall and many concurrent clients see connection resets.

Run standalone (benchmarks: keep the server off the client's GIL)::

    python tests/fake_openai.py --latency 0.05     # prints the base URL, serves until killed
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

try:
    from fake_batch_api import BatchAPI
except ImportError:  # pragma: no cover - when tests/ is imported as a package
    from tests.fake_batch_api import BatchAPI

__all__ = ["FakeOpenAI", "Request", "pick", "answer_for", "completion_for", "FAULTS"]

FAULTS = ("429", "429_echo", "500", "401", "malformed", "bad_json", "invalid", "truncated", "hang", "html",
          "no_choices", "reset", "huge", "huge_chunked", "slowloris", "400", "drop")    # the last two: batch lines
HUGE_BYTES = 50 * 1024 * 1024
INVALID_LABEL = "NOT-AN-OPTION"


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


def pick(key: str, field: str, options: list) -> Any:
    """The option the server answers for ``field`` of item ``key`` (deterministic)."""
    return options[_h(key, field) % len(options)]


def confidence_for(key: str) -> float:
    return round((_h(key, "confidence") % 1000) / 1000, 3)


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _value(schema: dict, root: dict, key: str, field: str) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return pick(key, field, list(schema["enum"]))
    for alt in ("anyOf", "oneOf"):
        if alt in schema:
            options = [s for s in schema[alt] if _resolve(s, root).get("type") != "null"]
            return _value(options[0], root, key, field) if options else None
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if t == "object":
        return {name: _value(sub, root, key, name) for name, sub in schema.get("properties", {}).items()}
    if t == "array":
        return [_value(schema.get("items", {}), root, key, field)]
    if t == "number":
        lo, hi = schema.get("minimum", 0.0), schema.get("maximum", 1.0)
        return round(lo + (hi - lo) * confidence_for(key), 3)
    if t == "integer":
        lo, hi = int(schema.get("minimum", 0)), int(schema.get("maximum", 10))
        return lo + _h(key, field) % (hi - lo + 1)
    if t == "boolean":
        return bool(_h(key, field) % 2)
    return f"fake {field} for {key}"


def answer_for(schema: dict, key: str) -> dict:
    """A valid instance of ``schema`` for item ``key``."""
    return _value(schema, schema, key, "")


@dataclasses.dataclass
class Request:
    """One request as the server saw it."""

    t: float
    path: str
    key: str | None
    body: dict | None
    status: int
    outcome: str            # ok | a fault kind | models | not_found
    auth: str | None = None
    answer: dict | None = None
    tokens_in: int = 0          # the usage the reply reported (0 for replies without one)
    tokens_out: int = 0


def _schema_of(body: dict) -> tuple[str, dict, str]:
    """(how to reply: tools | content, schema, tool name) from a chat.completions request."""
    tools = body.get("tools")
    if tools:
        fn = tools[0]["function"]
        return "tools", fn.get("parameters", {}), fn["name"]
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        js = rf["json_schema"]
        return "content", js.get("schema", {}), js.get("name", "Response")
    # JSON mode (instructor): the schema is in the system message, after "json_schema:".
    for m in body.get("messages", []):
        c = m.get("content")
        if m.get("role") == "system" and isinstance(c, str) and "json_schema" in c:
            start = c.index("{", c.index("json_schema"))
            schema, _ = json.JSONDecoder().raw_decode(c[start:])
            return "content", schema, "Response"
    return "content", {"type": "object", "properties": {"answer": {"type": "string"}}}, "Response"


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def completion_for(body: dict, key: str, fault: str | None = None) -> tuple[dict, dict | None]:
    """The chat completion the server answers to request ``body`` for item ``key`` (a tool call when ``tools``
    are sent, JSON content otherwise), and the answer in it when valid. ``fault``: ``"invalid"`` (one option
    replaced by :data:`INVALID_LABEL`), ``"bad_json"`` (prose and half the JSON), ``"truncated"`` (half the JSON,
    ``finish_reason="length"``); any other value gives the valid reply."""
    how, schema, name = _schema_of(body)
    answer = answer_for(schema, key)
    if fault == "invalid":
        for k, v in answer.items():
            if isinstance(v, str) and k not in ("rationale",):
                answer[k] = INVALID_LABEL
                break
    text = json.dumps(answer)
    finish = "tool_calls" if how == "tools" else "stop"
    if fault == "bad_json":
        text = "Sure! Here are my ratings: " + text[: len(text) // 2]
    elif fault == "truncated":
        text, finish = text[: len(text) // 2], "length"
    prompt_tokens = _tokens(json.dumps(body.get("messages", [])))
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if how == "tools":
        message["tool_calls"] = [{"id": f"call_{_h(key, str(time.time())) % 10**8}", "type": "function",
                                  "function": {"name": name, "arguments": text}}]
    else:
        message["content"] = text
    reply = {"id": f"chatcmpl-{_h(key, str(time.time_ns())) % 10**12}", "object": "chat.completion",
             "created": int(time.time()), "model": body.get("model", "fake"),
             "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(text),
                       "total_tokens": prompt_tokens + _tokens(text)}}
    return reply, (answer if fault is None else None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args) -> None:  # silence the default stderr log
        pass

    def _send(self, status: int, payload: bytes, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        fake = self.server.fake
        if fake.batch.handles(self.path):
            fake.batch.get(self)
            return
        if self.path.rstrip("/").endswith("/models"):
            fake._record(Request(time.time(), self.path, None, None, 200, "models", self.headers.get("Authorization")))
            self._send(200, json.dumps({"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models]}).encode())
            return
        self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        fake = self.server.fake
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if fake.batch.handles(self.path):
            fake.batch.post(self, raw)
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "request body is not JSON"}}')
            return
        key = self.headers.get("X-Auditor-Item")
        if key:
            key = urllib.parse.unquote(key)
        else:
            first = next((m.get("content") for m in body.get("messages", []) if m.get("role") == "user"), "")
            key = hashlib.sha256(str(first).encode()).hexdigest()[:16]
        fault, fault_arg = fake._fault(key, body)
        rec = Request(time.time(), self.path, key, body, 200, fault or "ok", self.headers.get("Authorization"))
        if fake.latency and fault not in ("429", "500", "401", "hang", "slowloris"):   # errors come back at once
            time.sleep(fake.latency)
        if fault == "hang":                  # recorded on arrival: it never gets a reply
            rec.status = 0
            fake._record(rec)
            fake._hang_event.wait(fault_arg if fault_arg is not None else fake.hang_s)
            self.close_connection = True
            return
        if fault == "429":
            rec.status = 429
            fake._record(rec)
            self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit_error"}}',
                       {"Retry-After": str(fault_arg if fault_arg is not None else fake.retry_after)})
            return
        if fault == "429_echo":            # a careless proxy: echoes the request's headers, asks for an hour's wait
            rec.status = 429
            fake._record(rec)
            echo = json.dumps({"error": {"message": f"rate limited: {self.headers.get('Authorization')}",
                                         "request_headers": dict(self.headers.items())}})
            self._send(429, echo.encode(), {"Retry-After": str(fault_arg if fault_arg is not None else 3600)})
            return
        if fault == "500":
            rec.status = 500
            fake._record(rec)
            self._send(500, b'{"error": {"message": "internal error", "type": "server_error"}}')
            return
        if fault == "401":
            rec.status = 401
            fake._record(rec)
            self._send(401, b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}')
            return
        if fault == "malformed":
            fake._record(rec)
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
            return
        if fault == "html":
            fake._record(rec)
            page = HTML_PAGE.replace("<body>", f"<body><!-- {self.headers.get('Authorization')} -->")  # careless
            self._send(200, page.encode(), content_type="text/html; charset=utf-8")
            return
        if fault == "no_choices":          # some gateways report errors with status 200
            fake._record(rec)
            self._send(200, b'{"object": "error", "message": "upstream model overloaded", "code": 503}')
            return
        if fault == "slowloris":
            fake._record(rec)
            self._slowloris(fake, fault_arg)
            return
        reply, rec.answer = completion_for(body, key, fault)
        if fault in ("huge", "huge_chunked"):
            fake._record(rec)
            self._huge(reply, int(fault_arg or fake.huge_bytes), chunked=fault == "huge_chunked")
            return
        rec.tokens_in, rec.tokens_out = reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"]
        payload = json.dumps(reply).encode()
        if fault == "reset":
            fake._record(rec)
            self._reset(payload)
            return
        fake._record(rec)
        self._send(200, payload)

    def _reset(self, payload: bytes) -> None:
        """Headers and half the body, then a TCP reset (SO_LINGER 0): a server that dies mid-reply."""
        import socket
        import struct

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _huge(self, reply: dict, size: int, *, chunked: bool) -> None:
        """A valid completion whose content is ``size`` bytes of filler, written 1 MB at a time."""
        head, tail = json.dumps({**reply, "choices": [{**reply["choices"][0], "message": {
            "role": "assistant", "content": "\x00SPLIT\x00"}}]}).encode().split(b"\\u0000SPLIT\\u0000")
        piece = b"x" * (1 << 20)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(head) + size + len(tail)))
        self.end_headers()
        self.close_connection = True

        def write(b: bytes) -> None:
            if chunked:
                self.wfile.write(f"{len(b):x}\r\n".encode() + b + b"\r\n")
            else:
                self.wfile.write(b)

        write(head)
        left = size
        while left > 0:
            write(piece[: min(left, len(piece))])
            left -= len(piece)
        write(tail)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _slowloris(self, fake: "FakeOpenAI", every: float | None) -> None:
        """Headers, then one byte of a never-ending body every ``every`` seconds (until the client goes)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"1\r\n{\r\n")
        self.wfile.flush()
        while not fake._hang_event.wait(every if every is not None else fake.slow_s):
            self.wfile.write(b"1\r\n \r\n")
            self.wfile.flush()


HTML_PAGE = ("<!DOCTYPE html>\n<html><head><title>Open WebUI</title></head><body><div id=\"app\">Loading..."
             "</div>" + "<script>/* app */</script>" * 50 + "</body></html>\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    fake: "FakeOpenAI"

    def handle_error(self, request, client_address) -> None:  # client went away (timeouts, kills): not an error
        pass


class _Handler_nodelay(_Handler):
    disable_nagle_algorithm = True


class FakeOpenAI:
    """A scriptable OpenAI-compatible HTTP server on 127.0.0.1 (OS-assigned port).

    Examples
    --------
    >>> with FakeOpenAI() as fake:                      # doctest: +SKIP
    ...     fake.fault_for("conv-1#0", "429", "invalid")  # first attempt 429, second schema-invalid, then ok
    ...     ... run a judge with base_url=fake.url ...
    ...     fake.successes()                          # Counter: item key -> successful replies
    """

    def __init__(self, *, latency: float = 0.0, retry_after: float = 0.1, hang_s: float = 30.0,
                 models: tuple[str, ...] = ("fake-model",), huge_bytes: int = HUGE_BYTES, slow_s: float = 0.5):
        self.latency = latency
        self.huge_bytes = huge_bytes
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.models = list(models)
        self.requests: list[Request] = []
        self.fault_fn: Callable[[str, dict], str | None] | None = None
        self._lock = threading.Lock()
        self._per_key: dict[str, collections.deque] = {}
        self._next: collections.deque = collections.deque()
        self._all: str | None = None
        self._hang_after: int | None = None
        self._n_ok_sent = 0
        self._hang_event = threading.Event()
        self.batch = BatchAPI(self)       # /v1/files and /v1/batches (tests/fake_batch_api.py)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        self._server = _Server(("127.0.0.1", 0), _Handler_nodelay)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._hang_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to give a client (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ----------------------------------------------------------------------------------------
    def fault_for(self, key: str, *kinds: str | tuple[str, float]) -> None:
        """The next requests for item ``key`` get these faults in order (then normal answers).

        A kind may be ``(kind, arg)``: the Retry-After seconds for ``"429"``, the hang seconds for ``"hang"``.
        """
        with self._lock:
            self._per_key.setdefault(key, collections.deque()).extend(kinds)

    def fault_next(self, kind: str, n: int = 1) -> None:
        """The next ``n`` chat requests (in arrival order) get ``kind``."""
        with self._lock:
            self._next.extend([kind] * n)

    def fault_all(self, kind: str | None) -> None:
        """Every chat request gets ``kind`` (``None`` to stop)."""
        self._all = kind

    def hang_after(self, n: int | None) -> None:
        """After ``n`` successful replies, every request hangs (``None`` to stop)."""
        self._hang_after = n

    def release(self) -> None:
        """Let hanging requests go (they then get no reply)."""
        self._hang_event.set()

    def _fault(self, key: str, body: dict) -> tuple[str | None, float | None]:
        with self._lock:
            kind: Any = None
            q = self._per_key.get(key)
            if q:
                kind = q.popleft()
            elif self._next:
                kind = self._next.popleft()
            elif self._all:
                kind = self._all
            elif self.fault_fn is not None:
                kind = self.fault_fn(key, body)
            if kind is None and self._hang_after is not None and self._n_ok_sent >= self._hang_after:
                kind = "hang"
            if kind is None:
                self._n_ok_sent += 1
        if isinstance(kind, tuple):
            return kind[0], kind[1]
        if kind is not None and kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; faults are {FAULTS}")
        return kind, None

    def _record(self, rec: Request) -> None:
        with self._lock:
            self.requests.append(rec)

    # -- reading the log ----------------------------------------------------------------------------------
    def chat_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def successes(self) -> collections.Counter:
        """Item key -> number of valid answers sent (a key above 1 is a paid-for duplicate)."""
        return collections.Counter(r.key for r in self.chat_requests() if r.outcome == "ok")

    def outcomes(self) -> collections.Counter:
        return collections.Counter(r.outcome for r in self.chat_requests())

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Serve the fake OpenAI-compatible API until killed.")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each reply")
    args = ap.parse_args(argv)
    fake = FakeOpenAI(latency=args.latency).start()
    sys.stdout.write(fake.url + "\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    _main()
