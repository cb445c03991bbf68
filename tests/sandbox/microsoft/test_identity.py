"""Entra ID v2.0 emulator: discovery, JWKS, authorize, token grants and AADSTS errors."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from .conftest import ALICE, BOB, REDIRECT, ROOM, MsWorld, pkce
from support.canary import MARKER

DAY = 86_400


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def assert_aadsts(r: httpx.Response, error: str, code: int, status: int = 400) -> None:
    """provider-protocols §1.5: error, error_description starting with the AADSTS code,
    error_codes, timestamp, trace_id, correlation_id."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert body["error_codes"] == [code]
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert "Trace ID:" in body["error_description"]
    assert MARKER not in r.text


async def test_discovery_and_jwks_verify_issued_tokens(world: MsWorld) -> None:
    """provider-protocols §1.1: OpenID configuration per tenant (and common), JWKS with the
    keys that sign tokens (RS256)."""
    r = await world.http.get(f"/microsoft/{world.tenant_id}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200
    conf = r.json()
    base = "http://sandbox.test/microsoft"
    assert conf["issuer"] == f"{base}/{world.tenant_id}/v2.0"
    assert conf["token_endpoint"] == f"{base}/{world.tenant_id}/oauth2/v2.0/token"
    assert conf["id_token_signing_alg_values_supported"] == ["RS256"]
    common = (
        await world.http.get("/microsoft/common/v2.0/.well-known/openid-configuration")
    ).json()
    assert common["issuer"] == f"{base}/{{tenantid}}/v2.0"
    by_domain = await world.http.get(
        "/microsoft/contoso.example/v2.0/.well-known/openid-configuration"
    )
    assert by_domain.json()["issuer"] == conf["issuer"]
    unknown = await world.http.get("/microsoft/nope.example/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]

    keys = KeySet.import_key_set(
        (await world.http.get(conf["jwks_uri"].replace("http://sandbox.test", ""))).json()
    )
    tokens = await world.user_tokens(ALICE, "Calendars.Read")
    decoded = jwt.decode(tokens["access_token"], keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    id_token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    assert id_token.claims["aud"] == world.client_id
    assert id_token.claims["iss"] == conf["issuer"]
    assert id_token.claims["preferred_username"] == ALICE


async def test_authorization_code_with_pkce_issues_realistic_tokens(world: MsWorld) -> None:
    """provider-protocols §1.2: code + PKCE S256 → access, refresh and ID token; the access
    token lives 60–90 minutes and carries aud/iss/tid/oid/scp/exp."""
    tokens = await world.user_tokens(ALICE, "Calendars.Read Contacts.Read")
    assert tokens["token_type"] == "Bearer"
    assert 3600 <= tokens["expires_in"] <= 5400
    assert tokens["ext_expires_in"] == tokens["expires_in"]
    assert "https://graph.microsoft.com/Calendars.Read" in tokens["scope"].split()
    assert tokens["refresh_token"]
    assert tokens["id_token"]
    c = claims(tokens["access_token"])
    assert c["aud"] == "https://graph.microsoft.com"
    assert c["tid"] == world.tenant_id
    assert c["oid"] == world.users[ALICE]
    assert c["appid"] == world.client_id
    assert set(c["scp"].split()) == {"Calendars.Read", "Contacts.Read"}
    assert c["exp"] - c["iat"] == tokens["expires_in"]
    assert c["iss"].endswith(f"/{world.tenant_id}/")


async def test_access_token_lifetime_is_random_between_60_and_90_minutes(world: MsWorld) -> None:
    """provider-protocols §1.2, §10.2: lifetimes are randomised per token."""
    tokens = await world.user_tokens()
    lifetimes = set()
    for _ in range(8):
        r = await world.token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        lifetimes.add(r.json()["expires_in"])
    assert all(3600 <= t <= 5400 for t in lifetimes)
    assert len(lifetimes) > 1


async def test_no_refresh_token_without_offline_access(world: MsWorld) -> None:
    """provider-protocols §1.2: refresh_token only with offline_access; id_token only with
    openid."""
    verifier, challenge = pkce()
    code = await world.code(ALICE, "Calendars.Read", challenge)
    r = await world.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
    )
    assert r.status_code == 200
    assert "refresh_token" not in r.json()
    assert "id_token" not in r.json()


async def test_code_is_single_use_54005(world: MsWorld) -> None:
    """provider-protocols §1.5: a redeemed code answers invalid_grant AADSTS54005."""
    verifier, challenge = pkce()
    code = await world.code(ALICE, "offline_access Calendars.Read", challenge)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    assert (await world.token_request(form)).status_code == 200
    assert_aadsts(await world.token_request(form), "invalid_grant", 54005)


async def test_pkce_verifier_mismatch_501481(world: MsWorld) -> None:
    """provider-protocols §1.5: a code_verifier that does not match the challenge."""
    _, challenge = pkce()
    code = await world.code(ALICE, "offline_access Calendars.Read", challenge)
    wrong, _ = pkce()
    r = await world.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": wrong,
        }
    )
    assert_aadsts(r, "invalid_grant", 501481)


async def test_code_expires_after_ten_minutes(world: MsWorld) -> None:
    """provider-protocols §1.2: the code is short-lived (about 10 minutes)."""
    verifier, challenge = pkce()
    code = await world.code(ALICE, "Calendars.Read", challenge)
    world.core.clock.advance(601)
    r = await world.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
    )
    assert_aadsts(r, "invalid_grant", 70008)


async def test_refresh_rotates_and_old_token_stays_valid(world: MsWorld) -> None:
    """provider-protocols §1.3, §10.1: a new refresh token on every refresh; the old one is not
    revoked."""
    first = (await world.user_tokens())["refresh_token"]
    r1 = await world.token_request({"grant_type": "refresh_token", "refresh_token": first})
    assert r1.status_code == 200
    second = r1.json()["refresh_token"]
    assert second != first
    r2 = await world.token_request({"grant_type": "refresh_token", "refresh_token": first})
    assert r2.status_code == 200
    assert r2.json()["refresh_token"] not in (first, second)
    assert world.core.counters_for("microsoft")["token.refresh"] == 2


async def test_refresh_token_expires_after_90_days_of_inactivity_700082(world: MsWorld) -> None:
    """provider-protocols §1.3, §1.5: 90-day inactivity window on the sandbox clock."""
    rt = (await world.user_tokens())["refresh_token"]
    world.core.clock.advance(89 * DAY)
    r = await world.token_request({"grant_type": "refresh_token", "refresh_token": rt})
    assert r.status_code == 200
    fresh = r.json()["refresh_token"]
    world.core.clock.advance(2 * DAY)  # the first token is now 91 days old, the fresh one 2
    dead = await world.token_request({"grant_type": "refresh_token", "refresh_token": rt})
    assert_aadsts(dead, "invalid_grant", 700082)
    alive = await world.token_request({"grant_type": "refresh_token", "refresh_token": fresh})
    assert alive.status_code == 200


async def test_admin_revocation_kills_refresh_tokens_50173(world: MsWorld) -> None:
    """provider-protocols §1.3, §1.5: an admin revoking the user's sessions (or removing the
    app) invalidates refresh tokens with AADSTS50173; other users are unaffected."""
    alice = (await world.user_tokens(ALICE))["refresh_token"]
    bob = (await world.user_tokens(BOB))["refresh_token"]
    await world.control("POST", f"/users/{ALICE}/revoke", json={})
    r = await world.token_request({"grant_type": "refresh_token", "refresh_token": alice})
    assert_aadsts(r, "invalid_grant", 50173)
    ok = await world.token_request({"grant_type": "refresh_token", "refresh_token": bob})
    assert ok.status_code == 200
    # signing in again gives working tokens
    again = (await world.user_tokens(ALICE))["refresh_token"]
    assert (
        await world.token_request({"grant_type": "refresh_token", "refresh_token": again})
    ).status_code == 200


async def test_removing_the_apps_grant_revokes_that_app_only_50173(world: MsWorld) -> None:
    """provider-protocols §1.3: grant removed for one app → 50173 for that app's tokens."""
    rt = (await world.user_tokens(BOB))["refresh_token"]
    await world.control(
        "POST", f"/users/{BOB}/revoke", json={"client_id": world.client_id, "reason": "app_removed"}
    )
    r = await world.token_request({"grant_type": "refresh_token", "refresh_token": rt})
    assert_aadsts(r, "invalid_grant", 50173)


async def test_client_credentials_gives_roles_and_no_refresh_token(world: MsWorld) -> None:
    """provider-protocols §1.4: /.default only, a real tenant, roles claim, never a refresh
    token."""
    r = await world.token_request(
        {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body
    assert 3600 <= body["expires_in"] <= 5400
    c = claims(body["access_token"])
    assert sorted(c["roles"]) == ["Calendars.ReadWrite", "User.Read.All"]
    assert "scp" not in c
    assert c["idtyp"] == "app"
    assert c["tid"] == world.tenant_id
    bad_scope = await world.token_request(
        {"grant_type": "client_credentials", "scope": "Calendars.Read"}
    )
    assert_aadsts(bad_scope, "invalid_scope", 1002012)
    on_common = await world.token_request(
        {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        tenant="common",
    )
    assert_aadsts(on_common, "invalid_request", 9001023)
    assert world.core.counters_for("microsoft")["token.client_credentials"] == 1


async def test_client_authentication_errors_are_invalid_client(world: MsWorld) -> None:
    """provider-protocols §1.5: wrong secret 7000215, missing secret 7000218, unknown app
    700016; the secret never appears in the error."""
    form = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    wrong = await world.http.post(
        f"/microsoft/{world.tenant_id}/oauth2/v2.0/token",
        data={**form, "client_id": world.client_id, "client_secret": "not-the-secret"},
    )
    assert_aadsts(wrong, "invalid_client", 7000215, status=401)
    missing = await world.http.post(
        f"/microsoft/{world.tenant_id}/oauth2/v2.0/token",
        data={**form, "client_id": world.client_id},
    )
    assert_aadsts(missing, "invalid_client", 7000218, status=401)
    unknown = await world.token_request(
        {**form, "client_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert_aadsts(unknown, "unauthorized_client", 700016)
    basic = base64.b64encode(f"{world.client_id}:{world.client_secret}".encode()).decode()
    ok = await world.http.post(
        f"/microsoft/{world.tenant_id}/oauth2/v2.0/token",
        data=form,
        headers={"Authorization": f"Basic {basic}"},
    )
    assert ok.status_code == 200


async def test_invalid_scope_70011_and_unconsented_scope_on_refresh(world: MsWorld) -> None:
    """provider-protocols §1.3, §1.5: unknown scope → invalid_scope 70011 (authorize redirects
    with it); refresh asking beyond the consent → invalid_grant 65001."""
    r = await world.authorize(ALICE, "openid Calendars.Fly")
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["invalid_scope"]
    assert q["error_description"][0].startswith("AADSTS70011")
    rt = (await world.user_tokens(ALICE, "Calendars.Read"))["refresh_token"]
    more = await world.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "scope": "Calendars.ReadWrite offline_access",
        }
    )
    assert_aadsts(more, "invalid_grant", 65001)
    narrower = await world.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "scope": "Calendars.Read offline_access",
        }
    )
    assert narrower.status_code == 200


async def test_authorize_denied_consent_redirects_access_denied(world: MsWorld) -> None:
    """provider-protocols §1.2: error redirect ``?error=access_denied`` with the state."""
    await world.control("PATCH", f"/users/{BOB}", json={"consent": "deny"})
    r = await world.authorize(BOB, "openid offline_access Calendars.Read")
    assert r.status_code == 302
    location = r.headers["location"]
    assert location.startswith(REDIRECT)
    q = parse_qs(urlsplit(location).query)
    assert q["error"] == ["access_denied"]
    assert q["state"] == ["st-1"]


async def test_authorize_rejects_unregistered_redirect_and_picks_accounts(world: MsWorld) -> None:
    """provider-protocols §1.2: the redirect URI must match exactly (error page, no redirect);
    without login_hint the user picks an account; rooms cannot sign in."""
    bad = await world.authorize(ALICE, "Calendars.Read", redirect_uri="https://evil.example/cb")
    assert bad.status_code == 400
    assert "AADSTS50011" in bad.text
    r = await world.http.get(
        f"/microsoft/{world.tenant_id}/oauth2/v2.0/authorize",
        params={
            "client_id": world.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "Calendars.Read",
        },
    )
    assert r.status_code == 200
    assert ALICE in r.text
    assert ROOM not in r.text
    silent = await world.authorize("nobody@contoso.example", "Calendars.Read", prompt="none")
    assert parse_qs(urlsplit(silent.headers["location"]).query)["error"] == ["login_required"]
