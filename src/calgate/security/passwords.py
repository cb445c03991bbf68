"""Password hashes for calgate's own user directory (embedded/demo mode): scrypt from
``cryptography``, with its parameters stored in the hash so they can be raised later."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["hash_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=32, n=_N, r=_R, p=_P).derive(password.encode())
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


# A valid hash that no password matches, checked when the user does not exist so that the
# response time does not reveal which emails are registered.
_DUMMY = f"scrypt${_N}${_R}${_P}${_b64(b'calgate-dummy-sa')}${_b64(bytes(32))}"


def verify_password(password: str, encoded: str | None) -> bool:
    target = encoded or _DUMMY
    try:
        scheme, n, r, p, salt, digest = target.split("$")
        if scheme != "scrypt":
            return False
        Scrypt(salt=_unb64(salt), length=32, n=int(n), r=int(r), p=int(p)).verify(
            password.encode(), _unb64(digest)
        )
    except (InvalidKey, ValueError):
        return False
    return encoded is not None
