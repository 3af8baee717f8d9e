"""The web app's safety rules, in one place: response headers, cross-site checks, admin auth, redacted logs.

- Every response carries a Content-Security-Policy without inline script or style, ``nosniff``, no referrer,
  no framing, and ``no-store`` (pages hold private links).
- A state-changing request (POST) must carry the page's form token (``X-Form-Token`` header or ``form_token``
  field) and, when the browser sends ``Origin`` / ``Sec-Fetch-Site``, come from this same origin.
- Admin pages accept the campaign admin token as ``?token=`` once (it is moved into an HttpOnly, SameSite=Strict
  cookie and the URL is cleaned), as the cookie, or as ``Authorization: Bearer``.
- The request log never shows a token: ``/a/<token>`` paths are redacted and query strings are dropped.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.requests import Request

from ..errors import NotAllowed

__all__ = ["CSP", "security_headers", "check_same_origin", "admin_token", "redact_path", "configure_logging",
           "ADMIN_COOKIE"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cache-control", b"no-store"), (b"cross-origin-opener-policy", b"same-origin")]
ADMIN_COOKIE = "auditor_admin"
_TOKEN_PATH = re.compile(r"^(/(?:api/)?a/)[^/]+")

log = logging.getLogger("auditor.web")


def redact_path(path: str) -> str:
    """``/a/SECRET/items/3`` -> ``/a/<token>/items/3`` (query strings are never logged)."""
    return _TOKEN_PATH.sub(r"\1<token>", path)


def security_headers(app):
    """ASGI middleware: add the security headers to every HTTP response and log each request, redacted."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 0}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in HEADERS if h[0] not in names]
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            log.info("%s %s %s %.1f ms", scope.get("method"), redact_path(scope.get("path", "")), status["code"],
                     (time.perf_counter() - start) * 1000)

    return middleware


def check_same_origin(request: Request) -> None:
    """Refuse a cross-site request: ``Origin`` must match the Host it was sent to; ``Sec-Fetch-Site`` must not say
    cross-site. Scripts that send neither are judged by their form token alone."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin.rstrip("/").split("://", 1)[-1] != host:
        raise NotAllowed(f"cross-site request refused (Origin {origin[:80]!r} is not this server)")
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        raise NotAllowed("cross-site request refused (Sec-Fetch-Site)")


def admin_token(request: Request) -> str | None:
    """The admin token a request carries (bearer header, query, or cookie), or None."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("token") or request.cookies.get(ADMIN_COOKIE)


def configure_logging(level: int = logging.INFO) -> None:
    """Log requests (redacted) to stderr: the only log the server writes."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False

