"""The Exchange emulator's identity tokens and authentication metadata document, pinned to
the documented formats ("Inside the Exchange identity token", "Validate an Exchange identity
token"): RS256 JWT with an ``x5t`` header, ``appctx`` a JSON string (``msexchuid``,
``version`` ExIdTok.V1, ``amurl``), ``nbf``/``exp`` as strings 8 hours apart, and the signing
certificate in the metadata document at ``amurl``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from calgate.sandbox.app import create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.exchange import ExchangeEmulator
from calgate.sandbox.exchange.emulator import SANDBOX_ADDIN_URL

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
METADATA = "http://sandbox.test/exchange/autodiscover/metadata/json/1"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    core = SandboxCore()
    core.clock.freeze(T0)
    app = create_sandbox_app([ExchangeEmulator(core)], core=core)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
        ) as client,
    ):
        yield client


async def _certificates(http: httpx.AsyncClient) -> dict[str, x509.Certificate]:
    doc = (await http.get(METADATA)).json()
    assert doc["serviceName"] == "00000002-0000-0ff1-ce00-000000000000"
    assert doc["endpoints"] == [{"location": METADATA, "protocol": "OAuth2", "usage": "metadata"}]
    found = {}
    for key in doc["keys"]:
        assert key["usage"] == "signing"
        assert key["keyvalue"]["type"] == "x509Certificate"
        der = base64.b64decode(key["keyvalue"]["value"])
        thumb = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")
        assert key["keyinfo"]["x5t"] == thumb
        found[thumb] = x509.load_der_x509_certificate(der)
    return found


async def test_identity_token_has_the_documented_shape_and_verifies(
    http: httpx.AsyncClient,
) -> None:
    r = await http.post(
        "/_sandbox/exchange/identity-token", json={"mailbox": "dave@fabrikam.example"}
    )
    assert r.status_code == 200, r.text
    minted = r.json()
    head, payload, signature = minted["token"].split(".")
    header = json.loads(_b64(head))
    claims = json.loads(_b64(payload))
    assert (header["typ"], header["alg"]) == ("JWT", "RS256")
    assert claims["aud"] == SANDBOX_ADDIN_URL
    assert claims["iss"] == "00000002-0000-0ff1-ce00-000000000000@mail.fabrikam.example"
    assert claims["appctxsender"] == claims["iss"]
    assert claims["isbrowserhostedapp"] == "true"
    assert int(claims["exp"]) - int(claims["nbf"]) == 8 * 3600
    assert int(claims["nbf"]) == int(T0.timestamp())
    context = json.loads(claims["appctx"])  # a JSON string inside the JWT
    assert context == {"msexchuid": minted["msexchuid"], "version": "ExIdTok.V1", "amurl": METADATA}

    certificate = (await _certificates(http))[header["x5t"]]
    public = certificate.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        _b64(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


async def test_a_renewed_certificate_signs_new_tokens_and_both_stay_published(
    http: httpx.AsyncClient,
) -> None:
    before = set(await _certificates(http))
    renewed = (await http.post("/_sandbox/exchange/certificate/renew")).json()["x5t"]
    after = set(await _certificates(http))
    assert after == before | {renewed}
    token = (
        await http.post(
            "/_sandbox/exchange/identity-token", json={"mailbox": "erin@fabrikam.example"}
        )
    ).json()["token"]
    assert json.loads(_b64(token.split(".")[0]))["x5t"] == renewed


async def test_mailboxes_are_added_and_unknown_ones_refused(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/_sandbox/exchange/mailboxes", json={"smtp": "frank@fabrikam.example", "msexchuid": "m-1"}
    )
    assert r.status_code == 201
    r = await http.post("/_sandbox/exchange/identity-token", json={"mailbox": "m-1"})
    assert (
        json.loads(json.loads(_b64(r.json()["token"].split(".")[1]))["appctx"])["msexchuid"]
        == "m-1"
    )
    assert (
        await http.post("/_sandbox/exchange/mailboxes", json={"smtp": "frank@fabrikam.example"})
    ).status_code == 409
    r = await http.post("/_sandbox/exchange/identity-token", json={"mailbox": "nobody@x.example"})
    assert r.status_code == 404


async def test_faults_apply_to_the_metadata_document(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/_sandbox/faults", json={"kind": "status", "provider": "exchange", "status": 503}
    )
    assert r.status_code == 201
    assert (await http.get(METADATA)).status_code == 503
    assert (await http.get(METADATA)).status_code == 200
