"""Rate limits and outages (provider-protocols §5.4, §10.5), the People API subset, the
discovery document (§5.5) and the Google control API."""

from __future__ import annotations

from .conftest import CAL_API, CALENDAR, CONTACTS_READONLY, GoogleWorld

EVENTS = f"{CAL_API}/calendars/primary/events"


async def test_injected_429_and_403_use_googles_usage_limits_body(google: GoogleWorld) -> None:
    """provider-protocols §5.4: 429 rateLimitExceeded and 403 usageLimits; Retry-After kept."""
    headers = await google.bearer()
    r = await google.http.post(
        "/_sandbox/faults",
        json={"kind": "status", "provider": "google", "path_prefix": "/google/calendar",
              "status": 429, "retry_after": 7},
    )  # fmt: skip
    assert r.status_code == 201
    r = await google.http.get(EVENTS, headers=headers)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    error = r.json()["error"]
    assert (error["code"], error["errors"][0]["domain"], error["errors"][0]["reason"]) == (
        429, "usageLimits", "rateLimitExceeded",
    )  # fmt: skip
    assert (await google.http.get(EVENTS, headers=headers)).status_code == 200  # count=1
    await google.http.post("/_sandbox/faults", json={"kind": "status", "status": 403})
    r = await google.http.get(EVENTS, headers=headers)
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (403, "rateLimitExceeded")
    await google.http.post("/_sandbox/faults", json={"kind": "status", "status": 500})
    r = await google.http.get(EVENTS, headers=headers)
    assert (r.status_code, r.json()["error"]["errors"][0]["reason"]) == (500, "backendError")
    assert google.core.counters_for("google")["fault.429"] == 1


async def test_per_user_quota(google: GoogleWorld) -> None:
    """provider-protocols §5.4: per-minute per-user quota → 403 userRateLimitExceeded (or
    429 rateLimitExceeded), on the sandbox clock."""
    headers = await google.bearer()
    await google.http.patch("/_sandbox/google/settings", json={"quota_per_minute": 2})
    google.advance(minutes=1)
    codes = [(await google.http.get(EVENTS, headers=headers)).status_code for _ in range(3)]
    assert codes == [200, 200, 403]
    r = await google.http.get(EVENTS, headers=headers)
    assert r.json()["error"]["errors"][0] == {
        "domain": "usageLimits",
        "reason": "userRateLimitExceeded",
        "message": "User Rate Limit Exceeded",
    }
    google.advance(minutes=1)
    assert (await google.http.get(EVENTS, headers=headers)).status_code == 200
    await google.http.patch(
        "/_sandbox/google/settings", json={"quota_status": 429, "quota_per_minute": 1}
    )
    google.advance(minutes=1)
    codes = [(await google.http.get(EVENTS, headers=headers)).status_code for _ in range(2)]
    assert codes == [200, 429]


async def test_people_connections_with_contacts_scope(google: GoogleWorld) -> None:
    """People API subset with scope enforcement (§4.3 pattern, §5.4 errors)."""
    for i in range(3):
        await google.http.post(
            "/_sandbox/google/users/alice@example.com/contacts",
            json={"display_name": f"Friend {i}", "email": f"friend{i}@example.org"},
        )
    url = "/google/people/v1/people/me/connections"
    calendar_only = await google.bearer()
    r = await google.http.get(url, headers=calendar_only, params={"personFields": "names"})
    assert r.status_code == 403
    assert r.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    headers = await google.bearer(scopes=(CALENDAR, CONTACTS_READONLY))
    assert (await google.http.get(url, headers=headers)).status_code == 400  # personFields
    params = {"personFields": "names,emailAddresses", "pageSize": "2"}
    first = (await google.http.get(url, headers=headers, params=params)).json()
    assert first["totalPeople"] == 3
    assert len(first["connections"]) == 2
    assert first["connections"][0]["emailAddresses"][0]["value"] == "friend0@example.org"
    rest = (
        await google.http.get(
            url, headers=headers, params={**params, "pageToken": first["nextPageToken"]}
        )
    ).json()
    assert [p["names"][0]["displayName"] for p in rest["connections"]] == ["Friend 2"]
    assert "nextPageToken" not in rest


async def test_discovery_document_points_at_the_sandbox(google: GoogleWorld) -> None:
    """provider-protocols §5.5: the Calendar v3 discovery document, rootUrl rewritten."""
    r = await google.http.get("/google/discovery/v1/apis/calendar/v3/rest")
    doc = r.json()
    assert doc["id"] == "calendar:v3"
    assert doc["rootUrl"] == "http://sandbox.test/google/"
    assert doc["baseUrl"] == "http://sandbox.test/google/calendar/v3/"
    assert "watch" in doc["resources"]["events"]["methods"]


async def test_control_api_users_clients_describe_and_seed(google: GoogleWorld) -> None:
    """The control API: users get a primary calendar, clients are listed without secrets,
    describe shows what a developer needs, seed generates data."""
    await google.add_user("carol@example.com", "Asia/Tokyo")
    headers = await google.bearer("carol@example.com")
    entries = (await google.http.get(f"{CAL_API}/users/me/calendarList", headers=headers)).json()
    assert [(e["id"], e["primary"], e["timeZone"]) for e in entries["items"]] == [
        ("carol@example.com", True, "Asia/Tokyo")
    ]
    assert (
        await google.http.post("/_sandbox/google/users", json={"email": "carol@example.com"})
    ).status_code == 409
    clients = (await google.http.get("/_sandbox/google/clients")).json()
    assert all("client_secret" not in c for c in clients)
    described = (await google.http.get("/_sandbox/describe")).json()["google"]
    assert described["endpoints"]["token"] == "http://sandbox.test/google/token"
    assert "carol@example.com" in described["users"]

    r = await google.http.post(
        "/_sandbox/google/seed", json={"users": 2, "events_per_user": 5, "rooms": 1}
    )
    assert r.status_code == 201
    assert r.json()["events"] == 10
    state = (await google.http.get("/_sandbox/google/state")).json()
    assert state["events"] >= 10
    settings = (await google.http.get("/_sandbox/google/settings")).json()
    assert settings["access_token_ttl"] == 3600
    assert settings["refresh_cap"] == 100
    assert (
        await google.http.patch("/_sandbox/google/settings", json={"nope": 1})
    ).status_code == 422


async def test_seed_events_endpoint_takes_provider_neutral_events(google: GoogleWorld) -> None:
    """Seeding from SeedEvents (calgate.sandbox.model) through the control API."""
    seed = [
        {
            "subject": "Seeded series",
            "start": "2026-11-24T09:00:00+01:00",
            "end": "2026-11-24T09:30:00+01:00",
            "time_zone": "Europe/Berlin",
            "rrule": "FREQ=DAILY;COUNT=3",
            "overrides": [{"original_start": "2026-11-25T09:00:00+01:00", "cancelled": True}],
            "online_meeting_url": "https://meet.example.com/j/123",
        }
    ]
    r = await google.http.post("/_sandbox/google/calendars/alice@example.com/seed", json=seed)
    assert r.status_code == 201, r.text
    headers = await google.bearer()
    items = (
        await google.http.get(
            EVENTS, headers=headers, params={"singleEvents": "true", "orderBy": "startTime"}
        )
    ).json()["items"]
    assert [i["start"]["dateTime"][:10] for i in items] == ["2026-11-24", "2026-11-26"]
    assert items[0]["conferenceData"]["entryPoints"][0]["uri"] == "https://meet.example.com/j/123"
