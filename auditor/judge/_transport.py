"""The judge's HTTP client: a cap on the reply size read, and what a transport failure means in words.

A reply is read through :func:`capped_transport`, which stops reading once a body passes ``max_reply_bytes``
(declared by ``Content-Length`` or counted while streaming a chunked body) and raises :class:`ReplyTooLarge` with
the first bytes. Without it a 50 MB reply was read, parsed and copied whole (5.3 GB of client memory).

:func:`connection_failure` turns what the HTTP stack raised into a sentence that says whether anything listens at
the endpoint (connection refused: start the server, or fix ``base_url``) or whether the server accepted the
request and closed the connection mid-reply (it crashed or a proxy cut it; a retry may succeed).
"""

from __future__ import annotations

import urllib.parse
from typing import Any, AsyncIterator

__all__ = ["ReplyTooLarge", "capped_transport", "make_client", "connection_failure", "too_large", "PREFIX_BYTES"]

PREFIX_BYTES = 2000          # the start of an oversized or non-completion body kept as the item's raw reply


class ReplyTooLarge(Exception):
    """A reply body over the cap. ``prefix``: its first bytes; ``declared``: its Content-Length, if sent."""

    def __init__(self, cap: int, prefix: bytes, declared: int | None):
        super().__init__(f"reply body over max_reply_bytes={cap}")
        self.cap, self.prefix, self.declared = cap, prefix, declared


def _capped_stream(cap: int):
    import httpx2

    class CappedStream(httpx2.AsyncByteStream):
        def __init__(self, inner: Any, declared: int | None):
            self.inner, self.declared = inner, declared

        async def __aiter__(self) -> AsyncIterator[bytes]:
            n, head = 0, b""
            async for part in self.inner:
                n += len(part)
                if len(head) < PREFIX_BYTES:
                    head += part[:PREFIX_BYTES - len(head)]
                if n > cap or (self.declared is not None and self.declared > cap):
                    raise ReplyTooLarge(cap, head, self.declared)
                yield part

        async def aclose(self) -> None:
            await self.inner.aclose()

    return CappedStream


def _capped_transport_class():
    import httpx2

    class _CappedTransport(httpx2.AsyncBaseTransport):
        def __init__(self, inner: Any, max_bytes: int):
            self.inner, self.max_bytes = inner, max_bytes
            self.stream_cls = _capped_stream(max_bytes)

        async def handle_async_request(self, request: Any) -> Any:
            resp = await self.inner.handle_async_request(request)
            try:
                declared = int(resp.headers.get("content-length", ""))
            except ValueError:
                declared = None
            return httpx2.Response(status_code=resp.status_code, headers=resp.headers,
                                   stream=self.stream_cls(resp.stream, declared), extensions=resp.extensions)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return _CappedTransport


def capped_transport(inner: Any, max_bytes: int) -> Any:
    """An httpx transport that reads at most ``max_bytes`` of each reply body (then :class:`ReplyTooLarge`)."""
    return _capped_transport_class()(inner, max_bytes)


def make_client(base_url: str, api_key: str, *, concurrency: int, timeout_s: float, max_reply_bytes: int) -> Any:
    """One ``openai.AsyncOpenAI`` for a run: no SDK retries (the caller retries), pooled connections, capped
    replies."""
    import httpx2
    import openai

    limits = httpx2.Limits(max_connections=max(concurrency * 2, 10), max_keepalive_connections=max(concurrency, 10),
                           keepalive_expiry=30.0)
    timeout = httpx2.Timeout(timeout_s + 5.0, connect=min(10.0, timeout_s + 5.0))
    transport = capped_transport(httpx2.AsyncHTTPTransport(limits=limits), max_reply_bytes)
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout,
                              http_client=openai.DefaultAsyncHttpxClient(transport=transport, timeout=timeout))


def _causes(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def too_large(e: BaseException) -> ReplyTooLarge | None:
    """The :class:`ReplyTooLarge` behind an SDK error, if that is what it was."""
    return next((c for c in _causes(e) if isinstance(c, ReplyTooLarge)), None)


_MID_REPLY = ("RemoteProtocolError", "ReadError", "WriteError", "ConnectionResetError", "BrokenPipeError",
              "IncompleteRead")


def _host_port(base_url: str) -> tuple[str, str]:
    p = urllib.parse.urlsplit(base_url)
    port = p.port or (443 if p.scheme == "https" else 80)
    return f"{p.hostname}:{port}", p.hostname or ""


def connection_failure(e: BaseException, base_url: str) -> tuple[str, bool]:
    """(what happened, in words; True when nothing answered at the endpoint) for a connection-level error."""
    chain = list(_causes(e))
    names = [type(c).__name__ for c in chain]
    detail = next((" ".join(str(c).split()) for c in reversed(chain) if str(c)), names[-1])
    detail = detail if len(detail) <= 200 else detail[:200] + "..."
    where, host = _host_port(base_url)
    if any(n in _MID_REPLY for n in names):
        return (f"the server at {where} closed the connection mid-reply ({detail}); it accepted the request, then "
                "crashed or a proxy cut it"), False
    if "gaierror" in names:
        return f"cannot resolve the host name {host!r} ({detail})", True
    if "ConnectionRefusedError" in names:
        return f"nothing listens on {where} (connection refused)", True
    if "ConnectTimeout" in names:
        return f"no answer connecting to {where} (connect timeout)", True
    if "ConnectError" in names:
        return f"cannot connect to {where} ({detail})", True
    return f"connection error talking to {where} ({detail})", True
