"""Event writes: provider-protocols §5.1 (methods), §5.2 (event resource) and §5.4 (errors),
§4.3 (scopes)."""

from __future__ import annotations

import re
from typing import Any

from .conftest import CAL_API, CALENDAR_READONLY, GoogleWorld

EVENTS = f"{CAL_API}/calendars/primary/events"
BODY = {
    "summary": "Design review",
    "start": {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2026-11-24T11:00:00+01:00", "timeZone": "Europe/Berlin"},
    "attendees": [{"email": "bob@example.com"}, {"email": "alice@example.com"}],
    "extendedProperties": {"private": {"calgateMeetingId": "m-1"}},
}


async def _insert(google: GoogleWorld, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = await google.http.post(EVENTS, headers=headers, json={**BODY, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_insert_sets_server_fields(google: GoogleWorld) -> None:
    """provider-protocols §5.2: base32hex id, quoted etag, iCalUID, created/updated,
    organizer, status confirmed, extendedProperties.private kept."""
    headers = await google.bearer()
    event = await _insert(google, headers)
    assert re.fullmatch(r"[a-v0-9]{5,1024}", event["id"])
    assert re.fullmatch(r'"\d+"', event["etag"])
    assert event["kind"] == "calendar#event"
    assert event["status"] == "confirmed"
    assert event["iCalUID"] == f"{event['id']}@google.com"
    assert event["organizer"] == {"email": "alice@example.com", "self": True}
    assert event["extendedProperties"] == {"private": {"calgateMeetingId": "m-1"}}
    assert event["created"].endswith("Z")
    assert event["updated"].endswith("Z")
    alice = next(a for a in event["attendees"] if a["email"] == "alice@example.com")
    assert alice["self"] is True
    assert alice["responseStatus"] == "needsAction"
    got = await google.http.get(f"{EVENTS}/{event['id']}", headers=headers)
    assert got.json() == event
    assert google.core.counters_for("google")["events.insert"] == 1


async def test_client_chosen_id_and_duplicates(google: GoogleWorld) -> None:
    """provider-protocols §5.2 (id alphabet) and §5.4: 409 duplicate."""
    headers = await google.bearer()
    event = await _insert(google, headers, id="calgate0meeting1")
    assert event["id"] == "calgate0meeting1"
    r = await google.http.post(EVENTS, headers=headers, json={**BODY, "id": "calgate0meeting1"})
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (409, "duplicate")
    r = await google.http.post(EVENTS, headers=headers, json={**BODY, "id": "Not_Base32"})
    assert r.status_code == 400


async def test_conference_data_needs_version_1(google: GoogleWorld) -> None:
    """provider-protocols §5.2: conferenceData writes need conferenceDataVersion=1; a Meet
    createRequest yields entry points and hangoutLink."""
    headers = await google.bearer()
    conference = {
        "createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}
    }
    ignored = await _insert(google, headers, conferenceData=conference)
    assert "conferenceData" not in ignored
    r = await google.http.post(
        EVENTS,
        headers=headers,
        params={"conferenceDataVersion": 1},
        json={**BODY, "conferenceData": conference},
    )
    data = r.json()["conferenceData"]
    assert data["createRequest"]["status"] == {"statusCode": "success"}
    assert data["entryPoints"][0]["entryPointType"] == "video"
    assert r.json()["hangoutLink"] == data["entryPoints"][0]["uri"]


async def test_patch_merges_update_replaces_and_etags_change(google: GoogleWorld) -> None:
    """provider-protocols §5.1 (PUT/PATCH) and §5.2 (etag changes on modification)."""
    headers = await google.bearer()
    event = await _insert(google, headers)
    url = f"{EVENTS}/{event['id']}"
    patched = (
        await google.http.patch(
            url, headers=headers, json={"extendedProperties": {"private": {"x": "1"}}}
        )
    ).json()
    assert patched["extendedProperties"]["private"] == {"calgateMeetingId": "m-1", "x": "1"}
    assert patched["summary"] == "Design review"
    assert patched["etag"] != event["etag"]
    assert patched["sequence"] == 0
    moved = {
        **BODY,
        "start": {"dateTime": "2026-11-25T10:00:00+01:00"},
        "end": {"dateTime": "2026-11-25T11:00:00+01:00"},
    }
    del moved["extendedProperties"]
    updated = (await google.http.put(url, headers=headers, json=moved)).json()
    assert "extendedProperties" not in updated
    assert updated["sequence"] == 1
    assert updated["id"] == event["id"]
    assert updated["created"] == event["created"]


async def test_if_match_with_a_stale_etag_is_412(google: GoogleWorld) -> None:
    """provider-protocols §5.4: 412 conditionNotMet (If-Match etag)."""
    headers = await google.bearer()
    event = await _insert(google, headers)
    url = f"{EVENTS}/{event['id']}"
    fresh = (await google.http.patch(url, headers=headers, json={"summary": "v2"})).json()
    r = await google.http.patch(
        url, headers={**headers, "If-Match": event["etag"]}, json={"summary": "v3"}
    )
    assert r.status_code == 412
    assert r.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    r = await google.http.delete(url, headers={**headers, "If-Match": event["etag"]})
    assert r.status_code == 412
    r = await google.http.patch(
        url, headers={**headers, "If-Match": fresh["etag"]}, json={"summary": "v3"}
    )
    assert r.status_code == 200


async def test_delete_then_get_shows_cancelled_and_second_delete_is_410(
    google: GoogleWorld,
) -> None:
    """provider-protocols §5.1 (DELETE 204) and §5.4 (410 deleted)."""
    headers = await google.bearer()
    event = await _insert(google, headers)
    url = f"{EVENTS}/{event['id']}"
    r = await google.http.delete(url, headers=headers)
    assert (r.status_code, r.content) == (204, b"")
    assert (await google.http.get(url, headers=headers)).json()["status"] == "cancelled"
    r = await google.http.delete(url, headers=headers)
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (410, "deleted")
    r = await google.http.get(f"{EVENTS}/nosuchevent1", headers=headers)
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (404, "notFound")


async def test_validation_errors(google: GoogleWorld) -> None:
    """provider-protocols §5.2 (`end` exclusive, timeZone required for recurring) and §5.4."""
    headers = await google.bearer()
    backwards = {**BODY, "end": {"dateTime": "2026-11-24T09:00:00+01:00"}}
    r = await google.http.post(EVENTS, headers=headers, json=backwards)
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (400, "timeRangeEmpty")
    series = {
        "start": {"dateTime": "2026-11-24T10:00:00+01:00"},
        "end": {"dateTime": "2026-11-24T11:00:00+01:00"},
        "recurrence": ["RRULE:FREQ=WEEKLY"],
    }
    r = await google.http.post(EVENTS, headers=headers, json=series)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Missing time zone definition for start time."
    bad_rule = {**BODY, "recurrence": ["RRULE:FREQ=SOMETIMES"]}
    r = await google.http.post(EVENTS, headers=headers, json=bad_rule)
    assert r.status_code == 400
    r = await google.http.post(EVENTS, headers=headers, content=b"{not json")
    assert r.status_code == 400


async def test_read_only_token_cannot_write_R7(google: GoogleWorld) -> None:
    """provider-protocols §4.3 (calendar.readonly) and §5.4: 403 insufficientPermissions,
    ACCESS_TOKEN_SCOPE_INSUFFICIENT."""
    reader = await google.bearer(scopes=(CALENDAR_READONLY,))
    assert (await google.http.get(EVENTS, headers=reader)).status_code == 200
    r = await google.http.post(EVENTS, headers=reader, json=BODY)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert error["details"][0]["metadata"]["method"] == "calendar.v3.Events.Insert"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_authentication_errors_and_other_users_calendars(google: GoogleWorld) -> None:
    """provider-protocols §5.4: 401 (location Authorization) and 404 for a calendar the
    caller cannot see."""
    r = await google.http.get(EVENTS)
    assert r.status_code == 401
    assert r.json()["error"]["errors"][0]["location"] == "Authorization"
    r = await google.http.get(EVENTS, headers={"Authorization": "Bearer nonsense"})
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (401, "authError")
    headers = await google.bearer()
    r = await google.http.get(f"{CAL_API}/calendars/bob@example.com/events", headers=headers)
    assert r.status_code == 404


async def test_patching_an_instance_creates_an_exception(google: GoogleWorld) -> None:
    """provider-protocols §5.2: each instance has its own id; changing one makes an
    exception that keeps recurringEventId/originalStartTime."""
    headers = await google.bearer()
    series = {
        **BODY,
        "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
    }
    master = (await google.http.post(EVENTS, headers=headers, json=series)).json()
    instance_id = f"{master['id']}_20261125T090000Z"
    got = (await google.http.get(f"{EVENTS}/{instance_id}", headers=headers)).json()
    assert got["recurringEventId"] == master["id"]
    assert "recurrence" not in got
    r = await google.http.patch(
        f"{EVENTS}/{instance_id}", headers=headers, json={"summary": "special"}
    )
    assert r.json()["originalStartTime"]["dateTime"] == "2026-11-25T10:00:00+01:00"
    listed = (
        await google.http.get(
            EVENTS, headers=headers, params={"singleEvents": "true", "orderBy": "startTime"}
        )
    ).json()
    assert [i["summary"] for i in listed["items"]] == ["Design review", "special", "Design review"]
