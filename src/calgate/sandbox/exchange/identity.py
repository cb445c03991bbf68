"""Exchange user identity tokens and the authentication metadata document (on-premises
Exchange 2013+, as an Outlook add-in's ``getUserIdentityTokenAsync`` sees them).

The server signs identity tokens (RS256 JWTs, header ``x5t`` = SHA-1 thumbprint of its
signing certificate, base64url) with its OAuth/"Server Auth" certificate, and publishes that
certificate in the authentication metadata document at
``https://<server>:443/autodiscover/metadata/json/1`` — the ``amurl`` every token names::

    {"id": "_<guid>", "version": "1.0", "name": "Exchange", "realm": "*",
     "serviceName": "00000002-0000-0ff1-ce00-000000000000",
     "issuer": "00000002-0000-0ff1-ce00-000000000000@*",
     "allowedAudiences": ["00000002-0000-0ff1-ce00-000000000000@*"],
     "keys": [{"usage": "signing", "keyinfo": {"x5t": "<thumbprint>"},
               "keyvalue": {"type": "x509Certificate", "value": "<base64 DER>"}}],
     "endpoints": [{"location": "<amurl>", "protocol": "OAuth2", "usage": "metadata"}]}

Token payload: ``aud`` (the add-in page URL), ``iss``/``appctxsender``
(``00000002-0000-0ff1-ce00-000000000000@<realm>``), ``nbf``/``exp`` as strings (tokens live
8 hours), ``isbrowserhostedapp`` and ``appctx`` — a JSON *string* with ``msexchuid``,
``version`` (``ExIdTok.V1``) and ``amurl``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

__all__ = [
    "EXCHANGE_APP_ID",
    "IDENTITY_LIFETIME",
    "METADATA_PATH",
    "ExchangeSigner",
    "Mailbox",
    "identity_claims",
    "metadata_document",
]

EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
METADATA_PATH = "/autodiscover/metadata/json/1"
IDENTITY_LIFETIME = timedelta(hours=8)


@dataclass
class Mailbox:
    smtp: str
    display_name: str
    msexchuid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class _Certificate:
    key: rsa.RSAPrivateKey
    der: bytes

    @property
    def x5t(self) -> str:
        digest = hashlib.sha1(self.der, usedforsecurity=False).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class ExchangeSigner:
    """The server's signing certificate (renewable; the previous one stays published)."""

    def __init__(self, *, now: datetime, key_size: int = 2048) -> None:
        self._key_size = key_size
        self._certificates: list[_Certificate] = []
        self.renew(now)

    def renew(self, now: datetime) -> str:
        key = rsa.generate_private_key(public_exponent=65537, key_size=self._key_size)
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "Microsoft Exchange Server Auth Certificate")]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 30))
            .sign(key, hashes.SHA256())
        )
        self._certificates.append(_Certificate(key, cert.public_bytes(serialization.Encoding.DER)))
        del self._certificates[:-2]
        return self._certificates[-1].x5t

    @property
    def published(self) -> list[tuple[str, bytes]]:
        return [(c.x5t, c.der) for c in self._certificates]

    def sign(self, claims: dict[str, Any]) -> str:
        current = self._certificates[-1]
        pem = current.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        header = {"typ": "JWT", "alg": "RS256", "x5t": current.x5t}
        return jwt.encode(header, claims, RSAKey.import_key(pem), algorithms=["RS256"])


def metadata_document(signer: ExchangeSigner, amurl: str, document_id: str) -> dict[str, Any]:
    return {
        "id": document_id,
        "version": "1.0",
        "name": "Exchange",
        "realm": "*",
        "serviceName": EXCHANGE_APP_ID,
        "issuer": f"{EXCHANGE_APP_ID}@*",
        "allowedAudiences": [f"{EXCHANGE_APP_ID}@*"],
        "keys": [
            {
                "usage": "signing",
                "keyinfo": {"x5t": x5t},
                "keyvalue": {"type": "x509Certificate", "value": base64.b64encode(der).decode()},
            }
            for x5t, der in signer.published
        ],
        "endpoints": [{"location": amurl, "protocol": "OAuth2", "usage": "metadata"}],
    }


def identity_claims(
    *,
    mailbox: Mailbox,
    realm: str,
    audience: str,
    amurl: str,
    now: datetime,
    lifetime: timedelta = IDENTITY_LIFETIME,
) -> dict[str, Any]:
    start = int(now.timestamp())
    sender = f"{EXCHANGE_APP_ID}@{realm}"
    context = {"msexchuid": mailbox.msexchuid, "version": "ExIdTok.V1", "amurl": amurl}
    return {
        "aud": audience,
        "iss": sender,
        "nbf": str(start),
        "exp": str(start + int(lifetime.total_seconds())),
        "appctxsender": sender,
        "isbrowserhostedapp": "true",
        "appctx": json.dumps(context, separators=(",", ":")),
    }
