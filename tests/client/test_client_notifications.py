"""The client follows calgate's notification stream (C3) and refreshes on a driven timer
(C4): WebSocket, the SSE fallback, resume, reset, reauth/removed messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from starlette.types import Receive, Scope, Send

from calgate.bootstrap import Runtime
from calgate.client import CalgateClient, Snapshot, Status

from support.client_fixtures import User, publish, seed_event
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
    make_client: MakeClient, world: ClientWorld, runtime: Runtime, user: User, websocket: bool
) -> None:
    (gid,), (mid,) = await world.seed(seed_event("Before"))
    client = make_client(websocket=websocket)
    await client.sign_in(user.email, user.password)
    await client.start()
    assert client.stream_transport == ("websocket" if websocket else "sse")
    assert subjects(client.snapshot) == ["Before", "Before"]
    before = await world.counters()

    await world.rename(gid, mid, "After")
    await publish(runtime, user, "calendar.changed", "conn-google")
    snap = await wait(client, lambda s: "After" in subjects(s))
    assert subjects(snap, "conn-google") == ["After"]
    assert subjects(snap, "conn-ms") == ["Before"]  # only the changed connection refetched
    after = await world.counters()
    assert after["google.events.list"] == before["google.events.list"] + 1
    assert after.get("microsoft.graph.calendarView") == before.get("microsoft.graph.calendarView")


async def test_a_server_refusing_the_websocket_upgrade_means_sse_C3(
    make_client: MakeClient,
    world: ClientWorld,
    app,
    runtime: Runtime,
    user: User,  # type: ignore[no-untyped-def]
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
        await publish(runtime, user, "calendar.changed", "conn-google")
        await wait(client, lambda s: "After" in subjects(s, "conn-google"))
        await client.aclose()


async def test_resume_replays_messages_after_the_last_id_C3(
    make_client: MakeClient, world: ClientWorld, runtime: Runtime, user: User
) -> None:
    """Messages committed while the app was not listening arrive when it resumes after the
    last id it handled (Last-Event-ID)."""
    (gid,), _ = await world.seed(seed_event("Before"))
    await publish(runtime, user, "calendar.changed", "conn-ms")  # handled "earlier"
    async with runtime.uow(readonly=True) as uow:
        from sqlalchemy import func, select

        from calgate.persistence.tables import UserEventRow

        last = await uow.session.scalar(select(func.max(UserEventRow.id)))
    client = make_client()
    await client.sign_in(user.email, user.password)
    await client.refresh_all()
    client.listener.last_event_id = last
    await world.rename(gid, None, "After")
    await publish(runtime, user, "calendar.changed", "conn-google")  # while not listening
    await client.start()
    async with asyncio.timeout(10):  # only a replay can deliver it: it predates the stream
        while client.listener.last_event_id != last + 1:
            await asyncio.sleep(0.01)
    await wait(client, lambda s: "After" in subjects(s, "conn-google"))


async def test_an_unknown_last_id_means_a_full_refresh_C3(
    make_client: MakeClient,
    world: ClientWorld,
    vendor,
    user: User,  # type: ignore[no-untyped-def]
) -> None:
    client = make_client()
    await client.sign_in(user.email, user.password)
    client.listener.last_event_id = 987654  # expired or never ours: stream.reset
    await client.start()
    async with asyncio.timeout(10):
        while vendor.calls.count((False, None)) < 2:  # start's refresh + the reset's
            await asyncio.sleep(0.01)


async def test_reauth_required_and_removed_messages_C3_R6(
    make_client: MakeClient, world: ClientWorld, runtime: Runtime, user: User
) -> None:
    """Both drop the connection's token and events from memory at once; the connection
    stays listed with its state (reconnect / removed). Through calgate's real vending see
    test_client_vending.py."""
    await world.seed(seed_event("Kept"))
    client = make_client()
    await client.sign_in(user.email, user.password)
    await client.start()
    assert subjects(client.snapshot) == ["Kept", "Kept"]
    await publish(runtime, user, "connection.reauth_required", "conn-ms")
    snap = await wait(client, lambda s: s.connections["conn-ms"].status is Status.REAUTH_REQUIRED)
    assert subjects(snap, "conn-ms") == []
    assert subjects(snap, "conn-google") == ["Kept"]
    assert client._connections["conn-ms"].access_token == ""
    await publish(runtime, user, "connection.removed", "conn-google")
    snap = await wait(client, lambda s: s.connections["conn-google"].status is Status.REMOVED)
    assert snap.entries == ()
    assert "conn-google" not in client._connections
    assert {c.id: c.status for c in snap.needing_attention()} == {
        "conn-ms": Status.REAUTH_REQUIRED,
        "conn-google": Status.REMOVED,
    }


async def test_periodic_refresh_runs_on_the_jittered_timer_C4(
    make_client: MakeClient, world: ClientWorld, user: User, timer: ManualTimer
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
    make_client: MakeClient, user: User, timer: ManualTimer
) -> None:
    client = make_client(refresh_interval=300, refresh_jitter=0.0)
    await client.sign_in(user.email, user.password)
    await client.start()
    async with asyncio.timeout(10):
        await timer.sleeping.wait()
    assert timer.requested == [300]
