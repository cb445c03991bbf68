"""Verifying legacy Exchange user identity tokens (on-premises Exchange add-ins, R14).

An Outlook add-in on Exchange 2016/2019 gets a JWT from ``getUserIdentityTokenAsync``::

    header  {"typ": "JWT", "alg": "RS256", "x5t": "<certificate thumbprint>"}
    payload {"aud": "<add-in page URL>", "iss": "00000002-0000-0ff1-ce00-000000000000@<realm>",
             "nbf": …, "exp": …, "appctxsender": "00000002-…@<realm>",
             "isbrowserhostedapp": "true",
             "appctx": "{\\"msexchuid\\": \\"<mailbox id>\\", \\"version\\": \\"ExIdTok.V1\\",
                         \\"amurl\\": \\"https://mail.example.com:443/autodiscover/metadata/json/1\\"}"}

The signing certificate is published in the server's authentication metadata document at
``amurl`` (``keys[].keyvalue`` of type ``x509Certificate``, base64 DER). calgate fetches only
metadata URLs an account admin has allowed (the caller checks the token's ``amurl`` against
them *before* calling :meth:`ExchangeIdentityVerifier.verify`, so a token cannot make calgate
fetch an arbitrary URL), caches the document for an hour and fetches it again, at most once a
minute, when a token names a certificate it does not list (certificate renewal).

Checks: RS256 signature by the certificate whose SHA-1 thumbprint (base64url) is the header's
``x5t``; ``appctx.version`` is ``ExIdTok.V1``; ``appctx.amurl`` is the allowed URL; ``iss`` is
the Exchange application principal; ``aud`` is one of the add-in URLs the account accepts (a
configured URL ending in ``/`` accepts every page under it); ``nbf``/``exp`` with five minutes
of leeway. The user is identified by ``msexchuid`` at that metadata URL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from calgate.clock import Clock
from calgate.errors import ServiceUnavailable, Unauthenticated

__all__ = [
    "EXCHANGE_APP_ID",
    "EXID_VERSION",
    "ExchangeIdentity",
    "ExchangeIdentityVerifier",
    "app_context",
    "audience_matches",
    "thumbprint",
]

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
EXID_VERSION = "ExIdTok.V1"
_LEEWAY = 300
_TTL = timedelta(hours=1)
_REFETCH_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ExchangeIdentity:
    msexchuid: str
    metadata_url: str
    audience: str


def thumbprint(der: bytes) -> str:
    """The ``x5t`` of a certificate: base64url (unpadded) of its SHA-1 digest."""
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def app_context(claims: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``appctx`` claim as a mapping (Exchange sends it as a JSON string), or None."""
    raw = claims.get("appctx")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return dict(raw) if isinstance(raw, dict) else None


def audience_matches(audience: str, accepted: Collection[str]) -> bool:
    return any(
        audience == allowed or (allowed.endswith("/") and audience.startswith(allowed))
        for allowed in accepted
    )


@dataclass
class _Document:
    certificates: dict[str, RSAKey]
    fetched_at: datetime


class ExchangeIdentityVerifier:
    def __init__(self, *, http: httpx.AsyncClient, clock: Clock) -> None:
        self._http = http
        self._clock = clock
        self._documents: dict[str, _Document] = {}
        self._lock = asyncio.Lock()

    async def verify(
        self, token: str, *, metadata_url: str, audiences: Collection[str]
    ) -> ExchangeIdentity:
        """Verify ``token`` against the (allowed) ``metadata_url``; see the module doc."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthenticated("Exchange identity token is malformed") from exc
        if header.get("alg") != "RS256" or str(header.get("typ", "JWT")).upper() != "JWT":
            raise Unauthenticated("Exchange identity token must be an RS256 JWT")
        x5t = header.get("x5t")
        if not isinstance(x5t, str) or not x5t:
            raise Unauthenticated("Exchange identity token names no signing certificate (x5t)")
        key = await self._certificate(metadata_url, x5t)
        try:
            claims = dict(jwt.decode(token, key, algorithms=["RS256"]).claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise Unauthenticated("Exchange identity token signature does not verify") from exc
        return self._check(claims, metadata_url, audiences)

    def _check(
        self, claims: dict[str, Any], metadata_url: str, audiences: Collection[str]
    ) -> ExchangeIdentity:
        context = app_context(claims)
        if context is None or context.get("version") != EXID_VERSION:
            raise Unauthenticated(f"not an Exchange identity token ({EXID_VERSION})")
        if context.get("amurl") != metadata_url:
            raise Unauthenticated("Exchange identity token names another metadata URL")
        if not str(claims.get("iss", "")).startswith(f"{EXCHANGE_APP_ID}@"):
            raise Unauthenticated("Exchange identity token was not issued by Exchange")
        aud = claims.get("aud")
        if not isinstance(aud, str) or not audience_matches(aud, audiences):
            raise Unauthenticated("Exchange identity token is for another add-in (audience)")
        now = self._clock.now().timestamp()
        exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf"))
        if exp is None or exp + _LEEWAY < now:
            raise Unauthenticated("Exchange identity token has expired")
        if nbf is not None and nbf - _LEEWAY > now:
            raise Unauthenticated("Exchange identity token is not valid yet")
        user = context.get("msexchuid")
        if not isinstance(user, str) or not user:
            raise Unauthenticated("Exchange identity token names no mailbox (msexchuid)")
        return ExchangeIdentity(msexchuid=user, metadata_url=metadata_url, audience=aud)

    async def _certificate(self, url: str, x5t: str) -> RSAKey:
        async with self._lock:
            now = self._clock.now()
            doc = self._documents.get(url)
            stale = doc is None or now - doc.fetched_at >= _TTL
            unknown = doc is not None and x5t not in doc.certificates
            if stale or (unknown and doc is not None and now - doc.fetched_at >= _REFETCH_AFTER):
                doc = _Document(await self._fetch(url), now)
                self._documents[url] = doc
            assert doc is not None
            key = doc.certificates.get(x5t)
        if key is None:
            raise Unauthenticated(
                "Exchange identity token is signed with a certificate its server does not publish"
            )
        return key

    async def _fetch(self, url: str) -> dict[str, RSAKey]:
        host = httpx.URL(url).host
        try:
            response = await self._http.get(url, timeout=10)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(
                f"cannot read the Exchange authentication metadata at {host}"
            ) from exc
        keys = document.get("keys") if isinstance(document, dict) else None
        certificates: dict[str, RSAKey] = {}
        for entry in keys if isinstance(keys, list) else []:
            value = _key_value(entry)
            if value is None:
                continue
            try:
                der = base64.b64decode(value, validate=False)
                cert = x509.load_der_x509_certificate(der)
                pem = cert.public_key().public_bytes(
                    Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
                )
                certificates[thumbprint(der)] = RSAKey.import_key(pem)
            except (ValueError, TypeError, JoseError):
                continue  # not an RSA certificate: not one Exchange signs with
        if not certificates:
            raise ServiceUnavailable(
                f"the Exchange authentication metadata at {host} lists no signing certificate"
            )
        return certificates


def _key_value(entry: Any) -> str | None:
    if not isinstance(entry, dict) or str(entry.get("usage", "signing")).lower() != "signing":
        return None
    value = entry.get("keyvalue") or entry.get("keyValue")
    if not isinstance(value, dict) or str(value.get("type", "")).lower() != "x509certificate":
        return None
    raw = value.get("value")
    return raw if isinstance(raw, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):  # Exchange writes nbf/exp as strings
        try:
            return float(value)
        except ValueError:
            return None
    return None
