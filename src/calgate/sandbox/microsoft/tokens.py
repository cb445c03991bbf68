"""RS256 token signing for the Entra ID emulator, provider-protocols §1.

Kept independent of the OAuth endpoints so other token kinds (the nested-app-authentication
tokens an Outlook add-in presents, later) can be minted and verified with the same key set.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

__all__ = ["TokenError", "TokenSigner"]


class TokenError(Exception):
    """A presented token is malformed, wrongly signed, expired or for another audience."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class TokenSigner:
    """One signing key (rotatable) plus the public JWKS that verifiers fetch."""

    def __init__(self, *, key_size: int = 2048) -> None:
        self._key_size = key_size
        self._keys: list[RSAKey] = []
        self.rotate()

    @property
    def current(self) -> RSAKey:
        return self._keys[-1]

    def rotate(self) -> str:
        """Start signing with a new key; older keys stay published so issued tokens verify."""
        kid = secrets.token_urlsafe(20)
        key = RSAKey.generate_key(
            self._key_size, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
        )
        self._keys.append(key)
        del self._keys[:-3]
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for key in self._keys:
            public = key.as_dict(private=False)
            public["x5t"] = public["kid"]
            keys.append(public)
        return {"keys": keys}

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = self.current
        kid = str(key.kid)
        header = {"typ": "JWT", "alg": "RS256", "kid": kid, "x5t": kid}
        return jwt.encode(header, dict(claims), key)

    def verify(
        self,
        token: str,
        *,
        now: datetime,
        audiences: tuple[str, ...] | None = None,
        leeway: int = 0,
    ) -> dict[str, Any]:
        """Check signature, ``nbf``/``exp`` against ``now`` (the sandbox clock) and ``aud``."""
        try:
            decoded = jwt.decode(token, KeySet(list(self._keys)), algorithms=["RS256"])
        except (JoseError, ValueError) as exc:
            raise TokenError(f"signature or format invalid ({type(exc).__name__})") from exc
        claims: dict[str, Any] = dict(decoded.claims)
        ts = int(now.timestamp())
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + leeway <= ts:
            raise TokenError("Lifetime validation failed, the token is expired.", expired=True)
        nbf = claims.get("nbf")
        if isinstance(nbf, int) and nbf - leeway > ts:
            raise TokenError("Lifetime validation failed, the token is not yet valid.")
        if audiences is not None and claims.get("aud") not in audiences:
            raise TokenError("Invalid audience.")
        return claims
