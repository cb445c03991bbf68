"""Production sign-in: POST /v1/sessions with an OIDC ID token, verified against the issuer's
discovery document and JWKS, served here by a tiny identity provider reached over HTTP (an
ASGI app behind the runtime's injected httpx client)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response
from joserfc import jwt
from joserfc.jwk import RSAKey

from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import FrozenClock

from .conftest import assert_problem
from support.settings import IsolatedSettings

ISSUER = "https://idp.example.com"
AUDIENCE = "calgate-app"
Tenant = Any


@functools.cache
def _rsa_key(kid: str) -> RSAKey:
    """RSA keys are slow to make: one per key id for the whole run."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"}, private=True)


@dataclass
class IdP:
    """Signs ID tokens and publishes its keys, like any OIDC provider."""

    clock: FrozenClock
    keys: list[RSAKey] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)
    down: bool = False

    def add_key(self, kid: str) -> RSAKey:
        key = _rsa_key(kid)
        self.keys.append(key)
        return key

    def app(self) -> FastAPI:
        idp = FastAPI()

        @idp.get("/.well-known/openid-configuration")
        async def discovery() -> Response:
            self.hits.append("discovery")
            if self.down:
                return Response(status_code=503)
            doc = {
                "issuer": ISSUER,
                "jwks_uri": f"{ISSUER}/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
            return Response(json.dumps(doc), media_type="application/json")

        @idp.get("/keys")
        async def keys() -> Response:
            self.hits.append("jwks")
            if self.down:
                return Response(status_code=503)
            jwks = {"keys": [k.as_dict(private=False) for k in self.keys]}
            return Response(json.dumps(jwks), media_type="application/json")

        return idp

    def token(
        self, *, key: RSAKey | None = None, header: dict[str, Any] | None = None, **overrides: Any
    ) -> str:
        key = key or self.keys[0]
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "idp-user-1",
            "iat": now,
            "exp": now + 300,
            "email": "alice@example.com",
            "email_verified": True,
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        head = {"alg": "RS256", "kid": key.kid, **(header or {})}
        return jwt.encode(head, claims, key, algorithms=[head["alg"]])


@pytest.fixture
def idp(clock: FrozenClock) -> IdP:
    provider = IdP(clock)
    provider.add_key("k1")
    return provider


@pytest.fixture
async def runtime(
    make_settings: Callable[..., IsolatedSettings], clock: FrozenClock, idp: IdP
) -> AsyncIterator[Runtime]:
    """The app under test signs users in with OIDC; its outgoing HTTP reaches the IdP."""
    settings = make_settings(auth_mode="oidc", oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    transport = httpx.ASGITransport(app=idp.app())
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        rt = await build_runtime(settings, clock=clock, http=http, auto_migrate=False)
        try:
            yield rt
        finally:
            await rt.aclose()


@pytest.fixture
async def provisioned(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> tuple[Tenant, str]:
    t = await make_tenant()
    r = await client.post(
        f"/v1/accounts/{t.account_id}/users",
        json={"email": "alice@example.com", "external_id": "idp-user-1"},
        headers=t.admin,
    )
    assert r.status_code == 201, r.text
    return t, str(r.json()["id"])


async def _sign_in(client: httpx.AsyncClient, token: str, **extra: Any) -> httpx.Response:
    return await client.post("/v1/sessions", json={"id_token": token, **extra})


async def test_valid_id_token_signs_the_user_in(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str]
) -> None:
    _, user_id = provisioned

    r = await _sign_in(client, idp.token())

    assert r.status_code == 201, r.text
    assert r.json()["user"]["id"] == user_id
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["id"] == user_id
    # the issuer's keys are fetched once and cached
    await _sign_in(client, idp.token())
    assert idp.hits == ["discovery", "jwks"]


async def test_user_is_matched_by_verified_email_when_no_subject_is_stored(
    client: httpx.AsyncClient, idp: IdP, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    await client.post(
        f"/v1/accounts/{t.account_id}/users", json={"email": "bob@example.com"}, headers=t.admin
    )

    ok = await _sign_in(client, idp.token(sub="idp-bob", email="BOB@example.com"))
    assert ok.status_code == 201, ok.text

    unverified = await _sign_in(
        client, idp.token(sub="idp-bob", email="bob@example.com", email_verified=False)
    )
    assert "provisioned" in assert_problem(unverified, 401)["detail"]


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"aud": "someone-else"}, "another audience"),
        ({"aud": ["x", "y"]}, "another audience"),
        ({"iss": "https://evil.example.com"}, "another issuer"),
        ({"exp": "expired"}, "expired"),
        ({"exp": None}, "expired"),
        ({"nbf": "future"}, "not valid yet"),
        ({"sub": "idp-stranger", "email": "stranger@example.com"}, "no calgate user"),
    ],
)
async def test_id_tokens_that_do_not_fit_are_refused(
    client: httpx.AsyncClient,
    idp: IdP,
    provisioned: tuple[Tenant, str],
    clock: FrozenClock,
    claims: dict[str, Any],
    detail: str,
) -> None:
    now = int(clock.now().timestamp())
    if claims.get("exp") == "expired":
        claims = {"exp": now - 61}  # past the 60 s leeway
    if claims.get("nbf") == "future":
        claims = {"nbf": now + 120}

    r = await _sign_in(client, idp.token(**claims))

    assert detail in assert_problem(r, 401)["detail"]


async def test_token_signed_with_an_unpublished_key_is_refused(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str], clock: FrozenClock
) -> None:
    stranger = _rsa_key("not-theirs")
    await _sign_in(client, idp.token())  # keys cached
    clock.advance(minutes=2)

    r = await _sign_in(client, idp.token(key=stranger))

    assert "does not publish" in assert_problem(r, 401)["detail"]
    assert idp.hits.count("jwks") == 2  # it looked again once before refusing


async def test_forged_signature_with_a_known_kid_is_refused(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str]
) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)  # not _rsa_key
    r = await _sign_in(client, idp.token(key=impostor))
    assert "signature" in assert_problem(r, 401)["detail"]


async def test_key_rollover_is_followed(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str], clock: FrozenClock
) -> None:
    assert (await _sign_in(client, idp.token())).status_code == 201  # k1 cached
    new = idp.add_key("k2")
    clock.advance(minutes=2)

    r = await _sign_in(client, idp.token(key=new))

    assert r.status_code == 201, r.text


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str]
) -> None:
    payload = idp.token().split(".")[1]
    unsigned = f"{_b64({'alg': 'none', 'kid': 'k1'})}.{payload}."

    assert_problem(await _sign_in(client, unsigned), 401)


async def test_symmetric_alg_confusion_is_refused(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str]
) -> None:
    """HS256 "signed" with the issuer's public key, an old trick against verifiers that let
    the token choose the algorithm."""
    public_pem = idp.keys[0].as_pem(private=False)
    now = int(idp.clock.now().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "idp-user-1", "exp": now + 300}
    signing_input = f"{_b64({'alg': 'HS256', 'kid': 'k1'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    assert_problem(await _sign_in(client, token), 401)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30."])
async def test_malformed_id_tokens_are_refused(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str], token: str
) -> None:
    assert_problem(await _sign_in(client, token), 401)


async def test_unreachable_issuer_is_a_503(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str]
) -> None:
    idp.down = True
    body = assert_problem(await _sign_in(client, idp.token()), 503)
    assert "idp.example.com" in body["detail"]


async def test_oidc_server_refuses_passwords_with_a_clear_message(
    client: httpx.AsyncClient, provisioned: tuple[Tenant, str]
) -> None:
    r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": "x" * 9})
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "id_token"


async def test_session_from_oidc_expires_like_any_other(
    client: httpx.AsyncClient, idp: IdP, provisioned: tuple[Tenant, str], clock: FrozenClock
) -> None:
    token = (await _sign_in(client, idp.token())).json()["token"]
    clock.advance(timedelta(minutes=16))
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 401)
