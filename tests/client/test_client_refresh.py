"""The client SDK against calgate's token vending and the provider sandbox: full refresh
(C2), sanitizing (C5), paging, re-vending on a provider 401, connections that need
attention. alice's calendars are connected through calgate's flow (``connected``); what the
client asked calgate to do shows at the providers (``world.counters()``) and in what calgate
vends afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from calgate.client import CalgateClient, Snapshot, Status

from support.canary import MARKER, canary
from support.client_fixtures import REAUTH, T0, User, seed_event
from support.client_world import ClientWorld

MakeClient = Callable[..., CalgateClient]
Counters = dict[str, int]


def grown(before: Counters, after: Counters, name: str) -> int:
    return after.get(name, 0) - before.get(name, 0)


async def vended(client: httpx.AsyncClient, session: dict[str, str]) -> dict[str, Any]:
    """What calgate vends another app of alice's now (from its cache): connection id ->
    the vended connection."""
    r = await client.get("/v1/me/credentials", headers=session)
    assert r.status_code == 200, r.text
    return {c["connection_id"]: c for c in r.json()["connections"]}


async def refuse_google_tokens(world: ClientWorld, times: int) -> None:
    """Google answers its next ``times`` Calendar calls 401 authError, as it does for a
    token it no longer accepts."""
    fault = {"kind": "status", "provider": "google", "path_prefix": "/google/calendar",
             "status": 401, "count": times}  # fmt: skip
    await world.control("POST", "/faults", json=fault)


async def test_full_refresh_fetches_and_sanitizes_both_providers_C2_C5(
    make_client: MakeClient,
    world: ClientWorld,
    calgate_url: str,
    user: User,
    connected: dict[str, str],
) -> None:
    google, ms = connected["google"], connected["microsoft"]
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

    first, second = sorted((google, ms))  # same start and end: by connection id
    assert [(e.connection_id, e.event.subject) for e in snap.entries] == [
        (first, "Standup"),
        (second, "Standup"),
        (first, "Planning"),
        (second, "Planning"),
    ]
    for entry in snap.entries:
        ev = entry.event
        assert ev.provider == ("google" if entry.connection_id == google else "microsoft")
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
        google: (Status.OK, 2),
        ms: (Status.OK, 2),
    }
    assert snap.refreshed_at == T0


async def test_graph_pages_are_followed_C2(
    make_client: MakeClient, world: ClientWorld, user: User, connected: dict[str, str]
) -> None:
    events = [seed_event(f"Event {i:03d}", hours=1 + i) for i in range(130)]
    await world.control(
        "POST", "/microsoft/users/alice@contoso.example/seed", json={"events": events}
    )
    client = make_client()
    await client.sign_in(user.email, user.password)
    before = await world.counters()
    snap = await client.refresh_all()
    subjects = [e.event.subject for e in snap.entries if e.connection_id == connected["microsoft"]]
    assert subjects == [f"Event {i:03d}" for i in range(130) if 1 + i < 7 * 24]
    assert grown(before, await world.counters(), "microsoft.graph.calendarView") == 2


async def test_a_provider_401_re_vends_once_and_retries_C2(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """Google refuses the vended token once: the client asks calgate again for that
    connection with ``force_refresh`` (calgate refreshes Google's grant once, Microsoft's
    not at all) and retries with the fresh token."""
    google, ms = connected["google"], connected["microsoft"]
    await world.seed(seed_event("Kept"))
    stale = (await vended(client, session))[google]["access_token"]
    await refuse_google_tokens(world, times=1)
    app = make_client()
    await app.sign_in(user.email, user.password)
    before = await world.counters()
    snap = await app.refresh_all()
    after = await world.counters()
    assert [e.event.subject for e in snap.entries] == ["Kept", "Kept"]
    assert snap.connections[google].status is Status.OK
    assert snap.connections[ms].status is Status.OK
    assert grown(before, after, "google.fault.401") == 1
    assert grown(before, after, "google.token.refresh") == 1  # one forced vend, for Google
    assert grown(before, after, "microsoft.token.refresh") == 0
    assert grown(before, after, "google.events.list") == 1  # the retry, answered
    now = await vended(client, session)
    assert now[google]["access_token"] != stale  # calgate's token was refreshed…
    assert app._connections[google].access_token == now[google]["access_token"]  # …and used


async def test_a_connection_needing_reconnect_is_surfaced_C2(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """calgate already knows Microsoft's grant is dead (another app's forced vend found it):
    the vend lists it as reauth_required beside Google, and the client surfaces it without
    asking Graph."""
    google, ms = connected["google"], connected["microsoft"]
    await world.seed(seed_event("Kept"))
    await world.revoke("microsoft")
    r = await client.get(
        "/v1/me/credentials", params={"force_refresh": "true", "connection_id": ms}, headers=session
    )
    assert r.status_code == 409, r.text
    app = make_client()
    await app.sign_in(user.email, user.password)
    before = await world.counters()
    snap = await app.refresh_all()
    after = await world.counters()
    assert snap.connections[ms].status is Status.REAUTH_REQUIRED
    assert snap.connections[ms].reauth_url == REAUTH.format("microsoft")
    assert [c.id for c in snap.needing_attention()] == [ms]
    assert [e.connection_id for e in snap.entries] == [google]
    assert grown(before, after, "microsoft.graph.calendarView") == 0
    assert grown(before, after, "microsoft.token.refresh") == 0


async def test_a_grant_revoked_at_the_provider_needs_reconnecting_C2(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """Google refuses the cached token of a revoked grant; the client's forced vend of that
    connection is calgate's one refresh attempt, which meets invalid_grant."""
    google, ms = connected["google"], connected["microsoft"]
    await world.revoke("google")
    app = make_client()
    await app.sign_in(user.email, user.password)
    before = await world.counters()
    snap = await app.refresh_all()
    after = await world.counters()
    assert grown(before, after, "google.auth.invalid_token") == 1
    assert grown(before, after, "google.token.refresh") == 1  # one forced vend, for Google
    assert grown(before, after, "microsoft.token.refresh") == 0
    assert snap.connections[google].status is Status.REAUTH_REQUIRED
    assert snap.connections[ms].status is Status.OK
    now = await vended(client, session)  # calgate says so too
    assert (now[google]["status"], now[ms]["status"]) == ("reauth_required", "active")


async def test_a_token_still_refused_after_re_vending_is_an_error_not_a_crash_C2(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    google, ms = connected["google"], connected["microsoft"]
    await refuse_google_tokens(world, times=2)  # the vended token, then the fresh one
    app = make_client()
    await app.sign_in(user.email, user.password)
    before = await world.counters()
    snap = await app.refresh_all()
    after = await world.counters()
    state = snap.connections[google]
    assert state.status is Status.ERROR
    assert state.problem == "google answered 401 authError"
    assert snap.connections[ms].status is Status.OK
    assert grown(before, after, "google.fault.401") == 2
    assert grown(before, after, "google.token.refresh") == 1  # re-vended once, not again
    assert (await vended(client, session))[google]["status"] == "active"  # not a dead grant


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
    connected: dict[str, str],
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
    before = await world.counters()
    snap = await client.refresh_all()
    after = await world.counters()
    assert snap.connections[connected["microsoft"]].status is Status.OK
    assert snap.connections[connected["google"]].status is Status.OK
    assert subjects_of(snap) == ["Kept", "Kept"]
    assert grown(before, after, f"{provider}.fault.{status}") == 1  # throttled once…
    assert grown(before, after, counter) == 1  # …then answered


def subjects_of(snap: Snapshot) -> list[str]:
    return [e.event.subject for e in snap.entries]
