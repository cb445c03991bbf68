"""Service accounts with domain-wide delegation (rooms, Z3): provider-protocols §4.4."""

from __future__ import annotations

import time
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from .conftest import CAL_API, CALENDAR, CALENDAR_READONLY, GoogleWorld

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SA = "rooms@calgate-test.iam.gserviceaccount.com"


async def _key_file(google: GoogleWorld) -> dict[str, Any]:
    google.emulator.add_service_account(SA, {CALENDAR_READONLY})
    r = await google.http.get(f"/_sandbox/google/service-accounts/{SA}/key")
    assert r.status_code == 200
    key: dict[str, Any] = r.json()
    return key


def _assertion(key: dict[str, Any], *, signer: RSAKey | None = None, **claims: Any) -> str:
    now = int(time.time())  # the sandbox clock is frozen at T0; set iat/exp from it below
    body = {
        "iss": key["client_email"],
        "scope": CALENDAR_READONLY,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    private = signer or RSAKey.import_key(key["private_key"])
    return jwt.encode({"alg": "RS256", "kid": key["private_key_id"]}, body, private)


async def _grant(google: GoogleWorld, assertion: str) -> httpx.Response:
    return await google.http.post(
        "/google/token", data={"grant_type": JWT_BEARER, "assertion": assertion}
    )


def _times(google: GoogleWorld) -> dict[str, int]:
    now = int(google.core.clock.now().timestamp())
    return {"iat": now, "exp": now + 3600}


async def test_jwt_bearer_impersonates_the_subject_Z3(google: GoogleWorld) -> None:
    """provider-protocols §4.4: RS256 assertion with kid, iss, scope, aud, iat, exp, sub →
    access token (no refresh token) acting as `sub`."""
    key = await _key_file(google)
    r = await _grant(google, _assertion(key, sub="alice@example.com", **_times(google)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert "refresh_token" not in body
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    r = await google.http.get(f"{CAL_API}/users/me/calendarList", headers=headers)
    assert [c["id"] for c in r.json()["items"]] == ["alice@example.com"]
    assert google.core.counters_for("google")["token.jwt_bearer"] == 1


async def test_jwt_bearer_failures(google: GoogleWorld) -> None:
    """provider-protocols §4.4: bad signature or unknown `sub` → 400 invalid_grant; scopes
    not authorised for delegation → 401 unauthorized_client; exp ≤ 1 h after iat."""
    key = await _key_file(google)
    times = _times(google)
    forged = _assertion(
        key, signer=RSAKey.generate_key(2048, private=True), sub="alice@example.com", **times
    )
    r = await _grant(google, forged)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")

    r = await _grant(google, _assertion(key, sub="nobody@example.com", **times))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")

    r = await _grant(google, _assertion(key, sub="alice@example.com", scope=CALENDAR, **times))
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized_client"
    assert r.json()["error_description"].startswith("Client is unauthorized")

    long = {"iat": times["iat"], "exp": times["iat"] + 7200}
    r = await _grant(google, _assertion(key, sub="alice@example.com", **long))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")

    stale = {"iat": times["iat"] - 7200, "exp": times["iat"] - 3600}
    r = await _grant(google, _assertion(key, sub="alice@example.com", **stale))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")


async def test_delegation_can_be_granted_through_the_control_api(google: GoogleWorld) -> None:
    """provider-protocols §4.4: the admin authorises the client id for scopes."""
    key = await _key_file(google)
    r = await google.http.put(
        f"/_sandbox/google/service-accounts/{SA}/delegation", json={"scopes": [CALENDAR]}
    )
    assert r.json()["client_id"] == key["client_id"]
    r = await _grant(
        google, _assertion(key, sub="alice@example.com", scope=CALENDAR, **_times(google))
    )
    assert r.status_code == 200
