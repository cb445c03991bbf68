"""The scheduling API over HTTP (R11, R12): exactly the allowed fields, CRUD, versions,
tenant isolation, expiry on the frozen clock and the purge job. Callers here are users with a
session token; add-in tokens are in test_meetings_callers.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calgate.bootstrap import Runtime
from calgate.clock import FrozenClock

from .conftest import SignedIn, assert_problem
from support.canary import canary

Tenant = Any
MakeUser = Callable[..., Awaitable[SignedIn]]

MEETING = {
    "subject": "Quarterly planning",
    "start_date": "2026-11-24",
    "start_time": "10:00",
    "time_zone": "Europe/Berlin",
    "duration_minutes": 30,
    "recurring": False,
}
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 Berlin


@pytest.fixture
async def alice(make_tenant: Callable[..., Awaitable[Tenant]], make_user: MakeUser) -> SignedIn:
    return await make_user(await make_tenant("Acme"), "alice@acme.example")


async def schedule(client: httpx.AsyncClient, who: SignedIn, **changes: Any) -> dict[str, Any]:
    r = await client.post("/v1/meetings", json={**MEETING, **changes}, headers=who.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def signed_in(client: httpx.AsyncClient, who: SignedIn) -> dict[str, str]:
    """Fresh session headers (sessions expire as the frozen clock moves on)."""
    r = await client.post("/v1/sessions", json={"email": who.email, "password": who.password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# R11: exactly the allowed fields -----------------------------------------------------------
async def test_extra_fields_are_refused_naming_each_and_nothing_is_kept_R11(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    body = {
        **MEETING,
        "body": canary("event-body"),
        "attendees": [{"email": "bob@acme.example", "name": canary("attendee")}],
        "location": "Room 1",
    }
    r = await client.post("/v1/meetings", json=body, headers=alice.headers)
    problem = assert_problem(r, 422)
    named = sorted(e["field"] for e in problem["errors"])
    assert named == ["attendees", "body", "location"]
    assert "bob@acme.example" not in r.text  # submitted values are never echoed
    listed = await client.get("/v1/meetings", headers=alice.headers)
    assert listed.json()["items"] == []


async def test_extra_fields_are_refused_on_change_too_R11(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice)
    r = await client.patch(
        f"/v1/meetings/{m['id']}",
        json={"subject": "New", "attendees": ["x@acme.example"]},
        headers=alice.headers,
    )
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["attendees"]
    assert (await client.get(f"/v1/meetings/{m['id']}", headers=alice.headers)).json()[
        "subject"
    ] == "Quarterly planning"


async def test_schedule_answers_what_the_tool_puts_in_the_event_R11(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    r = await client.post("/v1/meetings", json=MEETING, headers=alice.headers)
    assert r.status_code == 201, r.text
    m = r.json()
    assert 10_000_000_000 <= m["id"] < 100_000_000_000  # 11 digits by default
    assert r.headers["location"] == f"/v1/meetings/{m['id']}"
    assert r.headers["etag"] == '"1"'
    assert m["join_url"] == f"http://testserver/j/{m['id']}"
    assert len(m["passcode"]) == 8
    assert m["passcode"].isdigit()
    assert m["join_url"] in m["invitation"]
    assert m["passcode"] in m["invitation"]
    assert m["meeting_number"].replace(" ", "") == str(m["id"])
    assert m["meeting_number"] in m["invitation"]
    assert "Mon 24 Nov 2026" not in m["invitation"]  # 24 Nov 2026 is a Tuesday
    assert "Tue 24 Nov 2026, 10:00–10:30 (Europe/Berlin)" in m["invitation"]
    assert m["subject"] == "Quarterly planning"
    assert (m["start_date"], m["start_time"], m["time_zone"]) == (
        "2026-11-24",
        "10:00:00",
        "Europe/Berlin",
    )
    assert m["start"] == "2026-11-24T09:00:00Z"
    assert m["end"] == "2026-11-24T09:30:00Z"
    assert (m["status"], m["recurring"], m["recurrence_rule"], m["version"]) == (
        "scheduled",
        False,
        None,
        1,
    )


async def test_windows_time_zone_names_are_accepted_and_answered_as_iana(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice, time_zone="W. Europe Standard Time", start_time="10:00:00")
    assert m["time_zone"] == "Europe/Berlin"
    assert m["start"] == "2026-11-24T09:00:00Z"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"start_time": "10am"}, "start_time"),
        ({"start_time": "10:00+02:00"}, "start_time"),
        ({"start_date": 20261124}, "start_date"),
        ({"start_date": "24.11.2026"}, "start_date"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 2000}, "duration_minutes"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 256}, "subject"),
        ({"recurring": True}, "recurrence_rule"),
        ({"recurrence_rule": "FREQ=DAILY"}, "recurrence_rule"),
        ({"recurring": True, "recurrence_rule": "FREQ=MINUTELY"}, "recurrence_rule"),
        ({"start_date": "2026-03-29", "start_time": "02:30"}, "start_time"),
    ],
)
async def test_invalid_values_are_422_naming_the_field(
    client: httpx.AsyncClient, alice: SignedIn, changes: dict[str, Any], field: str
) -> None:
    r = await client.post("/v1/meetings", json={**MEETING, **changes}, headers=alice.headers)
    problem = assert_problem(r, 422)
    assert field in [e["field"] for e in problem["errors"]], problem


async def test_a_recurring_meeting_keeps_its_normalised_rule(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(
        client, alice, recurring=True, recurrence_rule="RRULE:freq=weekly;byday=TU;count=4"
    )
    assert m["recurring"] is True
    assert m["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    assert m["expires_at"] == "2027-01-14T09:00:00Z"  # last (15 Dec) + 30 days
    endless = await schedule(client, alice, recurring=True, recurrence_rule="FREQ=WEEKLY;BYDAY=TU")
    assert endless["expires_at"] is None


# reading, listing, changing, cancelling ----------------------------------------------------
async def test_list_pages_through_the_callers_own_meetings_by_start(
    client: httpx.AsyncClient, alice: SignedIn, make_user: MakeUser, make_tenant: Any
) -> None:
    days = ["2026-11-27", "2026-11-25", "2026-11-26"]
    ids = [(await schedule(client, alice, start_date=d))["id"] for d in days]
    other = await make_user(await make_tenant("Other"), "eve@other.example")
    await schedule(client, other)

    first = (await client.get("/v1/meetings?limit=2", headers=alice.headers)).json()
    assert [m["start_date"] for m in first["items"]] == ["2026-11-25", "2026-11-26"]
    rest = (
        await client.get(f"/v1/meetings?limit=2&after={first['next']}", headers=alice.headers)
    ).json()
    assert [m["id"] for m in rest["items"]] == [ids[0]]
    assert rest["next"] is None
    r = await client.get("/v1/meetings?after=not-a-cursor", headers=alice.headers)
    assert assert_problem(r, 422)["errors"][0]["field"] == "after"


async def test_moving_a_meeting_updates_its_time_and_expiry_R12(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice)
    r = await client.patch(
        f"/v1/meetings/{m['id']}", json={"start_date": "2027-01-08"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    assert moved["start"] == "2027-01-08T09:00:00Z"
    assert moved["expires_at"] == "2027-02-07T09:00:00Z"
    assert moved["version"] == 2
    assert r.headers["etag"] == '"2"'
    assert moved["passcode"] == m["passcode"]
    assert moved["join_url"] == m["join_url"]


async def test_changing_only_the_zone_keeps_the_wall_time(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice)
    r = await client.patch(
        f"/v1/meetings/{m['id']}", json={"time_zone": "America/New_York"}, headers=alice.headers
    )
    assert (r.json()["start_time"], r.json()["start"]) == ("10:00:00", "2026-11-24T15:00:00Z")


async def test_repeating_the_same_change_keeps_the_version(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice)
    url = f"/v1/meetings/{m['id']}"
    assert (await client.patch(url, json={"subject": "Renamed"}, headers=alice.headers)).json()[
        "version"
    ] == 2
    assert (await client.patch(url, json={"subject": "Renamed"}, headers=alice.headers)).json()[
        "version"
    ] == 2


async def test_if_match_guards_against_lost_updates(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice)
    url = f"/v1/meetings/{m['id']}"
    ok = await client.patch(
        url, json={"duration_minutes": 45}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = await client.patch(
        url, json={"duration_minutes": 60}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert assert_problem(stale, 412)["type"].endswith("/precondition-failed")
    assert stale.headers["etag"] == '"2"'
    assert (await client.get(url, headers=alice.headers)).json()["duration_minutes"] == 45
    r = await client.delete(url, headers={**alice.headers, "If-Match": "nonsense"})
    assert_problem(r, 422)


@pytest.mark.parametrize(
    "patch", [{}, {"subject": None}, {"recurring": None}, {"duration_minutes": "30"}]
)
async def test_empty_or_null_changes_are_refused(
    client: httpx.AsyncClient, alice: SignedIn, patch: dict[str, Any]
) -> None:
    m = await schedule(client, alice)
    assert_problem(
        await client.patch(f"/v1/meetings/{m['id']}", json=patch, headers=alice.headers), 422
    )


async def test_turning_a_series_into_a_single_meeting(
    client: httpx.AsyncClient, alice: SignedIn
) -> None:
    m = await schedule(client, alice, recurring=True, recurrence_rule="FREQ=DAILY;COUNT=3")
    r = await client.patch(
        f"/v1/meetings/{m['id']}", json={"recurring": False}, headers=alice.headers
    )
    assert (r.json()["recurring"], r.json()["recurrence_rule"]) == (False, None)
    assert r.json()["expires_at"] == "2026-12-24T09:00:00Z"


async def test_cancel_is_idempotent_and_final(client: httpx.AsyncClient, alice: SignedIn) -> None:
    m = await schedule(client, alice)
    url = f"/v1/meetings/{m['id']}"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    got = (await client.get(url, headers=alice.headers)).json()
    assert (got["status"], got["state"], got["version"]) == ("cancelled", "cancelled", 2)
    r = await client.patch(url, json={"subject": "Back"}, headers=alice.headers)
    assert "cancelled" in assert_problem(r, 409)["detail"]
    page = await client.get(f"/j/{m['id']}", headers={"Accept": "application/json"})
    assert page.json()["state"] == "cancelled"


# who may see what ----------------------------------------------------------------------------
async def test_other_users_and_tenants_get_404_for_a_meeting(
    client: httpx.AsyncClient, alice: SignedIn, make_user: MakeUser, make_tenant: Any
) -> None:
    m = await schedule(client, alice)
    url = f"/v1/meetings/{m['id']}"
    eve = await make_user(await make_tenant("Other"), "eve@other.example")
    for method, body in (("GET", None), ("PATCH", {"subject": "Mine"}), ("DELETE", None)):
        r = await client.request(method, url, json=body, headers=eve.headers)
        assert "not found" in assert_problem(r, 404)["detail"]
    unknown = await client.get("/v1/meetings/99999999999", headers=eve.headers)
    assert (
        assert_problem(unknown, 404).keys()
        == assert_problem(await client.get(url, headers=eve.headers), 404).keys()
    )
    assert (await client.get(url, headers=alice.headers)).json()["subject"] == "Quarterly planning"


async def test_a_colleague_in_the_same_account_gets_404_too(
    client: httpx.AsyncClient, make_tenant: Any, make_user: MakeUser
) -> None:
    t = await make_tenant("Acme")
    alice = await make_user(t, "alice@acme.example")
    bob = await make_user(t, "bob@acme.example")
    m = await schedule(client, alice)
    assert_problem(await client.get(f"/v1/meetings/{m['id']}", headers=bob.headers), 404)
    assert (await client.get("/v1/meetings", headers=bob.headers)).json()["items"] == []


async def test_keys_are_not_users_and_nobody_anonymous_schedules(
    client: httpx.AsyncClient, make_tenant: Any, operator: dict[str, str]
) -> None:
    t = await make_tenant()
    for headers in (t.admin, operator):
        r = await client.post("/v1/meetings", json=MEETING, headers=headers)
        assert "users" in assert_problem(r, 403)["detail"]
    assert_problem(await client.post("/v1/meetings", json=MEETING), 401)
    r = await client.post(
        "/v1/meetings", json=MEETING, headers={"Authorization": "Bearer not.a.token"}
    )
    assert_problem(r, 401)


async def test_admins_list_their_accounts_meetings_without_topics_or_passcodes(
    client: httpx.AsyncClient, make_tenant: Any, make_user: MakeUser
) -> None:
    t = await make_tenant("Acme")
    alice = await make_user(t, "alice@acme.example")
    m = await schedule(client, alice)
    r = await client.get(f"/v1/accounts/{t.account_id}/meetings", headers=t.admin)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert item["id"] == m["id"]
    assert item["owner_id"] == alice.user_id
    assert "subject" not in item
    assert "passcode" not in item
    assert m["passcode"] not in r.text
    other = await make_tenant("Other")
    assert_problem(
        await client.get(f"/v1/accounts/{t.account_id}/meetings", headers=other.admin), 404
    )
    assert_problem(
        await client.get(f"/v1/accounts/{t.account_id}/meetings", headers=alice.headers), 403
    )


# R12 on the frozen clock, and the purge ------------------------------------------------------
async def test_a_meeting_expires_30_days_after_its_start_R12(
    client: httpx.AsyncClient, alice: SignedIn, clock: FrozenClock
) -> None:
    m = await schedule(client, alice)
    assert m["expires_at"] == "2026-12-24T09:00:00Z"
    url = f"/v1/meetings/{m['id']}"
    json_page = {"Accept": "application/json"}
    assert (await client.get(f"/j/{m['id']}", headers=json_page)).json()["state"] == "upcoming"

    clock.set(START + timedelta(days=30) - timedelta(seconds=1))
    alice.headers = await signed_in(client, alice)
    assert (await client.get(url, headers=alice.headers)).json()["status"] == "scheduled"
    assert (await client.get(f"/j/{m['id']}", headers=json_page)).json()["state"] == "valid"

    clock.set(START + timedelta(days=30))
    alice.headers = await signed_in(client, alice)
    got = (await client.get(url, headers=alice.headers)).json()
    assert (got["status"], got["state"]) == ("expired", "expired")
    assert (await client.get(f"/j/{m['id']}", headers=json_page)).json()["state"] == "expired"
    expired = (await client.get("/v1/meetings?state=expired", headers=alice.headers)).json()
    assert [x["id"] for x in expired["items"]] == [m["id"]]
    assert (await client.get("/v1/meetings?state=scheduled", headers=alice.headers)).json()[
        "items"
    ] == []

    # moved 45 days after its start, the link is no longer expired, and opens at the new time
    r = await client.patch(url, json={"start_date": "2027-01-08"}, headers=alice.headers)
    assert (r.json()["status"], r.json()["expires_at"]) == ("scheduled", "2027-02-07T09:00:00Z")
    assert (await client.get(f"/j/{m['id']}", headers=json_page)).json()["state"] == "upcoming"
    clock.set(START + timedelta(days=45))
    assert (await client.get(f"/j/{m['id']}", headers=json_page)).json()["state"] == "valid"


async def test_purge_deletes_expired_and_cancelled_meetings_after_the_retention(
    client: httpx.AsyncClient, alice: SignedIn, clock: FrozenClock, runtime: Runtime
) -> None:
    expired = await schedule(client, alice)
    cancelled = await schedule(client, alice, start_date="2027-06-01")
    await client.delete(f"/v1/meetings/{cancelled['id']}", headers=alice.headers)
    series = await schedule(client, alice, recurring=True, recurrence_rule="FREQ=WEEKLY")
    runner = runtime.job_runner(concurrency=1)

    clock.set(START + timedelta(days=30 + 29))  # expired 29 days ago: kept, shows "expired"
    await runner.run_pending()
    alice.headers = await signed_in(client, alice)
    assert (
        await client.get(f"/v1/meetings/{expired['id']}", headers=alice.headers)
    ).status_code == 200

    clock.set(START + timedelta(days=30 + 31))  # both past the 30-day retention
    await runner.run_pending()
    alice.headers = await signed_in(client, alice)
    for gone in (expired, cancelled):
        assert_problem(await client.get(f"/v1/meetings/{gone['id']}", headers=alice.headers), 404)
        page = await client.get(f"/j/{gone['id']}")
        assert page.status_code == 404
    r = await client.get(f"/v1/meetings/{series['id']}", headers=alice.headers)
    assert r.json()["status"] == "scheduled"
