"""Seed data → Graph JSON: the default seed, the data generator's output, the control API's
seed endpoint, and RRULE → patternedRecurrence (provider-protocols §2.3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.datagen import generate
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.mapping import property_id
from calgate.sandbox.microsoft.naa import SANDBOX_ADDIN_CLIENT_ID
from calgate.sandbox.microsoft.recurrence import graph_from_rrule
from calgate.sandbox.microsoft.render import render_event
from calgate.sandbox.microsoft.seed import SANDBOX_CLIENT_ID
from calgate.sandbox.model import SeedEvent

from .conftest import ALICE, T0, MsWorld

W0, W1 = T0 - timedelta(days=7), T0 + timedelta(days=400)


def expected_starts(seed: SeedEvent) -> set[datetime]:
    """An independent oracle: dateutil expands the seed's own RRULE in its zone."""
    zone = ZoneInfo(seed.time_zone)
    assert isinstance(seed.start, datetime)
    assert isinstance(seed.end, datetime)
    duration = seed.end - seed.start
    if not seed.rrule:
        starts = {seed.start.astimezone(UTC)}
    else:
        local = seed.start.astimezone(zone).replace(tzinfo=None)
        rule = rrulestr(seed.rrule, dtstart=local, ignoretz=True)
        lo = W0.astimezone(zone).replace(tzinfo=None) - duration
        hi = W1.astimezone(zone).replace(tzinfo=None)
        starts = {s.replace(tzinfo=zone).astimezone(UTC) for s in rule.between(lo, hi, inc=True)}
    for override in seed.overrides:
        original = override.original_start.astimezone(UTC)
        starts.discard(original)
        if not override.cancelled:
            moved = override.start or override.original_start
            starts.add(moved.astimezone(UTC))
    return {s for s in starts if s < W1 and s + duration > W0}


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_generated_data_maps_cleanly_into_graph(core: SandboxCore, seed: int) -> None:
    """Every generated event becomes a Graph event whose calendarView occurrences (UTC) are the
    ones the seed's RRULE and overrides describe; extended properties and online meetings
    survive."""
    data = generate(users=4, events_per_user=25, seed=seed, start=T0)
    em = MicrosoftEmulator(core, seed=False)
    tenant = em.state.add_tenant("example.com", "Example")
    for person in (*data.users, *data.rooms):
        em.state.add_user(
            tenant,
            person.email,
            person.display_name,
            time_zone=person.time_zone,
            is_room=person in data.rooms,
        )
    em.state.settings.room_delete_subject = False
    checked = 0
    for owner, events in data.events.items():
        user = em.state.user(owner)
        assert user is not None
        stored = em.seed_events(user, events)
        assert len(stored) == len(events)
        for seed_event, event in zip(events, stored, strict=True):
            instances = em.calendar.instances_of(event, W0, W1)
            if seed_event.all_day:
                assert isinstance(seed_event.start, date)
                assert instances[0].start.date() >= seed_event.start
                continue
            got = {i.start_utc for i in instances}
            assert got == expected_starts(seed_event), seed_event.subject
            rendered = render_event(instances[0], properties=lambda _p: True)
            assert rendered["subject"] == seed_event.subject
            if seed_event.online_meeting_url:
                assert rendered["onlineMeeting"]["joinUrl"] == seed_event.online_meeting_url
                assert seed_event.online_meeting_url in rendered["body"]["content"]
            props = {p["id"]: p["value"] for p in rendered["singleValueExtendedProperties"]}
            for key, value in seed_event.private_properties.items():
                assert props[property_id(key)] == value
            checked += 1
    assert checked > 50


def test_default_seed_describes_a_usable_world(core: SandboxCore) -> None:
    """The default seed: one tenant, one app (fake credentials) and the Outlook add-in's
    registration (a public client), alice/bob/carol + a room, a
    few events each; describe() returns the authority, Graph base, client and users."""
    em = MicrosoftEmulator(core)
    described = em.describe("http://127.0.0.1:8090")
    assert described["authority"].startswith("http://127.0.0.1:8090/microsoft/")
    assert described["graph"] == "http://127.0.0.1:8090/microsoft/graph/v1.0"
    clients = {c["client_id"]: c for c in described["clients"]}
    assert set(clients) == {SANDBOX_CLIENT_ID, SANDBOX_ADDIN_CLIENT_ID}  # + the Outlook add-in
    assert "not-a-real-secret" in clients[SANDBOX_CLIENT_ID]["client_secret"]
    assert clients[SANDBOX_CLIENT_ID]["public_client"] is False
    assert clients[SANDBOX_ADDIN_CLIENT_ID]["public_client"] is True  # NAA: no secret at all
    assert "client_secret" not in clients[SANDBOX_ADDIN_CLIENT_ID]
    upns = {u["upn"]: u for u in described["users"]}
    assert set(upns) == {
        "alice@contoso.example",
        "bob@contoso.example",
        "carol@contoso.example",
        "room101@contoso.example",
    }
    assert upns["room101@contoso.example"]["is_room"] is True
    for user in em.state.users.values():
        assert em.calendar.view(user, T0 - timedelta(days=1), T0 + timedelta(days=14)), user.upn
    alice = em.state.user("alice@contoso.example")
    assert alice is not None
    kinds = {
        i.kind for i in em.calendar.view(alice, T0 - timedelta(days=1), T0 + timedelta(days=21))
    }
    assert {"occurrence", "exception", "singleInstance"} <= kinds


async def test_control_seed_endpoint(world: MsWorld) -> None:
    """POST /_sandbox/microsoft/users/{user}/seed takes SeedEvents as JSON."""
    body = {
        "events": [
            {
                "subject": "Weekly",
                "start": "2026-11-24T10:00:00+01:00",
                "end": "2026-11-24T10:30:00+01:00",
                "time_zone": "Europe/Berlin",
                "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=4",
                "overrides": [{"original_start": "2026-12-01T10:00:00+01:00", "cancelled": True}],
                "private_properties": {"calgateMeetingId": "m-1"},
            }
        ]
    }
    created = await world.control("POST", f"/users/{ALICE}/seed", json=body)
    assert len(created["created"]) == 1
    token = await world.user_token()
    view = await world.graph(
        "GET",
        "/me/calendarView",
        token,
        params={"startDateTime": "2026-11-23T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
    )
    starts = [i["start"]["dateTime"][:10] for i in view.json()["value"]]
    assert starts == ["2026-11-24", "2026-12-08", "2026-12-15"]
    bad = await world.http.post(
        f"/_sandbox/microsoft/users/{ALICE}/seed",
        json={
            "events": [
                {
                    "subject": "x",
                    "start": "2026-11-24T10:00:00Z",
                    "end": "2026-11-24T11:00:00Z",
                    "rrule": "FREQ=HOURLY;COUNT=3",
                }
            ]
        },
    )
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("rule", "pattern"),
    [
        ("FREQ=DAILY;INTERVAL=2;COUNT=5", {"type": "daily", "interval": 2}),
        (
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=10",
            {
                "type": "weekly",
                "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            },
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE",
            {"type": "weekly", "interval": 2, "daysOfWeek": ["wednesday"]},
        ),
        ("FREQ=MONTHLY;BYMONTHDAY=15", {"type": "absoluteMonthly", "dayOfMonth": 15}),
        (
            "FREQ=MONTHLY;BYDAY=-1FR",
            {"type": "relativeMonthly", "index": "last", "daysOfWeek": ["friday"]},
        ),
        (
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1",
            {"type": "absoluteYearly", "month": 3, "dayOfMonth": 1},
        ),
    ],
)
def test_rrule_to_patterned_recurrence(rule: str, pattern: dict[str, object]) -> None:
    """provider-protocols §2.3: pattern types and ranges Outlook can represent."""
    rec = graph_from_rrule(rule, datetime(2026, 11, 23, 10), "W. Europe Standard Time")
    assert pattern.items() <= rec["pattern"].items()
    assert rec["range"]["startDate"] == "2026-11-23"
    assert rec["range"]["type"] == ("numbered" if "COUNT" in rule else "noEnd")


def test_unrepresentable_rules_are_refused() -> None:
    for rule in ("FREQ=HOURLY;COUNT=3", "FREQ=MONTHLY;BYDAY=5MO", "FREQ=DAILY;BYHOUR=9,17"):
        with pytest.raises(ValueError, match="Outlook cannot represent"):
            graph_from_rrule(rule, datetime(2026, 11, 23, 10), "UTC")
