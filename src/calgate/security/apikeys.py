"""Account-admin API keys: 256 random bits, shown once, stored as a SHA-256 digest.

A SHA-256 of a high-entropy random key is the right storage (a slow password hash adds
nothing when the secret cannot be guessed); lookups are by digest, so the comparison never
touches the key itself.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["PREFIX", "digest", "generate", "looks_like_api_key"]

PREFIX = "cgak_"


def generate() -> tuple[str, str, str]:
    """Return ``(key, digest, hint)``; only the digest and a 4-character hint are stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    return key, digest(key), key[-4:]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX)
