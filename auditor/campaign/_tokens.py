"""Private links: random tokens (256 bits), stored only as their SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["new_token", "hash_token", "same_hash", "form_token"]


def new_token() -> str:
    """A URL-safe random token of 32 bytes (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the store keeps: the hex SHA-256 of the token (tokens are random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


def form_token(key: bytes, token_hash: str) -> str:
    """The per-session form token of a page opened with ``token``: an HMAC the browser cannot forge cross-site."""
    return hmac.new(key, b"form:" + token_hash.encode(), hashlib.sha256).hexdigest()
