"""Verifying OIDC ID tokens from the configured issuer (production sign-in).

The issuer's signing keys come from its JWKS (discovered from
``/.well-known/openid-configuration`` unless configured), cached for an hour and fetched
again when a token names a key id we have not seen (key rollover), at most once a minute.
Only asymmetric algorithms are accepted; ``iss``, ``aud``, ``exp`` and ``nbf`` are checked.

The same verifier checks JWT access tokens of an issuer, e.g. the Microsoft Entra ID tokens an
Outlook add-in obtains through nested app authentication (``label="access token"``;
:meth:`OidcVerifier.verify_claims` returns the verified claims and may narrow the accepted
audiences per call).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from calgate.clock import Clock
from calgate.errors import ServiceUnavailable, Unauthenticated

__all__ = ["ALGORITHMS", "OidcIdentity", "OidcVerifier"]

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_LEEWAY = 60


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool


class OidcVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Collection[str],
        http: httpx.AsyncClient,
        clock: Clock,
        jwks_url: str | None = None,
        label: str = "ID token",
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audiences = frozenset([audience] if isinstance(audience, str) else audience)
        self.label = label
        self._http = http
        self._clock = clock
        self._jwks_url = jwks_url
        self._keys: KeySet | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def _discover_jwks_url(self) -> str:
        if self._jwks_url:
            return self._jwks_url
        url = f"{self.issuer}/.well-known/openid-configuration"
        doc = await self._get_json(url)
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ServiceUnavailable("the OIDC issuer's discovery document has no jwks_uri")
        self._jwks_url = jwks_uri
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=10)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(
                f"cannot reach the OIDC issuer at {httpx.URL(url).host}"
            ) from exc
        if not isinstance(data, dict):
            raise ServiceUnavailable("the OIDC issuer answered something that is not JSON")
        return data

    async def _key_set(self, *, refresh: bool = False) -> KeySet:
        async with self._lock:
            now = self._clock.now()
            fresh = self._fetched_at is not None and now - self._fetched_at < timedelta(hours=1)
            recently = self._fetched_at is not None and now - self._fetched_at < timedelta(
                minutes=1
            )
            if self._keys is None or not fresh or (refresh and not recently):
                jwks = await self._get_json(await self._discover_jwks_url())
                self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
                self._fetched_at = now
            return self._keys

    async def verify(self, id_token: str) -> OidcIdentity:
        claims = await self.verify_claims(id_token)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("ID token has no subject")
        email = claims.get("email") or claims.get("preferred_username")
        return OidcIdentity(
            issuer=self.issuer,
            subject=sub,
            email=email.lower() if isinstance(email, str) else None,
            email_verified=bool(claims.get("email_verified", False)),
        )

    async def verify_claims(
        self, token: str, *, audiences: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Check signature, ``iss``, ``aud`` (one of ``audiences``, default the configured
        ones), ``exp`` and ``nbf``; return the claims or raise `Unauthenticated`."""
        kind = self.label
        try:
            decoded = await self._decode(token, await self._key_set())
        except _UnknownKey:
            try:
                decoded = await self._decode(token, await self._key_set(refresh=True))
            except _UnknownKey:
                raise Unauthenticated(
                    f"{kind} is signed with a key the issuer does not publish"
                ) from None
        claims = dict(decoded.claims)
        now = self._clock.now().timestamp()
        if str(claims.get("iss", "")).rstrip("/") != self.issuer:
            raise Unauthenticated(f"{kind} was issued by another issuer")
        aud = claims.get("aud")
        presented = aud if isinstance(aud, list) else [aud]
        accepted = self.audiences if audiences is None else frozenset(audiences)
        if not accepted.intersection(a for a in presented if isinstance(a, str)):
            raise Unauthenticated(f"{kind} is for another audience")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + _LEEWAY < now:
            raise Unauthenticated(f"{kind} has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - _LEEWAY > now:
            raise Unauthenticated(f"{kind} is not valid yet")
        return claims

    async def _decode(self, token: str, keys: KeySet) -> jwt.Token:
        kind = self.label
        try:
            return jwt.decode(token, keys, algorithms=ALGORITHMS)
        except InvalidKeyIdError as exc:  # a key id we have not fetched (yet): rollover
            raise _UnknownKey from exc
        except JoseError as exc:
            raise Unauthenticated(f"{kind} signature does not verify") from exc
        except (ValueError, TypeError) as exc:
            raise Unauthenticated(f"{kind} is malformed") from exc


class _UnknownKey(Exception):
    pass
