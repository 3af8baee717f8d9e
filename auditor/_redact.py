"""One redaction for everything a judge run prints or stores: the API key and the secrets a base URL can carry.

A base URL may hold a user and password (``http://user:PASS@host/v1``) and keys in its query string
(``?api-key=...``); an endpoint may echo the request's ``Authorization`` header in an error body. Every error
message, stored error and raw reply of a run passes through the function :func:`make_redactor` returns.
"""

from __future__ import annotations

import urllib.parse
from typing import Callable

__all__ = ["make_redactor", "safe_url", "REDACTED"]

REDACTED = "[redacted]"
MIN_SECRET = 4


def safe_url(url: str) -> str:
    """A URL without user info or query string (either can carry a secret), for storing and printing."""
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urllib.parse.urlunsplit((p.scheme, host, p.path, "", ""))


def _url_secrets(url: str | None) -> list[str]:
    if not url:
        return []
    p = urllib.parse.urlsplit(url)
    out = [p.password, p.username, urllib.parse.unquote(p.password or ""), p.query]
    for _, v in urllib.parse.parse_qsl(p.query, keep_blank_values=False):
        out += [v, urllib.parse.quote(v, safe="")]
    return [s for s in out if s and len(s) >= MIN_SECRET]


def make_redactor(api_key: str | None, base_url: str | None = None) -> Callable[[str], str]:
    """``redact(text)``: the base URL shown without its secrets, then every secret replaced by ``[redacted]``."""
    secrets = sorted({s for s in [api_key, *_url_secrets(base_url)] if s and len(s) >= MIN_SECRET}, key=len,
                     reverse=True)
    shown = safe_url(base_url) if base_url else None

    def redact(text):
        if not isinstance(text, str):
            return text
        if base_url and shown != base_url:
            text = text.replace(base_url, shown)
        for s in secrets:
            text = text.replace(s, REDACTED)
        return text

    return redact
