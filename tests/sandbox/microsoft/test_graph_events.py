"""Graph v1.0 events emulator: CRUD, calendarView expansion, time zones, paging, extended
properties, online meetings, permissions, errors and throttling."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import ALICE, BOB, ROOM, MsWorld

WEEK_START, WEEK_END = "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"


def event_body(
    subject: str = "Planning",
    start: str = "2026-11-24T10:00:00",
    end: str = "2026-11-24T11:00:00",
    tz: str = "W. Europe Standard Time",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
        **extra,
    }


def assert_graph_error(r: httpx.Response, status: int, code: str) -> None:
    """provider-protocols §2.5: {"error": {"code", "message", "innerError": {date, request-id,
    client-request-id}}}."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert {"date", "request-id", "client-request-id"} <= error["innerError"].keys()


async def test_me_and_users_by_id_or_upn(world: MsWorld) -> None:
    """provider-protocols §2: /me for delegated tokens, /users/{id | userPrincipalName}."""
    token = await world.user_token(ALICE, "User.Read User.ReadBasic.All Calendars.Read")
    me = (await world.graph("GET", "/me", token)).json()
    assert me["userPrincipalName"] == ALICE
    assert me["id"] == world.users[ALICE]
    bob = (await world.graph("GET", f"/users/{BOB}", token)).json()
    assert bob["id"] == world.users[BOB]
    by_id = await world.graph("GET", f"/users/{world.users[BOB]}", token)
    assert by_id.json()["userPrincipalName"] == BOB
    assert_graph_error(
        await world.graph("GET", "/users/ghost@contoso.example", token),
        404,
        "Request_ResourceNotFound",
    )
    app = await world.app_token()
    assert_graph_error(await world.graph("GET", "/me", app), 400, "BadRequest")


async def test_create_get_update_delete_event(world: MsWorld) -> None:
    """provider-protocols §2.1, §2.3: POST 201, GET, PATCH 200 (new changeKey), DELETE 204."""
    token = await world.user_token()
    r = await world.graph(
        "POST",
        "/me/events",
        token,
        json=event_body(
            location={"displayName": "Room 1"},
            attendees=[{"emailAddress": {"address": BOB, "name": "Bob"}, "type": "required"}],
        ),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["type"] == "singleInstance"
    assert created["isOrganizer"] is True
    assert created["start"] == {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"}
    assert created["originalStartTimeZone"] == "W. Europe Standard Time"
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["attendees"][0]["status"]["response"] == "none"
    assert created["locations"][0]["displayName"] == "Room 1"
    event_id = created["id"]
    for path in (
        f"/me/events/{event_id}",
        f"/me/calendar/events/{event_id}",
        f"/users/{ALICE}/events/{event_id}",
    ):
        got = await world.graph("GET", path, token)
        assert got.status_code == 200
        assert got.json()["subject"] == "Planning"
    patched = await world.graph("PATCH", f"/me/events/{event_id}", token, json={"subject": "Moved"})
    assert patched.status_code == 200
    assert patched.json()["subject"] == "Moved"
    assert patched.json()["changeKey"] != created["changeKey"]
    stale = await world.graph(
        "PATCH",
        f"/me/events/{event_id}",
        token,
        json={"subject": "x"},
        headers={"If-Match": created["@odata.etag"]},
    )
    assert_graph_error(stale, 412, "ErrorIrresolvableConflict")
    assert (await world.graph("DELETE", f"/me/events/{event_id}", token)).status_code == 204
    assert_graph_error(
        await world.graph("GET", f"/me/events/{event_id}", token), 404, "ErrorItemNotFound"
    )
    counts = world.core.counters_for("microsoft")
    assert counts["graph.events.create"] == 1
    assert counts["graph.events.delete"] == 1


async def test_calendar_view_requires_both_bounds(world: MsWorld) -> None:
    """provider-protocols §2.1, §10.3: startDateTime and endDateTime are required."""
    token = await world.user_token()
    for query in ({}, {"startDateTime": WEEK_START}, {"endDateTime": WEEK_END}):
        r = await world.graph("GET", "/me/calendarView", token, params=query)
        assert_graph_error(r, 400, "ErrorInvalidParameter")


async def test_calendar_view_expands_series_with_exceptions(world: MsWorld) -> None:
    """provider-protocols §2.3: calendarView returns occurrences and exceptions, never the
    master; /events returns the master only; a moved occurrence is an exception, a deleted one
    disappears; each occurrence has its own iCalUId."""
    token = await world.user_token()
    series = event_body(
        "Stand-up",
        "2026-11-23T09:00:00",
        "2026-11-23T09:15:00",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 5},
        },
    )
    master = (await world.graph("POST", "/me/events", token, json=series)).json()
    assert master["type"] == "seriesMaster"
    view = (
        await world.graph(
            "GET",
            "/me/calendarView",
            token,
            params={"startDateTime": WEEK_START, "endDateTime": WEEK_END},
        )
    ).json()["value"]
    assert [i["type"] for i in view] == ["occurrence"] * 5
    assert {i["seriesMasterId"] for i in view} == {master["id"]}
    assert len({i["iCalUId"] for i in view}) == 5
    second, third = view[1], view[2]
    moved = await world.graph(
        "PATCH",
        f"/me/events/{second['id']}",
        token,
        json={
            "start": {"dateTime": "2026-11-24T14:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-11-24T14:30:00", "timeZone": "W. Europe Standard Time"},
        },
    )
    assert moved.status_code == 200
    assert moved.json()["type"] == "exception"
    assert (await world.graph("DELETE", f"/me/events/{third['id']}", token)).status_code == 204
    view = (
        await world.graph(
            "GET",
            "/me/calendarView",
            token,
            params={"startDateTime": WEEK_START, "endDateTime": WEEK_END},
        )
    ).json()["value"]
    assert [i["type"] for i in view] == ["occurrence", "exception", "occurrence", "occurrence"]
    assert view[1]["start"]["dateTime"] == "2026-11-24T13:00:00.0000000"
    assert view[1]["originalStart"] == "2026-11-24T08:00:00Z"
    listed = (await world.graph("GET", "/me/events", token)).json()["value"]
    assert [e["type"] for e in listed] == ["seriesMaster"]
    instances = await world.graph(
        "GET",
        f"/me/events/{master['id']}/instances",
        token,
        params={"startDateTime": WEEK_START, "endDateTime": WEEK_END},
    )
    assert len(instances.json()["value"]) == 4


async def test_weekly_series_keeps_wall_time_across_dst(world: MsWorld) -> None:
    """provider-protocols §2.3: a series recurs at the same wall time in its zone (Berlin leaves
    summer time on 2026-10-25)."""
    token = await world.user_token()
    series = event_body(
        "Weekly",
        "2026-10-12T10:00:00",
        "2026-10-12T11:00:00",
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "endDate", "startDate": "2026-10-12", "endDate": "2026-11-02"},
        },
    )
    await world.graph("POST", "/me/events", token, json=series)
    view = (
        await world.graph(
            "GET",
            "/me/calendarView",
            token,
            params={"startDateTime": "2026-10-01T00:00:00Z", "endDateTime": "2026-12-01T00:00:00Z"},
            headers={"Prefer": 'outlook.timezone="Europe/Berlin"'},
        )
    ).json()["value"]
    assert [i["start"]["dateTime"][:16] for i in view] == [
        "2026-10-12T10:00",
        "2026-10-19T10:00",
        "2026-10-26T10:00",
        "2026-11-02T10:00",
    ]


async def test_prefer_timezone_changes_only_output_times(world: MsWorld) -> None:
    """provider-protocols §2.2, §10.3: Prefer outlook.timezone (Windows or IANA) changes the zone
    start/end are written in and is echoed in Preference-Applied; the query window is not
    affected."""
    token = await world.user_token()
    await world.graph("POST", "/me/events", token, json=event_body())
    params = {"startDateTime": "2026-11-24T08:30:00Z", "endDateTime": "2026-11-24T09:30:00Z"}
    plain = await world.graph("GET", "/me/calendarView", token, params=params)
    pacific = await world.graph(
        "GET",
        "/me/calendarView",
        token,
        params=params,
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    tokyo = await world.graph(
        "GET",
        "/me/calendarView",
        token,
        params=params,
        headers={"Prefer": 'outlook.timezone="Asia/Tokyo"'},
    )
    assert "Preference-Applied" not in plain.headers
    assert pacific.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'
    [u], [p], [t] = (r.json()["value"] for r in (plain, pacific, tokyo))
    assert u["start"] == {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"}
    assert p["start"] == {
        "dateTime": "2026-11-24T01:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert t["start"]["dateTime"] == "2026-11-24T18:00:00.0000000"
    assert u["id"] == p["id"] == t["id"]


async def test_paging_top_and_select(world: MsWorld) -> None:
    """provider-protocols §2.1: pages of 10 by default with @odata.nextLink until absent; $top
    sets the page size; $select trims fields but keeps id and @odata.etag."""
    token = await world.user_token()
    for i in range(23):
        await world.graph(
            "POST",
            "/me/events",
            token,
            json=event_body(
                f"E{i:02d}", f"2026-11-25T{i:02d}:00:00", f"2026-11-25T{i:02d}:30:00", "UTC"
            ),
        )
    seen, url, pages = [], f"/me/calendarView?startDateTime={WEEK_START}&endDateTime={WEEK_END}", 0
    while url:
        body = (await world.graph("GET", url, token)).json()
        seen += [e["subject"] for e in body["value"]]
        pages += 1
        next_link = body.get("@odata.nextLink")
        url = next_link.split("/graph/v1.0", 1)[1] if next_link else ""
    assert pages == 3
    assert seen == [f"E{i:02d}" for i in range(23)]
    top = (await world.graph("GET", "/me/events", token, params={"$top": "5"})).json()
    assert len(top["value"]) == 5
    assert "$top=5" in top["@odata.nextLink"]
    sel = (
        await world.graph("GET", "/me/events", token, params={"$select": "subject,start"})
    ).json()["value"][0]
    assert set(sel) == {"@odata.etag", "id", "subject", "start"}


async def test_single_value_extended_properties(world: MsWorld) -> None:
    """provider-protocols §2 (singleValueExtendedProperties): set on create, returned only when
    expanded, filtered by id."""
    token = await world.user_token()
    pid = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calgateMeetingId"
    other = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name other"
    created = (
        await world.graph(
            "POST",
            "/me/events",
            token,
            json=event_body(
                singleValueExtendedProperties=[
                    {"id": pid, "value": "m-42"},
                    {"id": other, "value": "x"},
                ]
            ),
        )
    ).json()
    plain = (await world.graph("GET", f"/me/events/{created['id']}", token)).json()
    assert "singleValueExtendedProperties" not in plain
    expanded = (
        await world.graph(
            "GET",
            f"/me/events/{created['id']}",
            token,
            params={"$expand": f"singleValueExtendedProperties($filter=id eq '{pid}')"},
        )
    ).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": pid, "value": "m-42"}]
    view = (
        await world.graph(
            "GET",
            "/me/calendarView",
            token,
            params={
                "startDateTime": WEEK_START,
                "endDateTime": WEEK_END,
                "$expand": f"singleValueExtendedProperties($filter=id eq '{pid}')",
            },
        )
    ).json()
    assert view["value"][0]["singleValueExtendedProperties"][0]["value"] == "m-42"


async def test_online_meeting_fields(world: MsWorld) -> None:
    """provider-protocols §2.3: isOnlineMeeting with teamsForBusiness gets onlineMeeting.joinUrl."""
    token = await world.user_token()
    r = await world.graph(
        "POST",
        "/me/events",
        token,
        json=event_body(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness"),
    )
    body = r.json()
    assert body["isOnlineMeeting"] is True
    assert body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/meetup-join/")
    offline = (await world.graph("POST", "/me/events", token, json=event_body())).json()
    assert offline["isOnlineMeeting"] is False
    assert offline["onlineMeeting"] is None


async def test_read_scope_cannot_write_403(world: MsWorld) -> None:
    """provider-protocols §1.6, §2.5: a Calendars.Read token writing → 403 ErrorAccessDenied;
    a token without calendar scopes cannot read; another user's calendar needs .Shared."""
    read = await world.user_token(ALICE, "Calendars.Read")
    assert (await world.graph("GET", "/me/events", read)).status_code == 200
    assert_graph_error(
        await world.graph("POST", "/me/events", read, json=event_body()), 403, "ErrorAccessDenied"
    )
    none = await world.user_token(ALICE, "User.Read")
    assert_graph_error(await world.graph("GET", "/me/events", none), 403, "ErrorAccessDenied")
    assert_graph_error(
        await world.graph("GET", f"/users/{BOB}/events", read), 403, "ErrorAccessDenied"
    )


async def test_application_permissions_reach_room_mailboxes(world: MsWorld) -> None:
    """provider-protocols §1.4, §2: an app-only token with Calendars.ReadWrite uses
    /users/{room}/…; an application access policy limits it (403 "Access to OData is
    disabled."); room copies lose their subject (Set-CalendarProcessing defaults)."""
    await world.control(
        "POST",
        f"/users/{ROOM}/events",
        json=event_body(
            "Secret board meeting",
            organizer={"emailAddress": {"address": ALICE, "name": "Alice Anders"}},
        ),
    )
    token = await world.app_token()
    r = await world.graph(
        "GET",
        f"/users/{ROOM}/calendarView",
        token,
        params={"startDateTime": WEEK_START, "endDateTime": WEEK_END},
    )
    assert r.status_code == 200
    [booking] = r.json()["value"]
    assert booking["subject"] == "Alice Anders"
    assert booking["organizer"]["emailAddress"]["address"] == ALICE
    created = await world.graph(
        "POST", f"/users/{world.users[ROOM]}/events", token, json=event_body("Maintenance")
    )
    assert created.status_code == 201
    await world.control("PATCH", f"/apps/{world.client_id}", json={"allowed_mailboxes": [BOB]})
    denied = await world.graph("GET", f"/users/{ROOM}/events", token)
    assert_graph_error(denied, 403, "ErrorAccessDenied")
    assert denied.json()["error"]["message"] == "Access to OData is disabled."
    assert (await world.graph("GET", f"/users/{BOB}/events", token)).status_code == 200


async def test_authentication_failures_are_401(world: MsWorld) -> None:
    """provider-protocols §2.5: missing, forged or expired tokens → 401
    InvalidAuthenticationToken."""
    token = await world.user_token()
    r = await world.http.get("/microsoft/graph/v1.0/me/events")
    assert_graph_error(r, 401, "InvalidAuthenticationToken")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_graph_error(
        await world.graph("GET", "/me/events", forged), 401, "InvalidAuthenticationToken"
    )
    world.core.clock.advance(91 * 60)
    expired = await world.graph("GET", "/me/events", token)
    assert_graph_error(expired, 401, "InvalidAuthenticationToken")
    assert "expired" in expired.json()["error"]["message"]


async def test_throttling_429_with_retry_after(world: MsWorld) -> None:
    """provider-protocols §2.5, §10.3: per app per mailbox request limit → 429
    ApplicationThrottled + Retry-After; other mailboxes are unaffected; injected faults use
    Graph's error body too."""
    token = await world.app_token()
    await world.control(
        "PATCH", "/settings", json={"requests_per_10min": 3, "retry_after_seconds": 7}
    )
    statuses = [
        (await world.graph("GET", f"/users/{ALICE}/events", token)).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    r = await world.graph("GET", f"/users/{ALICE}/events", token)
    assert_graph_error(r, 429, "ApplicationThrottled")
    assert r.headers["Retry-After"] == "7"
    assert (await world.graph("GET", f"/users/{BOB}/events", token)).status_code == 200
    world.core.clock.advance(600)
    assert (await world.graph("GET", f"/users/{ALICE}/events", token)).status_code == 200

    await world.http.post(
        "/_sandbox/faults",
        json={
            "kind": "status",
            "provider": "microsoft",
            "status": 429,
            "retry_after": 2,
            "path_prefix": "/microsoft/graph",
        },
    )
    faulted = await world.graph("GET", f"/users/{BOB}/events", token)
    assert faulted.status_code == 429
    assert faulted.headers["Retry-After"] == "2"
    assert faulted.json()["error"]["code"] == "ApplicationThrottled"


async def test_contacts_crud(world: MsWorld) -> None:
    """provider-protocols §1.6: /me/contacts with Contacts.Read / Contacts.ReadWrite."""
    token = await world.user_token(ALICE, "Contacts.ReadWrite")
    r = await world.graph(
        "POST",
        "/me/contacts",
        token,
        json={
            "displayName": "Dora Diaz",
            "givenName": "Dora",
            "emailAddresses": [{"name": "Dora", "address": "dora@example.test"}],
        },
    )
    assert r.status_code == 201
    contact_id = r.json()["id"]
    listed = (await world.graph("GET", "/me/contacts", token)).json()["value"]
    assert [c["displayName"] for c in listed] == ["Dora Diaz"]
    patched = await world.graph(
        "PATCH", f"/me/contacts/{contact_id}", token, json={"jobTitle": "CTO"}
    )
    assert patched.json()["jobTitle"] == "CTO"
    assert (await world.graph("DELETE", f"/me/contacts/{contact_id}", token)).status_code == 204
    read = await world.user_token(ALICE, "Contacts.Read")
    assert_graph_error(
        await world.graph("POST", "/me/contacts", read, json={}), 403, "ErrorAccessDenied"
    )
    cal = await world.user_token(ALICE, "Calendars.ReadWrite")
    assert_graph_error(await world.graph("GET", "/me/contacts", cal), 403, "ErrorAccessDenied")


async def test_unknown_segment_is_a_graph_400(world: MsWorld) -> None:
    """provider-protocols §2.5: unknown resources answer with Graph's error body."""
    token = await world.user_token()
    r = await world.graph("GET", "/me/nonsense", token)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"


async def test_prefer_maxpagesize_is_applied(world: MsWorld) -> None:
    """provider-protocols §2.1–2.2: Prefer odata.maxpagesize sets the page size and is echoed."""
    token = await world.user_token()
    for i in range(4):
        await world.graph(
            "POST",
            "/me/events",
            token,
            json=event_body(f"E{i}", f"2026-11-25T1{i}:00:00", f"2026-11-25T1{i}:30:00", "UTC"),
        )
    r = await world.graph("GET", "/me/events", token, headers={"Prefer": "odata.maxpagesize=3"})
    assert len(r.json()["value"]) == 3
    assert "odata.maxpagesize=3" in r.headers["Preference-Applied"]
    assert "$skip=3" in r.json()["@odata.nextLink"]
