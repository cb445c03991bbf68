"""Token vending (R10): cached while fresh, refreshed once when stale or forced, lifetimes
as the provider says (R5), rotated refresh tokens kept (R5), dead grants turned into
``reauth_required`` with their secrets deleted (R6), policy narrowing on refresh (R7)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import httpx
import pytest

from calgate.connections.flow import CONNECTION_OWNER
from calgate.connections.store import ConnectionStore
from calgate.domain.connections import Permissions
from calgate.domain.policy import Access

from ..conftest import assert_problem
from .helpers import audit_entries, connection_rows, user_event_types, vault_fields
from support.connect import GOOGLE_USER, MS_USER, SANDBOX, connect

GOOGLE_API = f"{SANDBOX}/google/calendar/v3"
GRAPH = f"{SANDBOX}/microsoft/graph/v1.0"


async def vend(client, user, **params) -> dict:
    r = await client.get("/v1/me/credentials", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    return {c["provider"]: c for c in r.json()["connections"]}


async def stored_secret(runtime, connection_id: str, field: str) -> str | None:
    async with runtime.uow(readonly=True) as uow:
        secret = await runtime.vault.get(
            uow,
            account_id=(await _account_of(runtime, connection_id)),
            owner=CONNECTION_OWNER,
            owner_id=connection_id,
            field=field,
        )
    return secret.reveal() if secret else None


async def _account_of(runtime, connection_id: str) -> uuid.UUID:
    rows = await connection_rows(runtime)
    row = next(r for r in rows if str(r["id"]).replace("-", "") == connection_id.replace("-", ""))
    return uuid.UUID(str(row["account_id"]))


async def provider_accepts(sandbox, credential: dict) -> int:
    """Use the vended token the way an app does: straight at the provider."""
    base = credential["api_base_url"]
    path = "/calendars/primary" if credential["provider"] == "google" else "/me/events"
    r = await sandbox.http.get(
        base + path, headers={"Authorization": f"Bearer {credential['access_token']}"}
    )
    return r.status_code


@pytest.fixture
async def connected(client, browser, alice, sandbox):
    await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    await connect(client, browser, alice.headers, "microsoft", MS_USER)
    return alice


async def test_vending_gives_each_connection_a_token_for_the_provider_R10(
    client, connected, runtime, sandbox
):
    creds = await vend(client, connected)
    assert set(creds) == {"google", "microsoft"}
    for provider, c in creds.items():
        assert c["status"] == "active"
        assert c["token_type"] == "Bearer"
        assert c["api_base_url"] == (GOOGLE_API if provider == "google" else GRAPH)
        assert c["permissions"] == {"calendar": "read_write", "contacts": "none"}
        assert c["expires_in"] > 300
        assert await provider_accepts(sandbox, c) == 200
        # The refresh token itself is never vended.
        refresh = await stored_secret(runtime, c["connection_id"], "refresh_token")
        assert refresh
        assert refresh not in json.dumps(c)
    assert creds["google"]["account_email"] == GOOGLE_USER
    assert creds["microsoft"]["account_email"] == MS_USER


async def test_a_fresh_token_is_served_from_cache_without_asking_the_provider_R10(
    client, connected, sandbox
):
    first = await vend(client, connected)
    before = await sandbox.counters("google"), await sandbox.counters("microsoft")
    for _ in range(5):
        again = await vend(client, connected)
        assert again["google"]["access_token"] == first["google"]["access_token"]
        assert again["microsoft"]["access_token"] == first["microsoft"]["access_token"]
    after = await sandbox.counters("google"), await sandbox.counters("microsoft")
    assert after == before


async def test_a_token_five_minutes_from_expiry_is_refreshed_R10(
    client, connected, runtime, clock, sandbox
):
    first = await vend(client, connected)
    google_left = first["google"]["expires_in"]
    clock.advance(seconds=google_left - 299)  # inside the 5-minute margin for Google
    second = await vend(client, connected)
    assert second["google"]["access_token"] != first["google"]["access_token"]
    assert second["google"]["expires_in"] == 3599
    assert (await sandbox.counters("google")).get("token.refresh") == 1
    assert await provider_accepts(sandbox, second["google"]) == 200
    rows = {r["provider"]: r for r in await connection_rows(runtime)}
    assert rows["google"]["token_version"] == 2


async def test_force_refresh_gets_a_new_token(client, connected, sandbox):
    first = await vend(client, connected)
    forced = await vend(client, connected, force_refresh="true")
    assert forced["microsoft"]["access_token"] != first["microsoft"]["access_token"]
    assert forced["google"]["access_token"] != first["google"]["access_token"]
    assert (await sandbox.counters("google")).get("token.refresh") == 1
    assert (await sandbox.counters("microsoft")).get("token.refresh") == 1


async def test_the_providers_own_lifetimes_are_honoured_R5(
    client, browser, alice, runtime, clock, sandbox
):
    r = await sandbox.control.patch("/_sandbox/google/settings", json={"access_token_ttl": 1200})
    assert r.status_code == 200
    await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    await connect(client, browser, alice.headers, "microsoft", MS_USER)
    creds = await vend(client, alice)
    assert creds["google"]["expires_in"] == 1199  # not an assumed 3600
    token = creds["microsoft"]["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert creds["microsoft"]["expires_in"] == claims["exp"] - claims["iat"]  # 60–90 min
    async with runtime.uow(readonly=True) as uow:
        stored = await ConnectionStore(uow.session).by_id(
            uuid.UUID(creds["microsoft"]["connection_id"])
        )
    assert stored is not None
    assert stored.access_expires_at == clock.now() + timedelta(
        seconds=claims["exp"] - claims["iat"]
    )


async def test_a_rotated_refresh_token_is_stored_R5(client, connected, runtime, sandbox):
    creds = await vend(client, connected)
    ms_id = creds["microsoft"]["connection_id"]
    google_id = creds["google"]["connection_id"]
    ms_before = await stored_secret(runtime, ms_id, "refresh_token")
    google_before = await stored_secret(runtime, google_id, "refresh_token")
    await vend(client, connected, force_refresh="true")
    ms_after = await stored_secret(runtime, ms_id, "refresh_token")
    assert ms_after
    assert ms_after != ms_before
    assert (
        await stored_secret(runtime, google_id, "refresh_token") == google_before
    )  # Google does not
    # The stored (newest) token is the one the provider issued last: it refreshes.
    r = await sandbox.http.post(
        f"{SANDBOX}/microsoft/organizations/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": ms_after,
            "client_id": "5a4db0c5-a99c-4000-8000-000000000001",
            "client_secret": "sandbox-client-secret-not-a-real-secret",
        },
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("provider", "login", "revoke", "reason"),
    [
        ("google", GOOGLE_USER, f"/_sandbox/google/users/{GOOGLE_USER}/revoke", "invalid_grant"),
        (
            "microsoft",
            MS_USER,
            f"/_sandbox/microsoft/users/{MS_USER}/revoke",
            "invalid_grant (AADSTS50173)",
        ),
    ],
)
async def test_a_grant_revoked_at_the_provider_becomes_reauth_required_R6(
    backend, client, browser, alice, runtime, sandbox, provider, login, revoke, reason
):
    made = await connect(client, browser, alice.headers, provider, login)
    assert (await sandbox.control.post(revoke, json={})).status_code == 200

    r = await client.get(
        "/v1/me/credentials", params={"force_refresh": "true"}, headers=alice.headers
    )
    body = assert_problem(r, 409)
    assert body["type"].endswith("/reauth-required")
    assert body["reauth_url"] == f"http://testserver/v1/me/connections/{provider}/authorize"
    assert body["connection_id"] == made["connection_id"]
    assert reason in body["detail"]
    assert body["connections"] == [
        {
            "connection_id": made["connection_id"],
            "provider": provider,
            "status": "reauth_required",
            "reauth_url": body["reauth_url"],
        }
    ]

    row = (await connection_rows(runtime))[0]
    assert (row["status"], row["reauth_reason"]) == ("reauth_required", reason)
    assert await vault_fields(runtime, "connections", made["connection_id"]) == set()
    entries = [e for e in await audit_entries(runtime, alice.tenant.account_id)]
    dead = [e for e in entries if e.action == "connection.reauth_required"]
    assert len(dead) == 1
    assert dead[0].details["secrets_deleted"] == 2
    assert await user_event_types(runtime) == ["connection.connected", "connection.reauth_required"]

    # The next vend answers the same without asking the provider again.
    counters = await sandbox.counters(provider)
    assert_problem(await client.get("/v1/me/credentials", headers=alice.headers), 409)
    assert await sandbox.counters(provider) == counters
    listed = (await client.get("/v1/me/connections", headers=alice.headers)).json()
    assert listed[0]["status"] == "reauth_required"
    assert listed[0]["reauth_url"] == body["reauth_url"]

    # Connecting again brings the same connection back.
    again = await connect(client, browser, alice.headers, provider, login)
    assert again["connection_id"] == made["connection_id"]
    assert (await vend(client, alice))[provider]["status"] == "active"


async def test_one_dead_grant_does_not_hide_the_other_connection(client, connected, sandbox):
    await sandbox.control.post(f"/_sandbox/google/users/{GOOGLE_USER}/revoke", json={})
    creds = await vend(client, connected, force_refresh="true")
    assert creds["microsoft"]["status"] == "active"
    assert creds["google"]["status"] == "reauth_required"
    assert "access_token" not in creds["google"]
    assert creds["google"]["reauth_url"].endswith("/v1/me/connections/google/authorize")


async def test_a_policy_narrowed_to_read_narrows_the_vended_token_R7(client, connected, sandbox):
    before = await vend(client, connected)
    assert before["google"]["permissions"]["calendar"] == "read_write"
    r = await client.patch(
        f"/v1/accounts/{connected.tenant.account_id}/policy",
        json={"calendar_access": "read"},
        headers=connected.tenant.admin,
    )
    assert r.status_code == 200
    after = await vend(client, connected)
    for provider in ("google", "microsoft"):
        c = after[provider]
        assert c["permissions"]["calendar"] == "read"
        assert c["access_token"] != before[provider]["access_token"]  # refreshed, narrowed
    assert after["google"]["scopes"] == ["https://www.googleapis.com/auth/calendar.readonly"]
    assert "Calendars.ReadWrite" not in after["microsoft"]["scopes"]
    # The narrowed token really cannot write at the provider.
    google = after["google"]
    r = await sandbox.http.post(
        f"{google['api_base_url']}/calendars/primary/events",
        json={"summary": "x", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}},
        headers={"Authorization": f"Bearer {google['access_token']}"},
    )
    assert r.status_code == 403


async def test_a_loser_of_a_refresh_race_serves_the_winners_token(
    client, connected, runtime, sandbox
):
    """Re-read before refreshing or declaring a grant dead: a caller holding a stale view
    (version 1) after another caller refreshed (version 2) gets version 2's token."""

    creds = await vend(client, connected)
    cid = uuid.UUID(creds["google"]["connection_id"])
    async with runtime.uow(readonly=True) as uow:
        stale = await ConnectionStore(uow.session).by_id(cid)
    newer = await vend(client, connected, force_refresh="true")
    broker = runtime.connections.broker
    broker.forget(cid)
    allowed = Permissions(Access.READ_WRITE)
    token = await broker.token(stale, allowed, force=True)
    assert token.access_token.reveal() == newer["google"]["access_token"]
    served = await broker._dead(stale, "invalid_grant", None)
    assert served.access_token.reveal() == newer["google"]["access_token"]
    assert (await sandbox.counters("google")).get("token.refresh") == 1
    assert {r["status"] for r in await connection_rows(runtime)} == {"active"}


async def test_without_connections_vending_says_how_to_connect(client, alice, sandbox):
    body = assert_problem(await client.get("/v1/me/credentials", headers=alice.headers), 404)
    assert "POST /v1/me/connections/" in body["detail"]


async def test_vending_is_for_users_only(client, alice, sandbox, operator):
    assert_problem(await client.get("/v1/me/credentials", headers=alice.tenant.admin), 403)
    assert_problem(await client.get("/v1/me/credentials", headers=operator), 403)
    r = await client.get("/v1/me/credentials", headers={"Authorization": "Bearer nonsense"})
    assert_problem(r, 401)


async def test_a_deleted_users_session_cannot_vend(client, connected, sandbox):
    r = await client.delete(
        f"/v1/accounts/{connected.tenant.account_id}/users/{connected.user_id}",
        headers=connected.tenant.admin,
    )
    assert r.status_code == 204
    assert_problem(await client.get("/v1/me/credentials", headers=connected.headers), 401)


async def test_one_connection_can_be_vended_alone(client, connected, sandbox):
    creds = await vend(client, connected)
    only = await client.get(
        "/v1/me/credentials",
        params={"connection_id": creds["microsoft"]["connection_id"]},
        headers=connected.headers,
    )
    assert [c["provider"] for c in only.json()["connections"]] == ["microsoft"]
    missing = await client.get(
        "/v1/me/credentials", params={"connection_id": str(uuid.uuid4())}, headers=connected.headers
    )
    assert_problem(missing, 404)
    assert isinstance(httpx.URL(creds["google"]["api_base_url"]), httpx.URL)
