"""The client SDK against the provider sandbox: full refresh (C2), sanitizing (C5), paging,
re-vending on a provider 401, connections that need attention."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from calgate.client import CalgateClient, Snapshot, Status, VendedConnection

from support.canary import MARKER, canary
from support.client_fixtures import T0, User, seed_event
from support.client_world import ClientWorld, SandboxVendor

MakeClient = Callable[..., CalgateClient]


async def test_full_refresh_fetches_and_sanitizes_both_providers_C2_C5(
    make_client: MakeClient, world: ClientWorld, calgate_url: str, user: User
) -> None:
    secret_body = canary("body")
    guest = f"guest-{MARKER}@partner.example"
    await world.seed(
        seed_event(
            "Planning",
            hours=26,
            body=f"Agenda {secret_body}\nJoin: {calgate_url}/j/12345678901",
            location="Board room",
            attendees=[
                {"email": guest, "display_name": "Gus Guest", "response": "accepted"},
                {
                    "email": f"room-{MARKER}@resource.example",
                    "display_name": "Atlas",
                    "is_room": True,
                    "response": "accepted",
                },
            ],
        ),
        seed_event("Standup", hours=2, minutes=15),
        seed_event("Next month", hours=24 * 30),  # outside the 7-day window
        seed_event("Yesterday", hours=-24),
    )
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()

    assert [(e.connection_id, e.event.subject) for e in snap.entries] == [
        ("conn-google", "Standup"),
        ("conn-ms", "Standup"),
        ("conn-google", "Planning"),
        ("conn-ms", "Planning"),
    ]
    for entry in snap.entries:
        ev = entry.event
        assert ev.provider == ("google" if entry.connection_id == "conn-google" else "microsoft")
        if ev.subject == "Standup":
            assert (ev.start, ev.duration) == (T0 + timedelta(hours=2), timedelta(minutes=15))
            continue
        assert ev.start == T0 + timedelta(hours=26)
        assert ev.meeting_id == "12345678901"
        assert ev.meeting_url == f"{calgate_url}/j/12345678901"
        assert ev.description.startswith("Agenda ")  # kept for display, in memory only
        assert [a.name for a in ev.attendees if not a.organizer] == ["Gus Guest"]
        assert [r.name for r in ev.rooms] == ["Atlas"]
        assert MARKER not in repr(ev.attendees) + repr(ev.rooms)  # no address anywhere
        assert guest not in str(ev.to_dict())
    assert {c.id: (c.status, c.event_count) for c in snap.connections.values()} == {
        "conn-google": (Status.OK, 2),
        "conn-ms": (Status.OK, 2),
    }
    assert snap.refreshed_at == T0


async def test_graph_pages_are_followed_C2(
    make_client: MakeClient, world: ClientWorld, user: User
) -> None:
    events = [seed_event(f"Event {i:03d}", hours=1 + i) for i in range(130)]
    await world.control(
        "POST", "/microsoft/users/alice@contoso.example/seed", json={"events": events}
    )
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    subjects = [e.event.subject for e in snap.entries if e.connection_id == "conn-ms"]
    assert subjects == [f"Event {i:03d}" for i in range(130) if 1 + i < 7 * 24]
    assert (await world.counters())["microsoft.graph.calendarView"] == 2


async def test_a_provider_401_re_vends_once_and_retries_C2(
    make_client: MakeClient, world: ClientWorld, vendor: SandboxVendor, user: User
) -> None:
    await world.seed(seed_event("Kept"))
    vendor.grants["conn-google"].access_token = canary("stale-access-token")
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    assert vendor.calls == [(False, None), (True, "conn-google")]
    assert [e.event.subject for e in snap.entries] == ["Kept", "Kept"]
    assert snap.connections["conn-google"].status is Status.OK


async def test_a_connection_needing_reconnect_is_surfaced_C2(
    make_client: MakeClient, world: ClientWorld, vendor: SandboxVendor, user: User
) -> None:
    await world.seed(seed_event("Kept"))
    vendor.grants["conn-ms"].status = "reauth_required"
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    assert snap.connections["conn-ms"].status is Status.REAUTH_REQUIRED
    assert [c.id for c in snap.needing_attention()] == ["conn-ms"]
    assert [e.connection_id for e in snap.entries] == ["conn-google"]


async def test_a_grant_revoked_at_the_provider_needs_reconnecting_C2(
    make_client: MakeClient, world: ClientWorld, vendor: SandboxVendor, user: User
) -> None:
    await world.control("POST", "/google/users/alice@example.com/revoke", json={})
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    assert vendor.calls == [(False, None), (True, "conn-google")]
    assert snap.connections["conn-google"].status is Status.REAUTH_REQUIRED
    assert snap.connections["conn-ms"].status is Status.OK


async def test_a_token_still_refused_after_re_vending_is_an_error_not_a_crash_C2(
    make_client: MakeClient, world: ClientWorld, vendor: SandboxVendor, user: User
) -> None:
    async def stale_vendor(force: bool, cid: str | None) -> list[VendedConnection]:
        return [replace(c, access_token=canary("stale")) for c in await vendor(force, cid)]

    client = make_client(vendor=stale_vendor)
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    state = snap.connections["conn-google"]
    assert state.status is Status.ERROR
    assert state.problem == "google answered 401 authError"
    assert vendor.calls.count((True, "conn-google")) == 1


@pytest.mark.parametrize(
    ("provider", "prefix", "status", "counter"),
    [
        ("microsoft", "/microsoft/graph", 429, "microsoft.graph.calendarView"),
        ("google", "/google/calendar", 403, "google.events.list"),  # rateLimitExceeded
    ],
)
async def test_throttling_is_retried_after_retry_after_C2(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    provider: str,
    prefix: str,
    status: int,
    counter: str,
) -> None:
    await world.seed(seed_event("Kept"))
    fault = {"kind": "status", "provider": provider, "path_prefix": prefix, "status": status,
             "retry_after": 0, "count": 1}  # fmt: skip
    await world.control("POST", "/faults", json=fault)
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    assert snap.connections["conn-ms"].status is Status.OK
    assert snap.connections["conn-google"].status is Status.OK
    assert subjects_of(snap) == ["Kept", "Kept"]
    assert (await world.counters())[counter] >= 1


def subjects_of(snap: Snapshot) -> list[str]:
    return [e.event.subject for e in snap.entries]
