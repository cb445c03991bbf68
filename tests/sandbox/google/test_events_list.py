"""events.list contract: provider-protocols §5.1 (parameters, paging, sync tokens) and §5.2
(instances, recurrence, all-day events)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import CAL_API, CALENDAR_READONLY, GoogleWorld

EVENTS = f"{CAL_API}/calendars/primary/events"
BERLIN = "Europe/Berlin"


def _at(day: int, hour: int, minute: int = 0) -> dict[str, str]:
    return {"dateTime": f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00+01:00", "timeZone": BERLIN}


async def _list(google: GoogleWorld, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await google.http.get(EVENTS, headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _all(google: GoogleWorld, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    """Follow nextPageToken to the end; returns items and the final page."""
    items: list[dict[str, Any]] = []
    page = await _list(google, headers, **params)
    while True:
        items += page["items"]
        if "nextPageToken" not in page:
            return {"items": items, "last": page}
        assert "nextSyncToken" not in page
        page = await _list(google, headers, **params, pageToken=page["nextPageToken"])


@pytest.fixture
async def reader(google: GoogleWorld) -> dict[str, str]:
    return await google.bearer(scopes=(CALENDAR_READONLY,))


async def test_time_bounds_are_exclusive_on_end_and_start(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1: timeMin bounds the event end (exclusive), timeMax the start
    (exclusive)."""
    ten = await google.user_insert(
        "alice@example.com", {"summary": "ten", "start": _at(24, 10), "end": _at(24, 11)}
    )
    eleven = await google.user_insert(
        "alice@example.com", {"summary": "eleven", "start": _at(24, 11), "end": _at(24, 12)}
    )
    ids = lambda body: {i["id"] for i in body["items"]}  # noqa: E731
    body = await _list(google, reader, timeMin="2026-11-24T11:00:00+01:00")
    assert ids(body) == {eleven["id"]}
    body = await _list(google, reader, timeMax="2026-11-24T11:00:00+01:00")
    assert ids(body) == {ten["id"]}
    body = await _list(
        google, reader, timeMin="2026-11-24T10:00:00Z", timeMax="2026-11-24T10:00:01Z"
    )
    assert ids(body) == {eleven["id"]}  # 11:00 Berlin = 10:00Z


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"timeMin": "2026-11-24T10:00:00"}, "badRequest"),
        ({"timeMin": "2026-11-24T10:00:00Z", "timeMax": "2026-11-24T10:00:00Z"}, "timeRangeEmpty"),
        ({"orderBy": "startTime"}, "badRequest"),
        ({"syncToken": "x", "timeMin": "2026-11-24T10:00:00Z"}, "invalid"),
        ({"syncToken": "x", "showDeleted": "false"}, "invalid"),
    ],
)
async def test_bad_parameter_combinations_are_400(
    google: GoogleWorld, reader: dict[str, str], params: dict[str, str], reason: str
) -> None:
    """provider-protocols §5.1 and §5.4: offsets required, timeMax > timeMin, orderBy
    startTime only with singleEvents, syncToken excludes the filters."""
    r = await google.http.get(EVENTS, headers=reader, params=params)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400
    assert error["errors"][0]["reason"] == reason


async def _weekly_series(google: GoogleWorld) -> dict[str, Any]:
    """Weekly Tuesdays 10:00 Berlin, 6 times from 2026-10-20 (across the DST change), with the
    4th moved to Wednesday 14:00 and the 5th cancelled."""
    master = await google.user_insert(
        "alice@example.com",
        {
            "summary": "Weekly",
            "start": {"dateTime": "2026-10-20T10:00:00", "timeZone": BERLIN},
            "end": {"dateTime": "2026-10-20T10:30:00", "timeZone": BERLIN},
            "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=6"],
        },
    )
    mid = master["id"]
    r = await google.http.patch(
        f"/_sandbox/google/calendars/alice@example.com/events/{mid}_20261110T090000Z",
        json={"start": _at(11, 14), "end": _at(11, 15), "summary": "Weekly (moved)"},
    )
    assert r.status_code == 200, r.text
    r = await google.http.delete(
        f"/_sandbox/google/calendars/alice@example.com/events/{mid}_20261117T090000Z"
    )
    assert r.status_code == 204
    return master


async def test_single_events_expands_series_with_exceptions(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1 (singleEvents, orderBy=startTime) and §5.2 (instance ids
    `{masterId}_{YYYYMMDDTHHMMSSZ}`, shared iCalUID, recurringEventId, originalStartTime;
    wall-clock time kept across DST)."""
    master = await _weekly_series(google)
    body = await _list(google, reader, singleEvents="true", orderBy="startTime")
    items = body["items"]
    assert all("recurrence" not in i for i in items)  # masters omitted
    starts = [i["start"]["dateTime"] for i in items]
    assert starts == [
        "2026-10-20T10:00:00+02:00",
        "2026-10-27T10:00:00+01:00",
        "2026-11-03T10:00:00+01:00",
        "2026-11-11T14:00:00+01:00",  # moved
        "2026-11-24T10:00:00+01:00",  # the 17th is cancelled
    ]
    assert {i["iCalUID"] for i in items} == {master["iCalUID"]}
    assert {i["recurringEventId"] for i in items} == {master["id"]}
    assert items[0]["id"] == f"{master['id']}_20261020T080000Z"
    assert items[3]["originalStartTime"]["dateTime"] == "2026-11-10T10:00:00+01:00"
    assert items[3]["summary"] == "Weekly (moved)"
    assert all(re.fullmatch(r"[a-v0-9]+_\d{8}T\d{6}Z", i["id"]) for i in items)

    shown = await _list(google, reader, singleEvents="true", showDeleted="true")
    cancelled = [i for i in shown["items"] if i["status"] == "cancelled"]
    assert [c["id"] for c in cancelled] == [f"{master['id']}_20261117T090000Z"]
    assert set(cancelled[0]) <= {
        "kind",
        "etag",
        "id",
        "status",
        "updated",
        "recurringEventId",
        "originalStartTime",
    }


async def test_without_single_events_masters_and_exceptions_come_separately(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.2: `recurrence` only on masters; exceptions carry
    recurringEventId; cancelled ones only with showDeleted (§5.1)."""
    master = await _weekly_series(google)
    body = await _list(google, reader)
    kinds = sorted(("recurrence" in i, i.get("recurringEventId")) for i in body["items"])
    assert kinds == [(False, master["id"]), (True, None)]
    shown = await _list(google, reader, showDeleted="true")
    assert len(shown["items"]) == 3
    window = await _list(google, reader, timeMin="2026-11-25T00:00:00Z")
    assert window["items"] == []  # the series has no instance after its last one


async def test_instances_lists_one_series(google: GoogleWorld, reader: dict[str, str]) -> None:
    """provider-protocols §5.1: GET …/{eventId}/instances."""
    master = await _weekly_series(google)
    r = await google.http.get(f"{EVENTS}/{master['id']}/instances", headers=reader)
    assert len(r.json()["items"]) == 5


async def test_all_day_events_use_dates(google: GoogleWorld, reader: dict[str, str]) -> None:
    """provider-protocols §5.2: all-day events are `{date}` with an exclusive end."""
    await google.user_insert(
        "alice@example.com",
        {"summary": "Offsite", "start": {"date": "2026-11-26"}, "end": {"date": "2026-11-28"}},
    )
    body = await _list(
        google, reader, timeMin="2026-11-27T12:00:00+01:00", timeMax="2026-11-27T13:00:00+01:00"
    )
    assert [(i["start"], i["end"]) for i in body["items"]] == [
        ({"date": "2026-11-26"}, {"date": "2026-11-28"})
    ]
    after = await _list(google, reader, timeMin="2026-11-28T00:00:00+01:00")
    assert after["items"] == []


async def test_paging_and_sync_token_only_on_last_page(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1: maxResults + pageToken; exactly one of nextPageToken /
    nextSyncToken; nextSyncToken only on the last page."""
    for day in range(1, 6):
        await google.user_insert(
            "alice@example.com", {"summary": f"e{day}", "start": _at(day, 9), "end": _at(day, 10)}
        )
    first = await _list(google, reader, maxResults=2, singleEvents="true", orderBy="startTime")
    assert len(first["items"]) == 2
    assert "nextPageToken" in first
    assert "nextSyncToken" not in first
    walked = await _all(google, reader, maxResults=2, singleEvents="true", orderBy="startTime")
    assert [i["summary"] for i in walked["items"]] == ["e1", "e2", "e3", "e4", "e5"]
    assert "nextSyncToken" in walked["last"]
    r = await google.http.get(EVENTS, headers=reader, params={"pageToken": first["nextPageToken"]})
    assert r.status_code == 400  # a page token belongs to its query


async def test_incremental_sync_returns_changes_and_deletions(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1: syncToken returns only what changed since; deletions come as
    status "cancelled"; a new nextSyncToken each time."""
    keep = await google.user_insert(
        "alice@example.com", {"summary": "keep", "start": _at(24, 9), "end": _at(24, 10)}
    )
    gone = await google.user_insert(
        "alice@example.com", {"summary": "gone", "start": _at(25, 9), "end": _at(25, 10)}
    )
    full = await _all(google, reader)
    token = full["last"]["nextSyncToken"]
    assert (await _list(google, reader, syncToken=token))["items"] == []

    new = await google.user_insert(
        "alice@example.com", {"summary": "new", "start": _at(26, 9), "end": _at(26, 10)}
    )
    await google.http.patch(
        f"/_sandbox/google/calendars/alice@example.com/events/{keep['id']}",
        json={"summary": "kept"},
    )
    await google.http.delete(f"/_sandbox/google/calendars/alice@example.com/events/{gone['id']}")
    delta = await _list(google, reader, syncToken=token)
    by_id = {i["id"]: i for i in delta["items"]}
    assert set(by_id) == {keep["id"], gone["id"], new["id"]}
    assert by_id[gone["id"]]["status"] == "cancelled"
    assert by_id[keep["id"]]["summary"] == "kept"
    again = await _list(google, reader, syncToken=delta["nextSyncToken"])
    assert again["items"] == []
    assert google.core.counters_for("google")["events.list.incremental"] == 3


async def test_incremental_sync_with_single_events_expands_changed_series(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1 + §5.2: with singleEvents the changes come as instances."""
    token = (await _all(google, reader, singleEvents="true"))["last"]["nextSyncToken"]
    await _weekly_series(google)
    delta = await _list(google, reader, singleEvents="true", syncToken=token)
    states = sorted(i["status"] for i in delta["items"])
    assert states == ["cancelled"] + ["confirmed"] * 5


async def test_invalidated_or_expired_sync_token_is_410(
    google: GoogleWorld, reader: dict[str, str]
) -> None:
    """provider-protocols §5.1 and §10.5: 410 Gone with reason fullSyncRequired."""
    expected = {
        "error": {
            "errors": [
                {
                    "domain": "calendar",
                    "reason": "fullSyncRequired",
                    "message": "Sync token is no longer valid, a full sync is required.",
                }
            ],
            "code": 410,
            "message": "Sync token is no longer valid, a full sync is required.",
        }
    }
    token = (await _all(google, reader))["last"]["nextSyncToken"]
    await google.http.post("/_sandbox/google/calendars/alice@example.com/invalidate-sync-tokens")
    r = await google.http.get(EVENTS, headers=reader, params={"syncToken": token})
    assert (r.status_code, r.json()) == (410, expected)

    token = (await _all(google, reader))["last"]["nextSyncToken"]
    google.advance(days=31)
    r = await google.http.get(EVENTS, headers=await google.bearer(), params={"syncToken": token})
    assert r.status_code == 410
    r = await google.http.get(
        EVENTS, headers=await google.bearer(), params={"syncToken": "garbage"}
    )
    assert r.status_code == 410


async def test_order_by_updated_and_filters(google: GoogleWorld, reader: dict[str, str]) -> None:
    """provider-protocols §5.1: orderBy=updated; q, iCalUID and privateExtendedProperty."""
    a = await google.user_insert(
        "alice@example.com",
        {
            "summary": "Alpha sync",
            "start": _at(24, 9),
            "end": _at(24, 10),
            "extendedProperties": {"private": {"calgate": "m1"}},
        },
    )
    google.advance(seconds=5)
    b = await google.user_insert(
        "alice@example.com", {"summary": "Beta", "start": _at(23, 9), "end": _at(23, 10)}
    )
    google.advance(seconds=5)
    await google.http.patch(
        f"/_sandbox/google/calendars/alice@example.com/events/{a['id']}",
        json={"location": "Room 1"},
    )
    body = await _list(google, reader, orderBy="updated")
    assert [i["id"] for i in body["items"]] == [b["id"], a["id"]]
    assert [i["id"] for i in (await _list(google, reader, q="alpha"))["items"]] == [a["id"]]
    assert [i["id"] for i in (await _list(google, reader, iCalUID=b["iCalUID"]))["items"]] == [
        b["id"]
    ]
    found = await _list(google, reader, privateExtendedProperty="calgate=m1")
    assert [i["id"] for i in found["items"]] == [a["id"]]


async def test_response_envelope(google: GoogleWorld, reader: dict[str, str]) -> None:
    """provider-protocols §5.1: kind calendar#events, timeZone, accessRole, defaultReminders."""
    body = await _list(google, reader)
    assert body["kind"] == "calendar#events"
    assert body["timeZone"] == BERLIN
    assert body["accessRole"] == "owner"
    assert {"etag", "summary", "updated", "defaultReminders", "items"} <= set(body)
