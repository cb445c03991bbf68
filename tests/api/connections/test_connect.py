"""Connecting a calendar: authorization code + PKCE S256 through calgate's start and callback
URLs, against the Google and Microsoft emulators; and every misuse RFC 9700 §2.1/§4.5/§4.7
names refused with nothing stored."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ..conftest import assert_problem
from .helpers import (
    audit_entries,
    connection_rows,
    open_flow,
    state_rows,
    user_event_types,
    vault_fields,
)
from support.connect import GOOGLE_USER, MS_USER, connect, start

CASES = [("google", GOOGLE_USER), ("microsoft", MS_USER)]


@pytest.mark.parametrize(("provider", "login"), CASES)
async def test_connect_stores_only_the_refresh_and_access_token_R1(
    backend, client, browser, alice, runtime, sandbox, provider, login
):
    result = await connect(client, browser, alice.headers, provider, login)

    rows = await connection_rows(runtime)
    assert len(rows) == 1
    row = rows[0]
    assert (row["provider"], row["status"], row["account_email"]) == (provider, "active", login)
    assert str(row["id"]).replace("-", "") == result["connection_id"].replace("-", "")
    # R1: the vault holds the refresh token (and the access token cache), nothing else.
    assert await vault_fields(runtime, "connections", result["connection_id"]) == {
        "refresh_token",
        "access_token",
    }
    # The started flow is spent: neither its row nor its PKCE verifier remain.
    assert await state_rows(runtime) == 0
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        left = await conn.execute(
            text("SELECT count(*) FROM vault_secrets WHERE owner='oauth_states'")
        )
        assert left.scalar_one() == 0

    # The user's open apps are told, so that they vend again and show the calendar now.
    assert await user_event_types(runtime) == ["connection.connected"]
    listed = (await client.get("/v1/me/connections", headers=alice.headers)).json()
    assert [c["id"] for c in listed] == [result["connection_id"]]
    assert listed[0]["granted"]["calendar"] == "read_write"
    audit = await audit_entries(runtime, alice.tenant.account_id)
    created = [e for e in audit if e.action == "connection.created"]
    assert len(created) == 1
    assert created[0].details["provider"] == provider
    assert created[0].actor == f"user:{alice.user_id}"


async def test_the_flow_uses_pkce_s256_state_and_the_exact_redirect_uri(
    client, browser, alice, sandbox
):
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    assert started["authorization_url"].startswith("http://testserver/v1/oauth/start?state=")
    r = await browser.get(started["authorization_url"], follow_redirects=False)
    assert r.status_code == 302
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/v1/oauth" in cookie
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url(SHA-256), no padding
    assert query["redirect_uri"] == ["http://testserver/v1/oauth/callback"]
    assert query["access_type"] == ["offline"]
    assert query["state"][0] in started["authorization_url"]
    assert "code_verifier" not in r.headers["location"]


async def test_reconnecting_the_same_account_renews_the_same_connection(
    client, browser, alice, runtime, sandbox
):
    first = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    again = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    assert again["status"] == "reconnected"
    assert again["connection_id"] == first["connection_id"]
    rows = await connection_rows(runtime)
    assert len(rows) == 1
    assert rows[0]["token_version"] == 2
    actions = [e.action for e in await audit_entries(runtime, alice.tenant.account_id)]
    assert actions.count("connection.reconnected") == 1
    assert await user_event_types(runtime) == ["connection.connected"] * 2


# RFC 9700 misuse: each is refused and stores nothing -------------------------------------
async def _nothing_stored(runtime) -> None:
    assert await connection_rows(runtime) == []
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        n = await conn.execute(text("SELECT count(*) FROM vault_secrets WHERE owner='connections'"))
        assert n.scalar_one() == 0


async def test_a_reused_state_is_refused(client, browser, alice, runtime, sandbox):
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    callback = await open_flow(browser, started["authorization_url"])
    assert (await browser.get(callback)).status_code == 200
    replay = await browser.get(callback)
    body = assert_problem(replay, 400)
    assert body["reason"] == "unknown_state"
    assert "already completed" in body["detail"]
    assert len(await connection_rows(runtime)) == 1  # only the first one


async def test_an_expired_state_is_refused(client, browser, alice, runtime, clock, sandbox):
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    callback = await open_flow(browser, started["authorization_url"])
    clock.advance(minutes=11)  # the state lives at most 10 minutes
    body = assert_problem(await browser.get(callback), 400)
    assert body["reason"] == "expired_state"
    await _nothing_stored(runtime)
    assert await state_rows(runtime) == 0


async def test_a_state_lives_at_most_ten_minutes(client, alice, clock, sandbox):
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    from datetime import datetime

    expires = datetime.fromisoformat(started["expires_at"])
    assert expires - clock.now() <= timedelta(minutes=10)


async def test_a_start_link_opened_after_expiry_is_refused(client, browser, alice, clock, sandbox):
    started = await start(client, alice.headers, "microsoft", MS_USER)
    clock.advance(minutes=10, seconds=1)
    r = await browser.get(started["authorization_url"], follow_redirects=False)
    assert assert_problem(r, 400)["reason"] == "unknown_state"


async def test_a_start_link_opens_only_once(client, browser, sandbox, alice):
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    first = await browser.get(started["authorization_url"], follow_redirects=False)
    assert first.status_code == 302
    other_browser = sandbox.browser(browser._transport.routes["testserver"].app)
    second = await other_browser.get(started["authorization_url"], follow_redirects=False)
    assert assert_problem(second, 400)["reason"] == "unknown_state"


async def test_a_callback_in_another_browser_is_refused(
    client, browser, alice, runtime, sandbox, app
):
    """CSRF / login injection (§4.7): the attacker's browser completes the victim's flow."""
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    callback = await open_flow(browser, started["authorization_url"])
    attacker = sandbox.browser(app)
    body = assert_problem(await attacker.get(callback), 400)
    assert body["reason"] == "foreign_browser"
    await _nothing_stored(runtime)
    # …and the state is spent: the victim cannot be made to finish it later either.
    assert assert_problem(await browser.get(callback), 400)["reason"] == "unknown_state"


async def test_another_users_state_with_ones_own_cookie_is_refused(
    client, browser, alice, make_user, runtime, sandbox, app
):
    """Bob's browser holds Bob's flow cookie; it cannot complete Alice's state."""
    bob = await make_user(alice.tenant, "bob@acme.example")
    bob_browser = sandbox.browser(app)
    mine = await start(client, bob.headers, "google", "bob@example.com")
    await open_flow(bob_browser, mine["authorization_url"])
    theirs = await start(client, alice.headers, "google", GOOGLE_USER)
    alice_callback = await open_flow(browser, theirs["authorization_url"])
    body = assert_problem(await bob_browser.get(alice_callback), 400)
    assert body["reason"] == "foreign_browser"
    await _nothing_stored(runtime)


async def test_an_injected_code_fails_pkce_at_the_provider(
    client, browser, alice, runtime, sandbox
):
    """Code injection (§4.5): a code from one flow with another flow's state. calgate sends
    the second flow's verifier; the provider refuses the mismatch; nothing is stored."""
    one = await start(client, alice.headers, "microsoft", MS_USER)
    two = await start(client, alice.headers, "microsoft", MS_USER)
    callback_one = await open_flow(browser, one["authorization_url"])
    callback_two = await open_flow(browser, two["authorization_url"])
    code_one = parse_qs(urlsplit(callback_one).query)["code"][0]
    state_two = parse_qs(urlsplit(callback_two).query)["state"][0]
    forged = httpx_url(callback_two, code=code_one, state=state_two)
    body = assert_problem(await browser.get(forged), 400)
    assert body["reason"] == "code_rejected"
    assert "AADSTS501481" in body["detail"]  # code_verifier does not match
    await _nothing_stored(runtime)
    counters = await sandbox.counters("microsoft")
    assert counters.get("token.error.501481") == 1


async def test_a_reused_code_is_refused_by_the_provider(client, browser, alice, runtime, sandbox):
    first = await start(client, alice.headers, "google", GOOGLE_USER)
    callback = await open_flow(browser, first["authorization_url"])
    assert (await browser.get(callback)).status_code == 200
    second = await start(client, alice.headers, "google", GOOGLE_USER)
    other = await open_flow(browser, second["authorization_url"])
    used_code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(other).query)["state"][0]
    body = assert_problem(await browser.get(httpx_url(other, code=used_code, state=state)), 400)
    assert body["reason"] == "code_rejected"
    rows = await connection_rows(runtime)
    assert [r["token_version"] for r in rows] == [1]  # the first connection, untouched


@pytest.mark.parametrize(("provider", "login"), CASES)
async def test_denied_consent_stores_nothing(
    client, browser, alice, runtime, sandbox, provider, login
):
    if provider == "google":
        r = await sandbox.control.patch(f"/_sandbox/google/users/{login}", json={"consent": "deny"})
    else:
        r = await sandbox.control.patch(
            f"/_sandbox/microsoft/users/{login}", json={"consent": "deny"}
        )
    assert r.status_code == 200, r.text
    started = await start(client, alice.headers, provider, login)
    page = await browser.get(started["authorization_url"], headers={"Accept": "text/html"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "did not allow calgate" in page.text
    await _nothing_stored(runtime)


async def test_a_callback_without_state_is_refused(browser, runtime, sandbox):
    r = await browser.get("http://testserver/v1/oauth/callback?code=abc")
    assert assert_problem(r, 400)["reason"] == "unknown_state"
    await _nothing_stored(runtime)


async def test_an_unregistered_redirect_uri_never_reaches_the_provider_consent(
    client, browser, alice, runtime, sandbox
):
    """Exact redirect URI matching (§2.1): an account registration whose redirect URI the
    provider does not know (one trailing slash) stops at the provider's error page."""
    r = await client.put(
        f"/v1/accounts/{alice.tenant.account_id}/providers/google",
        json={
            "client_id": "000000000000-calgate-sandbox.apps.googleusercontent.com",
            "client_secret": "GOCSPX-sandbox-not-a-real-secret",
            "redirect_uri": "http://testserver/v1/oauth/callback/",
        },
        headers=alice.tenant.admin,
    )
    assert r.status_code == 200, r.text
    started = await start(client, alice.headers, "google", GOOGLE_USER)
    page = await browser.get(started["authorization_url"])
    assert page.status_code == 400
    assert "redirect_uri_mismatch" in page.text
    await _nothing_stored(runtime)


async def test_a_provider_the_policy_does_not_allow_cannot_be_connected(client, alice, sandbox):
    r = await client.patch(
        f"/v1/accounts/{alice.tenant.account_id}/policy",
        json={"allowed_providers": ["microsoft"]},
        headers=alice.tenant.admin,
    )
    assert r.status_code == 200
    r = await client.post("/v1/me/connections/google/authorize", json={}, headers=alice.headers)
    assert assert_problem(r, 403)["policy"] == "allowed_providers"


async def test_an_unknown_provider_is_404(client, alice, sandbox):
    r = await client.post("/v1/me/connections/aol/authorize", json={}, headers=alice.headers)
    assert "google, microsoft" in assert_problem(r, 404)["detail"]


async def test_admin_keys_cannot_start_a_flow(client, alice, sandbox):
    r = await client.post(
        "/v1/me/connections/google/authorize", json={}, headers=alice.tenant.admin
    )
    assert_problem(r, 403)


def httpx_url(url: str, **params: str) -> str:
    import httpx

    return str(httpx.URL(url).copy_merge_params(params))
