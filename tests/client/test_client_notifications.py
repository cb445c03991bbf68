"""The client follows calgate's notification stream (C3) and refreshes on a driven timer
(C4): WebSocket, the SSE fallback, resume, reset, reauth/removed messages. alice's calendars
are connected through calgate's flow and the client vends from calgate
(``support.client_fixtures``); a change notification is published through calgate's hub
as its webhook handling would publish it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from calgate.bootstrap import Runtime
from calgate.client import CalgateClient, Snapshot, Status

from support.client_fixtures import REAUTH, User, publish, seed_event
from support.client_world import ClientWorld, ManualTimer
from support.live import serve_app

MakeClient = Callable[..., CalgateClient]


def subjects(snap: Snapshot, connection: str | None = None) -> list[str]:
    return [e.event.subject for e in snap.entries if connection in (None, e.connection_id)]


async def wait(client: CalgateClient, predicate: Callable[[Snapshot], bool]) -> Snapshot:
    async with asyncio.timeout(10):
        return await client.wait_for(predicate)


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "sse"])
async def test_a_change_notification_refetches_that_connection_C3(
    make_client: MakeClient,
    world: ClientWorld,
    runtime: Runtime,
    user: User,
    connected: dict[str, str],
    websocket: bool,
) -> None:
    google, ms = connected["google"], connected["microsoft"]
    (gid,), (mid,) = await world.seed(seed_event("Before"))
    client = make_client(websocket=websocket)
    await client.sign_in(user.email, user.password)
    await client.start()
    assert client.stream_transport == ("websocket" if websocket else "sse")
    assert subjects(client.snapshot) == ["Before", "Before"]
    before = await world.counters()

    await world.rename(gid, mid, "After")
    await publish(runtime, user, "calendar.changed", google)
    snap = await wait(client, lambda s: "After" in subjects(s))
    assert subjects(snap, google) == ["After"]
    assert subjects(snap, ms) == ["Before"]  # only the changed connection refetched
    after = await world.counters()
    assert after["google.events.list"] == before["google.events.list"] + 1
    assert after.get("microsoft.graph.calendarView") == before.get("microsoft.graph.calendarView")


async def test_a_server_refusing_the_websocket_upgrade_means_sse_C3(
    make_client: MakeClient,
    world: ClientWorld,
    app,  # type: ignore[no-untyped-def]
    runtime: Runtime,
    user: User,
    connected: dict[str, str],
) -> None:
    """A proxy that does not pass WebSocket upgrades: the client falls back to SSE."""

    async def no_websockets(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # → HTTP 403
            return
        await app(scope, receive, send)

    (gid,), _ = await world.seed(seed_event("Before"))
    async with serve_app(no_websockets) as url:
        client = make_client()
        client.base_url = client.api.base_url = client.listener.base_url = url
        await client.sign_in(user.email, user.password)
        await client.start()
        assert client.stream_transport == "sse"
        await world.rename(gid, None, "After")
        await publish(runtime, user, "calendar.changed", connected["google"])
        await wait(client, lambda s: "After" in subjects(s, connected["google"]))
        await client.aclose()


async def test_resume_replays_messages_after_the_last_id_C3(
    make_client: MakeClient,
    world: ClientWorld,
    runtime: Runtime,
    user: User,
    connected: dict[str, str],
) -> None:
    """Messages committed while the app was not listening arrive when it resumes after the
    last id it handled (Last-Event-ID)."""
    (gid,), _ = await world.seed(seed_event("Before"))
    google, ms = connected["google"], connected["microsoft"]
    await publish(runtime, user, "calendar.changed", ms)  # handled "earlier"
    async with runtime.uow(readonly=True) as uow:
        from sqlalchemy import func, select

        from calgate.persistence.tables import UserEventRow

        last = await uow.session.scalar(select(func.max(UserEventRow.id)))
    client = make_client()
    await client.sign_in(user.email, user.password)
    await client.refresh_all()
    client.listener.last_event_id = last
    await world.rename(gid, None, "After")
    await publish(runtime, user, "calendar.changed", google)  # while not listening
    await client.start()
    async with asyncio.timeout(10):  # only a replay can deliver it: it predates the stream
        while client.listener.last_event_id != last + 1:
            await asyncio.sleep(0.01)
    await wait(client, lambda s: "After" in subjects(s, google))


async def test_an_unknown_last_id_means_a_full_refresh_C3(
    make_client: MakeClient, world: ClientWorld, user: User, connected: dict[str, str]
) -> None:
    client = make_client()
    await client.sign_in(user.email, user.password)
    client.listener.last_event_id = 987654  # expired or never ours: stream.reset
    before = await world.counters()
    await client.start()
    async with asyncio.timeout(10):  # start's full refresh + the reset's: both calendars twice
        while min(fetched(before, await world.counters()).values()) < 2:
            await asyncio.sleep(0.01)


def fetched(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """How often each provider's calendar was listed since ``before``."""
    return {
        name: after.get(name, 0) - before.get(name, 0)
        for name in ("google.events.list", "microsoft.graph.calendarView")
    }


async def test_reauth_required_and_removed_messages_C3_R6(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """calgate announces a dead grant (Microsoft's, revoked at the provider and found by
    another app's forced vend) and a removal (Google's, by the user). Both drop the
    connection's token and events from memory at once, without fetching anything; the
    connection stays listed with its state (reconnect there / removed). The mirror image
    (Google dead, Microsoft removed) is in test_client_vending.py."""
    google, ms = connected["google"], connected["microsoft"]
    await world.seed(seed_event("Kept"))
    app = make_client()
    await app.sign_in(user.email, user.password)
    await app.start()
    assert subjects(app.snapshot) == ["Kept", "Kept"]
    before = await world.counters()

    await world.revoke("microsoft")
    r = await client.get(
        "/v1/me/credentials", params={"force_refresh": "true", "connection_id": ms}, headers=session
    )
    assert r.status_code == 409, r.text  # calgate found the grant dead and announced it
    snap = await wait(app, lambda s: s.connections[ms].status is Status.REAUTH_REQUIRED)
    assert subjects(snap, ms) == []
    assert subjects(snap, google) == ["Kept"]
    assert app._connections[ms].access_token == ""
    snap = await wait(app, lambda s: s.connections[ms].reauth_url == REAUTH.format("microsoft"))

    r = await client.delete(f"/v1/me/connections/{google}", headers=session)
    assert r.status_code == 204, r.text
    snap = await wait(app, lambda s: s.connections[google].status is Status.REMOVED)
    assert snap.entries == ()
    assert google not in app._connections
    assert {c.id: c.status for c in snap.needing_attention()} == {
        ms: Status.REAUTH_REQUIRED,
        google: Status.REMOVED,
    }
    assert fetched(before, await world.counters()) == {
        "google.events.list": 0,
        "microsoft.graph.calendarView": 0,
    }


async def test_a_reconnected_calendar_shows_at_once_C3_R6(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
    reconnect: Callable[[str], Awaitable[str]],
) -> None:
    """After a dead grant the user reconnects in the browser: calgate's
    ``connection.connected`` makes the app vend and fetch again at once — no periodic
    refresh runs here (the timer is never fired)."""
    ms = connected["microsoft"]
    await world.seed(seed_event("Kept"))
    app = make_client()
    await app.sign_in(user.email, user.password)
    await app.start()
    await world.revoke("microsoft")
    r = await client.get(
        "/v1/me/credentials", params={"force_refresh": "true", "connection_id": ms}, headers=session
    )
    assert r.status_code == 409, r.text
    snap = await wait(app, lambda s: s.connections[ms].status is Status.REAUTH_REQUIRED)
    assert subjects(snap, ms) == []

    assert await reconnect("microsoft") == ms
    snap = await wait(
        app, lambda s: s.connections[ms].status is Status.OK and bool(subjects(s, ms))
    )
    assert subjects(snap, ms) == ["Kept"]
    assert app._connections[ms].access_token != ""


async def test_periodic_refresh_runs_on_the_jittered_timer_C4(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    timer: ManualTimer,
) -> None:
    (gid,), (mid,) = await world.seed(seed_event("Before"))
    client = make_client(refresh_interval=1800, refresh_jitter=0.1)
    await client.sign_in(user.email, user.password)
    await client.start()
    async with asyncio.timeout(10):
        await timer.sleeping.wait()
    assert 1620 <= timer.requested[0] <= 1800  # at most 30 minutes, jittered down
    await world.rename(gid, mid, "After")
    calls = (await world.counters())["google.events.list"]
    await asyncio.sleep(0.1)
    assert subjects(client.snapshot) == ["Before", "Before"]  # no refresh before the timer
    assert (await world.counters())["google.events.list"] == calls

    timer.fire()
    snap = await wait(client, lambda s: subjects(s) == ["After", "After"])
    assert snap.refreshed_at is not None
    async with asyncio.timeout(10):
        while len(timer.requested) < 2:  # and the next one is scheduled
            await asyncio.sleep(0.01)
    assert 1620 <= timer.requested[1] <= 1800


async def test_refresh_interval_is_configurable_C4(
    make_client: MakeClient, user: User, connected: dict[str, str], timer: ManualTimer
) -> None:
    client = make_client(refresh_interval=300, refresh_jitter=0.0)
    await client.sign_in(user.email, user.password)
    await client.start()
    async with asyncio.timeout(10):
        await timer.sleeping.wait()
    assert timer.requested == [300]
