"""Google OAuth 2.0 emulator contract: provider-protocols §4.1 (endpoints, code exchange),
§4.2 (refresh, invalidation, revoke) and §10.1–2 (token endpoints, clocks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import CAL_API, CALENDAR, CALENDAR_READONLY, REDIRECT, GoogleWorld, pkce

DEAD = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


@contextmanager
def quiet_httpx() -> Iterator[None]:
    """The test's own httpx client logs request URLs at INFO; a token in a query string (as
    Google's revoke allows) would trip the canary guard, so mute that logger briefly."""
    logger = logging.getLogger("httpx")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


async def test_code_exchange_with_pkce_returns_google_token_response(google: GoogleWorld) -> None:
    """provider-protocols §4.1: access_token, expires_in 3599, refresh_token (offline),
    scope, token_type Bearer; §4.2 access tokens last one hour."""
    verifier, challenge = pkce()
    r = await google.authorize("alice@example.com", challenge=challenge)
    assert r.status_code == 302
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-123"]
    assert query["scope"] == [CALENDAR]

    r = await google.exchange(query["code"][0], code_verifier=verifier)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["scope"] == CALENDAR
    assert body["refresh_token"]
    assert body["access_token"]
    assert r.headers["cache-control"] == "no-store"
    assert google.core.counters_for("google")["token.code"] == 1

    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await google.http.get(f"{CAL_API}/users/me/calendarList", headers=headers)).is_success
    google.advance(seconds=3600)
    r = await google.http.get(f"{CAL_API}/users/me/calendarList", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["errors"][0]["reason"] == "authError"


@pytest.mark.parametrize("verifier", ["wrong-verifier-" + "x" * 40, None])
async def test_pkce_verifier_must_match_the_s256_challenge(
    google: GoogleWorld, verifier: str | None
) -> None:
    """provider-protocols §4.1: code_challenge (S256) is checked against code_verifier."""
    _, challenge = pkce()
    code = await google.code("alice@example.com", challenge=challenge)
    extra = {"code_verifier": verifier} if verifier else {}
    r = await google.exchange(code, **extra)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


async def test_code_is_single_use(google: GoogleWorld) -> None:
    """provider-protocols §4.2: code reuse gives invalid_grant / Bad Request."""
    code = await google.code("alice@example.com")
    assert (await google.exchange(code)).status_code == 200
    r = await google.exchange(code)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


async def test_refresh_returns_no_new_refresh_token(google: GoogleWorld) -> None:
    """provider-protocols §4.2 and §10.1: Google does not rotate refresh tokens."""
    tokens = await google.tokens()
    r = await google.refresh(tokens["refresh_token"])
    assert r.status_code == 200
    body = r.json()
    assert "refresh_token" not in body
    assert body["access_token"] != tokens["access_token"]
    assert body["expires_in"] == 3599
    assert body["scope"] == CALENDAR
    # the old refresh token keeps working
    assert (await google.refresh(tokens["refresh_token"])).status_code == 200
    assert google.core.counters_for("google")["token.refresh"] == 2


async def test_refresh_can_narrow_scope_but_not_widen(google: GoogleWorld) -> None:
    """provider-protocols §4.2: google-auth sends `scope` when narrowing."""
    tokens = await google.tokens(scopes=(CALENDAR, CALENDAR_READONLY))
    narrowed = await google.refresh(tokens["refresh_token"], scope=CALENDAR_READONLY)
    assert narrowed.json()["scope"] == CALENDAR_READONLY
    wider = await google.refresh(
        tokens["refresh_token"], scope="https://www.googleapis.com/auth/contacts"
    )
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


async def test_refresh_token_only_on_first_offline_consent_or_prompt_consent(
    google: GoogleWorld,
) -> None:
    """provider-protocols §4.1: a refresh_token is only present on the first consent with
    access_type=offline, or after prompt=consent."""
    online = await google.exchange(await google.code("alice@example.com", access_type="online"))
    assert "refresh_token" not in online.json()
    first = await google.tokens()
    assert "refresh_token" in first
    again = await google.tokens()
    assert "refresh_token" not in again
    forced = await google.tokens(prompt="consent")
    assert forced["refresh_token"] != first["refresh_token"]


async def test_wrong_client_secret_is_invalid_client(google: GoogleWorld) -> None:
    """provider-protocols §4.2: bad client → 401 invalid_client."""
    tokens = await google.tokens()
    google.client_secret = "not-the-secret"
    r = await google.refresh(tokens["refresh_token"])
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


async def test_authorize_errors_and_denied_consent(google: GoogleWorld) -> None:
    """provider-protocols §4.1: authorization parameters; a denied consent redirects with
    error=access_denied and the state."""
    r = await google.authorize("alice@example.com", redirect_uri="https://evil.example/cb")
    assert r.status_code == 400
    assert "redirect_uri_mismatch" in r.text
    r = await google.authorize("alice@example.com", client_id="unknown")
    assert r.status_code == 401
    assert "invalid_client" in r.text
    r = await google.authorize("alice@example.com", scopes=("https://example.com/bogus",))
    assert r.status_code == 400
    assert "invalid_scope" in r.text

    r = await google.authorize("alice@example.com", sandbox_consent="deny")
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query) == {
        "error": ["access_denied"],
        "state": ["st-123"],
    }
    # a user set to deny (control API) denies every authorization, whatever the URL says
    await google.http.patch("/_sandbox/google/users/bob@example.com", json={"consent": "deny"})
    r = await google.authorize("bob@example.com")
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["access_denied"]


async def test_consent_page_without_login_hint_lists_users(google: GoogleWorld) -> None:
    """provider-protocols §4.1: `login_hint` is optional; without it the user chooses."""
    r = await google.authorize("")
    assert r.status_code == 200
    assert "alice@example.com" in r.text
    assert "bob@example.com" in r.text
    assert "sandbox_consent=deny" in r.text


async def test_revoke_kills_refresh_and_access_tokens(google: GoogleWorld) -> None:
    """provider-protocols §4.2: POST /revoke token=… → 200; the refresh token then gives
    invalid_grant, its access tokens 401; an unknown token gives 400 invalid_token."""
    tokens = await google.tokens()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = await google.http.post("/google/revoke", data={"token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert (await google.refresh(tokens["refresh_token"])).json() == DEAD
    r = await google.http.get(f"{CAL_API}/users/me/calendarList", headers=headers)
    assert r.status_code == 401
    with quiet_httpx():
        r = await google.http.post("/google/revoke", params={"token": tokens["refresh_token"]})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_token"


async def test_revoking_an_access_token_revokes_its_grant(google: GoogleWorld) -> None:
    """provider-protocols §4.2: revoke takes an access or a refresh token (query form)."""
    tokens = await google.tokens()
    with quiet_httpx():
        r = await google.http.post("/google/revoke", params={"token": tokens["access_token"]})
    assert r.status_code == 200
    assert (await google.refresh(tokens["refresh_token"])).json() == DEAD


async def test_admin_revocation_R6(google: GoogleWorld) -> None:
    """provider-protocols §4.2 (user revoked the app's access): a Workspace admin revokes
    through the control API; refresh gives the documented invalid_grant body."""
    tokens = await google.tokens()
    other = await google.tokens("bob@example.com")
    r = await google.http.post("/_sandbox/google/users/alice@example.com/revoke", json={})
    assert r.json() == {"revoked": 1}
    r = await google.refresh(tokens["refresh_token"])
    assert (r.status_code, r.json()) == (400, DEAD)
    assert (await google.refresh(other["refresh_token"])).status_code == 200
    grants = (await google.http.get("/_sandbox/google/users/alice@example.com/grants")).json()
    assert grants[0]["dead"] == "admin_revoked"
    assert tokens["refresh_token"] not in str(grants)


async def test_testing_mode_refresh_tokens_expire_after_7_days(google: GoogleWorld) -> None:
    """provider-protocols §4.2 and §10.2: External + Testing apps get 7-day refresh tokens."""
    google.client_id, google.client_secret = await google.add_client(mode="testing")
    testing = await google.tokens()
    google.advance(days=6, hours=23)
    assert (await google.refresh(testing["refresh_token"])).status_code == 200
    google.advance(hours=1)
    assert (await google.refresh(testing["refresh_token"])).json() == DEAD


async def test_production_refresh_tokens_die_after_6_months_unused(google: GoogleWorld) -> None:
    """provider-protocols §4.2 and §10.2: unused for 6 months → invalid_grant; use resets it."""
    kept, idle = await google.tokens(), await google.tokens("bob@example.com")
    google.advance(days=8)  # a production app is not bound by the 7-day rule
    assert (await google.refresh(kept["refresh_token"])).status_code == 200
    google.advance(days=170)
    assert (await google.refresh(kept["refresh_token"])).status_code == 200
    google.advance(days=10)  # idle: 188 days unused; kept: used 10 days ago
    assert (await google.refresh(kept["refresh_token"])).status_code == 200
    assert (await google.refresh(idle["refresh_token"])).json() == DEAD


async def test_101st_refresh_token_invalidates_the_oldest(google: GoogleWorld) -> None:
    """provider-protocols §4.2 and §10.2: 100 refresh tokens per account per client id."""
    issued = [(await google.tokens(prompt="consent"))["refresh_token"] for _ in range(101)]
    assert (await google.refresh(issued[0])).json() == DEAD
    assert (await google.refresh(issued[1])).status_code == 200
    assert (await google.refresh(issued[100])).status_code == 200
    assert google.core.counters_for("google")["token.cap_evicted"] == 1


async def test_unsupported_grant_type(google: GoogleWorld) -> None:
    """provider-protocols §4.1: the token endpoint takes code, refresh and JWT bearer."""
    r = await google.http.post("/google/token", data={"grant_type": "password"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


async def test_tokeninfo_reports_scope_without_echoing_the_token(google: GoogleWorld) -> None:
    """provider-protocols §4.1: tokeninfo (debug) endpoint."""
    tokens = await google.tokens(scopes=(CALENDAR_READONLY,))
    with quiet_httpx():
        r = await google.http.get(
            "/google/tokeninfo", params={"access_token": tokens["access_token"]}
        )
    assert r.json()["scope"] == CALENDAR_READONLY
    assert r.json()["email"] == "alice@example.com"
    assert tokens["access_token"] not in r.text
