"""Notification streams over real HTTP (uvicorn in the test's loop): SSE and WebSocket
delivery, isolation between users, resume with Last-Event-ID, heartbeats, transactions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from calgate.api.stream import direct_streams
from calgate.bootstrap import Runtime

from support.live import serve_app

HEARTBEAT = 0.2


@pytest.fixture
def settings(make_settings):  # type: ignore[no-untyped-def]
    return make_settings(heartbeat_seconds=HEARTBEAT)


@pytest.fixture(params=["app", "calgate serve"])
async def base_url(app, request) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The app as routed, and as `calgate serve` runs it (`direct_streams`: notification
    WebSockets go straight to their handler, everything else through the app)."""
    served = app if request.param == "app" else direct_streams(app)
    async with serve_app(served) as url:
        yield url


@pytest.fixture
async def people(make_tenant, make_user):  # type: ignore[no-untyped-def]
    """alice and bob in one account, carol in another."""
    acme = await make_tenant("Acme")
    other = await make_tenant("Other")
    return {
        "alice": await make_user(acme, "alice@example.com"),
        "bob": await make_user(acme, "bob@example.com"),
        "carol": await make_user(other, "carol@example.com"),
        "acme": acme,
    }


async def publish(
    runtime: Runtime, who: Any, *, connection: str | None = None, commit: bool = True
) -> str:
    connection = connection or str(uuid.uuid4())
    account_id = await _account_of(runtime, who.user_id)
    async with runtime.uow() as uow:
        await runtime.hub.publish(
            uow,
            account_id=account_id,
            user_id=uuid.UUID(who.user_id),
            type="calendar.changed",
            data={"connection_id": connection},
        )
        if commit:
            await uow.commit()
    return connection


async def _account_of(runtime: Runtime, user_id: str) -> uuid.UUID:
    from sqlalchemy import select

    from calgate.persistence.tables import UserRow

    async with runtime.uow(readonly=True) as uow:
        account = await uow.session.scalar(
            select(UserRow.account_id).where(UserRow.id == uuid.UUID(user_id))
        )
    assert account is not None
    return account


class SseReader:
    def __init__(self, events: AsyncIterator[Any]) -> None:
        self._events = events

    async def next(self, *, within: float = 10.0) -> tuple[str, dict[str, Any], str]:
        async with asyncio.timeout(within):
            async for sse in self._events:
                if sse.event == "message" and not sse.data:
                    continue  # comment-only blocks (heartbeats)
                return sse.event, json.loads(sse.data), sse.id
        raise AssertionError("stream ended")


async def _sse(base_url: str, headers: dict[str, str], **params: Any):  # type: ignore[no-untyped-def]
    client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=None))
    cm = aconnect_sse(client, "GET", "/v1/me/notifications", headers=headers, params=params)
    source = await cm.__aenter__()
    assert source.response.status_code == 200, await source.response.aread()
    assert source.response.headers["content-type"].startswith("text/event-stream")

    async def close() -> None:
        await cm.__aexit__(None, None, None)
        await client.aclose()

    return SseReader(source.aiter_sse()), close


async def ws_next(
    ws: ClientConnection, *, skip: tuple[str, ...] = ("heartbeat",)
) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] not in skip:
                return message


def ws_url(base_url: str, **params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return (
        base_url.replace("http://", "ws://")
        + "/v1/me/notifications/ws"
        + (f"?{query}" if query else "")
    )


async def test_sse_delivers_each_user_only_their_own_messages(runtime, base_url, people):
    readers = {}
    closers = []
    for name in ("alice", "bob", "carol"):
        reader, close = await _sse(base_url, people[name].headers)
        readers[name] = reader
        closers.append(close)
    try:
        sent = {name: await publish(runtime, people[name]) for name in ("carol", "bob", "alice")}
        for name, reader in readers.items():
            event, body, event_id = await reader.next()
            assert event == "calendar.changed"
            assert body["type"] == "calendar.changed"
            assert body["data"] == {"connection_id": sent[name]}
            assert body["id"] == int(event_id)
            assert body["created_at"].endswith("Z")
        # and nothing else arrives: a second message for alice only is the next for alice,
        # while bob and carol see only their next own message
        alice_again = await publish(runtime, people["alice"])
        bob_again = await publish(runtime, people["bob"])
        assert (await readers["alice"].next())[1]["data"]["connection_id"] == alice_again
        assert (await readers["bob"].next())[1]["data"]["connection_id"] == bob_again
        carol_again = await publish(runtime, people["carol"])
        assert (await readers["carol"].next())[1]["data"]["connection_id"] == carol_again
    finally:
        for close in closers:
            await close()


async def test_websocket_delivery_heartbeat_and_ping(runtime, base_url, people):
    alice = people["alice"]
    async with connect(ws_url(base_url), additional_headers=alice.headers) as ws:
        ready = json.loads(await ws.recv())
        assert ready == {"type": "stream.ready", "data": {"heartbeat_seconds": HEARTBEAT}}
        heartbeat = await ws_next(ws, skip=())
        assert heartbeat == {"type": "heartbeat"}
        await publish(runtime, people["bob"])  # not for alice
        connection = await publish(runtime, alice)
        message = await ws_next(ws)
        assert message["type"] == "calendar.changed"
        assert message["data"] == {"connection_id": connection}
        assert isinstance(message["id"], int)
        await ws.send(json.dumps({"type": "ping"}))
        assert await ws_next(ws) == {"type": "pong"}


async def test_browser_websocket_authenticates_with_a_first_message(runtime, base_url, people):
    alice = people["alice"]
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    first = await publish(runtime, alice)
    second = await publish(runtime, alice)
    async with connect(ws_url(base_url)) as ws:
        # resume from before everything: both messages replayed
        await ws.send(json.dumps({"type": "auth", "token": token, "last_event_id": 0}))
        assert (await ws_next(ws))["type"] == "stream.ready"
        assert (await ws_next(ws))["data"]["connection_id"] == first
        assert (await ws_next(ws))["data"]["connection_id"] == second


@pytest.mark.parametrize(
    ("headers", "first", "code"),
    [
        ({"Authorization": "Bearer not-a-token"}, None, 4401),
        ({}, {"type": "auth", "token": "nope"}, 4401),
        ({}, {"type": "hello"}, 4400),
    ],
)
async def test_websocket_refuses_bad_credentials(base_url, headers, first, code):
    async with connect(ws_url(base_url), additional_headers=headers) as ws:
        if first is not None:
            await ws.send(json.dumps(first))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert closed.value.rcvd.reason


async def test_websocket_is_for_users_not_admins(base_url, people):
    async with connect(ws_url(base_url), additional_headers=people["acme"].admin) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_sse_requires_a_user_session(client, people):
    r = await client.get("/v1/me/notifications")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/v1/me/notifications", headers=people["acme"].admin)
    assert r.status_code == 403
    r = await client.get(
        "/v1/me/notifications", headers={**people["alice"].headers, "Last-Event-ID": "soon"}
    )
    assert r.status_code == 422
    assert "Last-Event-ID" in r.json()["detail"] or r.json().get("errors")


async def test_resume_replays_exactly_the_missed_messages(runtime, base_url, people):
    alice = people["alice"]
    reader, close = await _sse(base_url, alice.headers)
    try:
        seen = [await publish(runtime, alice) for _ in range(2)]
        ids = []
        for expected in seen:
            _, body, event_id = await reader.next()
            assert body["data"]["connection_id"] == expected
            ids.append(event_id)
    finally:
        await close()
    # offline: three more for alice, some for bob
    missed = []
    for _ in range(3):
        missed.append(await publish(runtime, alice))
        await publish(runtime, people["bob"])

    # SSE resumes with the Last-Event-ID header, as EventSource does
    reader, close = await _sse(base_url, {**alice.headers, "Last-Event-ID": ids[-1]})
    try:
        got = [(await reader.next())[1]["data"]["connection_id"] for _ in missed]
        assert got == missed
        live = await publish(runtime, alice)
        assert (await reader.next())[1]["data"]["connection_id"] == live
    finally:
        await close()

    # the WebSocket resumes with ?last_event_id= the same way
    async with connect(
        ws_url(base_url, last_event_id=ids[0]), additional_headers=alice.headers
    ) as ws:
        assert (await ws_next(ws))["type"] == "stream.ready"
        got = [(await ws_next(ws))["data"]["connection_id"] for _ in range(5)]
        assert got == [seen[1], *missed, live]


async def test_resume_from_a_forgotten_id_says_reset(runtime, base_url, people):
    alice = people["alice"]
    await publish(runtime, alice)
    bob_connection = await publish(runtime, people["bob"])
    # an id alice never had (bob's message) is not a resumable position for her
    async with runtime.uow(readonly=True) as uow:
        from sqlalchemy import select

        from calgate.persistence.tables import UserEventRow

        bobs = await uow.session.scalar(
            select(UserEventRow.id).where(
                UserEventRow.data["connection_id"].as_string() == bob_connection
            )
        )
    async with connect(
        ws_url(base_url, last_event_id=bobs), additional_headers=alice.headers
    ) as ws:
        assert (await ws_next(ws))["type"] == "stream.ready"
        reset = await ws_next(ws)
        assert reset == {"type": "stream.reset", "data": {"reason": "history_unavailable"}}


async def test_a_rolled_back_transaction_announces_nothing(runtime, base_url, people):
    alice = people["alice"]
    async with connect(ws_url(base_url), additional_headers=alice.headers) as ws:
        assert (await ws_next(ws))["type"] == "stream.ready"
        await publish(runtime, alice, connection="rolled-back", commit=False)

        async def failing_service() -> None:
            async with runtime.uow() as uow:
                await runtime.hub.publish(
                    uow,
                    account_id=await _account_of(runtime, alice.user_id),
                    user_id=uuid.UUID(alice.user_id),
                    type="calendar.changed",
                    data={"connection_id": "failed"},
                )
                raise RuntimeError("the service failed before commit")

        with pytest.raises(RuntimeError):
            await failing_service()
        kept = await publish(runtime, alice)
        message = await ws_next(ws)
        assert message["data"]["connection_id"] == kept
    # nor can it be replayed
    async with connect(ws_url(base_url, last_event_id=0), additional_headers=alice.headers) as ws:
        assert (await ws_next(ws))["type"] == "stream.ready"
        assert (await ws_next(ws))["data"]["connection_id"] == kept


async def test_sse_sends_heartbeat_comments(base_url, people):
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10, read=10)) as http,
        http.stream("GET", "/v1/me/notifications", headers=people["alice"].headers) as r,
    ):
        assert r.status_code == 200
        lines: list[str] = []
        async with asyncio.timeout(10):
            async for line in r.aiter_lines():
                lines.append(line)
                if lines.count(": heartbeat") >= 2:
                    break
        assert lines[0] == ": connected"


async def test_bursts_coalesce_into_a_trailing_message(runtime, clock, base_url, people):
    alice = people["alice"]
    account_id = await _account_of(runtime, alice.user_id)
    user_id = uuid.UUID(alice.user_id)
    runner = runtime.job_runner(concurrency=1)
    await runner.run_pending()  # housekeeping out of the way

    async def burst() -> list[bool]:
        results = []
        for _ in range(3):
            async with runtime.uow() as uow:
                results.append(
                    await runtime.hub.publish_coalesced(
                        uow,
                        account_id=account_id,
                        user_id=user_id,
                        type="calendar.changed",
                        key="conn-1",
                        data={"connection_id": "conn-1"},
                        window=timedelta(seconds=5),
                    )
                )
                await uow.commit()
        return results

    async with connect(ws_url(base_url), additional_headers=alice.headers) as ws:
        assert (await ws_next(ws))["type"] == "stream.ready"
        assert await burst() == [True, False, False]
        first = await ws_next(ws)
        assert first["data"] == {"connection_id": "conn-1"}
        assert await runner.run_pending() == 0  # the trailing one waits for the window's end
        clock.advance(seconds=5)
        assert await runner.run_pending() == 1
        trailing = await ws_next(ws)
        assert trailing["data"] == {"connection_id": "conn-1"}
        assert trailing["id"] > first["id"]


def _suspended(task: asyncio.Task[Any]) -> list[str]:
    """``module:qualname`` of each suspended coroutine of a task, outermost first."""
    names = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None:
            names.append(f"{frame.f_globals.get('__name__')}:{coro.cr_code.co_qualname}")
        coro = getattr(coro, "cr_await", None)
    return names


async def test_an_open_stream_as_served_keeps_no_middleware_or_router_frames(app, people):
    """Issue #6: every open WebSocket keeps its chain of suspended coroutines alive. As
    `calgate serve` runs the app, an idle stream's chain is uvicorn's and the handler's,
    nothing of the middleware, routers or FastAPI's dependency scaffolding, and not the
    authentication step (its token and principal are gone)."""
    alice = people["alice"]
    async with (
        serve_app(direct_streams(app)) as url,
        connect(ws_url(url), additional_headers=alice.headers) as ws,
    ):
        assert (await ws_next(ws))["type"] == "stream.ready"
        chains = [_suspended(task) for task in asyncio.all_tasks()]
        streams = [c for c in chains if "calgate.api.stream:notifications_ws" in c]
    assert len(streams) == 1, chains
    chain = streams[0]
    assert chain[0].startswith("uvicorn."), chain
    layers = [f for f in chain if f.startswith(("fastapi.", "starlette.", "calgate.api.middle"))]
    assert layers == ["starlette.websockets:WebSocket.receive"], chain  # waiting for the client
    assert not any(f.endswith(("_open", "_authenticate")) for f in chain), chain


async def test_served_app_keeps_its_middleware_for_everything_else(app, people):
    async with serve_app(direct_streams(app)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get("/healthz")
            assert r.status_code == 200
            assert r.headers["x-request-id"]  # ObservabilityMiddleware
            assert r.headers["x-content-type-options"] == "nosniff"
        # a WebSocket elsewhere is the app's to refuse, as before
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                url.replace("http://", "ws://") + "/v1/me/notifications/ws/",
                additional_headers=people["alice"].headers,
            ):
                pass
        assert refused.value.response.status_code == 403
