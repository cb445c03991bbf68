"""Keys derived from the server secret (``CALGATE_SECRET_KEY``) with HKDF-SHA256, one per
purpose, so that no two mechanisms ever share key material."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["ServerKeys", "derive"]


def derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"calgate/v1", info=purpose.encode()
    ).derive(secret)


@dataclass(frozen=True, slots=True, repr=False)
class ServerKeys:
    session: bytes
    audit: bytes
    state: bytes

    @classmethod
    def from_secret(cls, secret: str) -> ServerKeys:
        raw = secret.encode()
        return cls(
            session=derive(raw, "session-token"),
            audit=derive(raw, "audit-chain"),
            state=derive(raw, "oauth-state"),
        )

    def __repr__(self) -> str:
        return "ServerKeys(<redacted>)"
