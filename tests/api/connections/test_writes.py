"""Writing through calgate passes the write guard (R7): what the policy does not grant is
refused with a problem naming the policy, before the provider is asked (the sandbox's
counters show no call at all)."""

from __future__ import annotations

import pytest

from ..conftest import assert_problem
from support.connect import GOOGLE_USER, MS_USER, connect

EVENT = {
    "summary": "Design review",
    "start": {"date_time": "2026-11-24T10:00:00+00:00", "time_zone": "Europe/Berlin"},
    "end": {"date_time": "2026-11-24T11:00:00+00:00", "time_zone": "Europe/Berlin"},
    "attendees": [{"email": "bob@example.com"}],
}


async def set_policy(client, tenant, **policy) -> None:
    r = await client.patch(
        f"/v1/accounts/{tenant.account_id}/policy", json=policy, headers=tenant.admin
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("provider", "login", "policy", "named"),
    [
        ("google", GOOGLE_USER, {"calendar_access": "read"}, "calendar_access"),
        ("microsoft", MS_USER, {"calendar_access": "read"}, "calendar_access"),
        ("google", GOOGLE_USER, {"google_calendar_access": "read"}, "google_calendar_access"),
    ],
)
async def test_a_read_only_policy_blocks_writes_without_a_provider_call_R7(
    client, browser, alice, sandbox, provider, login, policy, named
):
    made = await connect(client, browser, alice.headers, provider, login)
    await set_policy(client, alice.tenant, **policy)
    await sandbox.control.delete("/_sandbox/counters")

    r = await client.post(
        f"/v1/me/connections/{made['connection_id']}/events", json=EVENT, headers=alice.headers
    )
    body = assert_problem(r, 403)
    assert body["policy"] == named
    assert body["type"].endswith("/policy-denied")
    r = await client.delete(
        f"/v1/me/connections/{made['connection_id']}/events/Y2FsZW5kYXJz",
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert assert_problem(r, 403)["policy"] == named
    assert await sandbox.counters(provider) == {}  # not even a token refresh


async def test_the_google_ceiling_leaves_microsoft_writable_R7(client, browser, alice, sandbox):
    made = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    await set_policy(client, alice.tenant, google_calendar_access="read")
    r = await client.post(
        f"/v1/me/connections/{made['connection_id']}/events", json=EVENT, headers=alice.headers
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(("provider", "login"), [("google", GOOGLE_USER), ("microsoft", MS_USER)])
async def test_read_write_policy_creates_updates_and_deletes_with_etags(
    client, browser, alice, sandbox, provider, login
):
    made = await connect(client, browser, alice.headers, provider, login)
    base = f"/v1/me/connections/{made['connection_id']}/events"
    r = await client.post(base, json=EVENT, headers=alice.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["summary"] == "Design review"
    assert created["start"]["date_time"].startswith("2026-11-24T10:00:00")

    changed = {**EVENT, "summary": "Design review (moved)"}
    r = await client.put(
        f"{base}/{created['id']}",
        json=changed,
        headers={**alice.headers, "If-Match": created["etag"]},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["etag"] != created["etag"]

    stale = await client.put(
        f"{base}/{created['id']}",
        json=EVENT,
        headers={**alice.headers, "If-Match": created["etag"]},
    )
    assert "etag" in assert_problem(stale, 409)["detail"]

    r = await client.delete(
        f"{base}/{created['id']}", headers={**alice.headers, "If-Match": updated["etag"]}
    )
    assert r.status_code == 204
    gone = await client.delete(
        f"{base}/{created['id']}", headers={**alice.headers, "If-Match": updated["etag"]}
    )
    assert gone.status_code in (404, 409)


async def test_a_read_only_grant_cannot_write_even_if_the_policy_now_allows(
    client, browser, alice, sandbox
):
    await set_policy(client, alice.tenant, calendar_access="read")
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    await set_policy(client, alice.tenant, calendar_access="read_write")
    r = await client.post(
        f"/v1/me/connections/{made['connection_id']}/events", json=EVENT, headers=alice.headers
    )
    assert "connect again" in assert_problem(r, 403)["detail"]


async def test_writes_to_someone_elses_connection_are_404(
    client, browser, alice, make_user, sandbox
):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    bob = await make_user(alice.tenant, "bob@acme.example")
    r = await client.post(
        f"/v1/me/connections/{made['connection_id']}/events", json=EVENT, headers=bob.headers
    )
    assert_problem(r, 404)


async def test_an_invalid_event_is_422(client, browser, alice, sandbox):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    bad = {**EVENT, "end": {"date": "2026-11-25"}}
    r = await client.post(
        f"/v1/me/connections/{made['connection_id']}/events", json=bad, headers=alice.headers
    )
    assert_problem(r, 422)
