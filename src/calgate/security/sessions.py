"""User session tokens: short-lived JWTs (HS256) signed with a key derived from the server
secret, so that every calgate process behind a load balancer accepts them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from calgate.errors import Unauthenticated

__all__ = ["ISSUER", "SessionClaims", "SessionSigner"]

ISSUER = "calgate"
_TYP = "calgate-session"


@dataclass(frozen=True, slots=True)
class SessionClaims:
    user_id: uuid.UUID
    account_id: uuid.UUID
    expires_at: datetime
    session_id: str


class SessionSigner:
    def __init__(self, key: bytes, ttl: timedelta) -> None:
        self._key = OctKey.import_key(key)
        self.ttl = ttl

    def __repr__(self) -> str:
        return "SessionSigner(<redacted>)"

    def issue(
        self, *, user_id: uuid.UUID, account_id: uuid.UUID, now: datetime
    ) -> tuple[str, datetime]:
        expires = now + self.ttl
        claims = {
            "iss": ISSUER,
            "typ": _TYP,
            "sub": str(user_id),
            "acc": str(account_id),
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self._key, algorithms=["HS256"])
        return token, expires

    def verify(self, token: str, *, now: datetime) -> SessionClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(
                "session token is malformed or its signature does not verify"
            ) from exc
        c = decoded.claims
        if c.get("iss") != ISSUER or c.get("typ") != _TYP:
            raise Unauthenticated("not a calgate session token")
        exp = c.get("exp")
        if not isinstance(exp, int) or exp <= now.timestamp():
            raise Unauthenticated("session token has expired; sign in again (POST /v1/sessions)")
        try:
            return SessionClaims(
                user_id=uuid.UUID(c["sub"]),
                account_id=uuid.UUID(c["acc"]),
                expires_at=datetime.fromtimestamp(exp, tz=now.tzinfo),
                session_id=str(c.get("jti", "")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("session token claims are incomplete") from exc
