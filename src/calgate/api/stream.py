"""Notification streams for a signed-in user's apps: Server-Sent Events and WebSocket.

Both carry the same messages, ``{"id", "type", "data", "created_at"}``, for the caller's own
user only, and both resume: give the last ``id`` you processed and you get exactly the
retained messages after it, then live ones. See docs/architecture.md for the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, WebSocket
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from calgate.api.deps import RuntimeDep, UserDep
from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import CalgateError, InvalidInput
from calgate.notify.messages import Control, ControlType, Notification
from calgate.notify.subscriptions import StreamClosed, Subscription

__all__ = ["WS_PATH", "direct_streams", "notifications_sse", "notifications_ws", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["notifications"])

AUTH_TIMEOUT = 10.0
_MAX_CLIENT_FRAME = 16_384

# WebSocket close codes (4000-4999 are for applications).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_SLOW = 4429
CLOSE_SERVICE_RESTART = 1012
CLOSE_UNAVAILABLE = 1013


def _parse_last_event_id(value: str | int | None, *, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        parsed = int(value)
    except (TypeError, ValueError):
        parsed = -1
    if parsed < 0:
        raise InvalidInput("must be a message id (a non-negative integer)", field=field)
    return parsed


# SSE ----------------------------------------------------------------------------------------
async def _sse_subscription(
    principal: UserDep,
    runtime: RuntimeDep,
    last_event_id_header: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Sent by EventSource on reconnect: resume after this message id.",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(description="Resume after this message id (for clients that cannot set headers)."),
    ] = None,
) -> AsyncIterator[Subscription]:
    resume = _parse_last_event_id(last_event_id_header, field="Last-Event-ID")
    if resume is None:
        resume = _parse_last_event_id(last_event_id, field="last_event_id")
    assert principal.account_id is not None
    assert principal.user_id is not None
    sub = await runtime.hub.subscribe(
        principal.account_id, principal.user_id, last_event_id=resume, transport="sse"
    )
    try:
        yield sub
    finally:
        runtime.hub.unsubscribe(sub)


def _sse_event(item: Notification | Control) -> ServerSentEvent:
    if isinstance(item, Notification):
        return ServerSentEvent(id=str(item.id), event=item.type, data=item.wire())
    return ServerSentEvent(event=item.type.value, data=item.wire())


@router.get(
    "/v1/me/notifications",
    response_class=EventSourceResponse,
    summary="Stream the signed-in user's notifications (Server-Sent Events)",
    responses={
        200: {
            "description": "`text/event-stream`: `id:` message id, `event:` message type, "
            "`data:` the message as JSON; comment lines are heartbeats. `event: "
            "stream.reset` means history since Last-Event-ID is gone: refresh fully."
        }
    },
)
async def notifications_sse(
    sub: Annotated[Subscription, Depends(_sse_subscription)], runtime: RuntimeDep
) -> AsyncIterator[ServerSentEvent]:
    heartbeat = runtime.settings.heartbeat_seconds
    yield ServerSentEvent(comment="connected", retry=max(1000, int(heartbeat * 1000)))
    while True:
        try:
            item = await sub.get(wait_seconds=heartbeat)
        except StreamClosed as closed:
            log.info("notification stream closed: %s", closed.reason)
            return
        yield ServerSentEvent(comment="heartbeat") if item is None else _sse_event(item)


# WebSocket ----------------------------------------------------------------------------------
# Memory per idle stream (issue #6, bench/notify.py part b): an open WebSocket keeps its
# whole chain of suspended coroutines alive, with whatever their frames reference. So the
# handler is a plain ASGI app (no FastAPI dependency scaffolding: two exit stacks, a second
# WebSocket object, closures), `calgate serve` hands it the stream before the middleware
# stack and routers (`direct_streams`), authentication runs in a helper whose frame is gone
# once the stream is open (no token, principal or parsed headers kept), and the stream has
# no task of its own while idle.
WS_PATH = "/v1/me/notifications/ws"
_HEARTBEAT = Control(ControlType.HEARTBEAT)
_PONG = Control(ControlType.PONG)


class _Writer:
    """Sends a subscription's queued items on its WebSocket. No task exists while the
    connection is idle: one is started when something is queued and ends when it is sent.
    Heartbeats are a timer handle, not a task."""

    __slots__ = ("_heartbeat", "_task", "_timer", "sub", "ws")

    def __init__(self, ws: WebSocket, heartbeat: float) -> None:
        self.ws = ws
        self.sub: Subscription | None = None
        self._heartbeat = heartbeat
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def ready(self) -> None:
        if self._task is None and self.sub is not None:
            self._task = asyncio.get_running_loop().create_task(self._flush())

    def start_heartbeats(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._heartbeat, self._beat)

    def _beat(self) -> None:
        if self.sub is not None and not self.sub.closed:
            self.sub.offer(_HEARTBEAT)
            self.start_heartbeats()

    async def _flush(self) -> None:
        sub = self.sub
        assert sub is not None
        try:
            while items := sub.drain():
                for item in items:
                    await self.ws.send_text(json.dumps(item.wire(), separators=(",", ":")))
            if sub.closed:
                too_slow = "behind" in (sub.close_reason or "")
                code = CLOSE_TOO_SLOW if too_slow else CLOSE_SERVICE_RESTART
                await _close(self.ws, code, sub.close_reason or "")
        except (WebSocketDisconnect, RuntimeError, OSError):
            sub.close("the connection is gone")
        finally:
            self._task = None
            if sub.pending and not sub.closed:
                self.ready()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await ws.close(code=code, reason=reason[:120])


def _bearer(headers: Headers) -> str | None:
    header = headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


async def _first_message(ws: WebSocket) -> dict[str, Any]:
    """Browsers cannot set headers on a WebSocket: they authenticate with a first message
    ``{"type": "auth", "token": "…", "last_event_id": 42}``."""
    try:
        message = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT)
    except TimeoutError:
        raise _Refused(CLOSE_AUTH_TIMEOUT, 'send {"type": "auth", "token": …} first') from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    try:
        body = json.loads(text) if text and len(text) <= _MAX_CLIENT_FRAME else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("type") != "auth":
        raise _Refused(CLOSE_BAD_REQUEST, 'the first message must be {"type": "auth", …}')
    return body


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _authenticate(runtime: Runtime, token: str) -> Principal:
    try:
        async with runtime.uow(readonly=True) as uow:
            principal = await runtime.auth.authenticate(uow, token)
    except CalgateError as exc:
        runtime.metrics.auth_failures.inc()
        raise _Refused(CLOSE_UNAUTHENTICATED, exc.detail) from None
    if principal.kind is not PrincipalKind.USER:
        raise _Refused(CLOSE_FORBIDDEN, "notification streams are for signed-in users")
    return principal


async def _open(ws: WebSocket, runtime: Runtime, writer: _Writer) -> Subscription:
    """Authenticate, subscribe and say ``stream.ready``. Everything needed only for this
    (token, principal, parsed headers and query) dies with this frame."""
    # Parsed here rather than through ws.headers / ws.query_params, which the WebSocket
    # would cache for the life of the connection.
    token = _bearer(Headers(scope=ws.scope))
    resume: str | int | None = QueryParams(ws.scope.get("query_string", b"")).get("last_event_id")
    if token is None:
        first = await _first_message(ws)
        token = str(first.get("token") or "")
        resume = first.get("last_event_id", resume)
    if not token:
        raise _Refused(CLOSE_UNAUTHENTICATED, "send a session token")
    principal = await _authenticate(runtime, token)
    try:
        last_event_id = _parse_last_event_id(resume, field="last_event_id")
    except InvalidInput as exc:
        raise _Refused(CLOSE_BAD_REQUEST, f"last_event_id {exc.detail}") from None
    assert principal.account_id is not None
    assert principal.user_id is not None
    try:
        sub = await runtime.hub.subscribe(
            principal.account_id,
            principal.user_id,
            last_event_id=last_event_id,
            transport="ws",
            on_ready=writer.ready,
        )
    except CalgateError as exc:
        raise _Refused(CLOSE_UNAVAILABLE, exc.detail) from None
    try:
        await ws.send_text(
            json.dumps(
                Control(
                    ControlType.READY, {"heartbeat_seconds": runtime.settings.heartbeat_seconds}
                ).wire()
            )
        )
    except BaseException:
        runtime.hub.unsubscribe(sub)
        raise
    return sub


async def notifications_ws(ws: WebSocket) -> None:
    """WebSocket notification stream. Authenticate with ``Authorization: Bearer <session
    token>`` (native apps) or, from browsers, a first message ``{"type": "auth", "token":
    …}``. Resume with ``?last_event_id=`` or ``"last_event_id"`` in the auth message."""
    runtime: Runtime = ws.app.state.runtime
    await ws.accept()
    writer = _Writer(ws, runtime.settings.heartbeat_seconds)
    sub: Subscription | None = None
    try:
        sub = await _open(ws, runtime, writer)
        writer.sub = sub
        writer.ready()
        writer.start_heartbeats()
        await _read_until_closed(ws, sub)
    except _Refused as refused:
        await _close(ws, refused.code, refused.reason)
    except WebSocketDisconnect:
        pass
    finally:
        await writer.aclose()
        if sub is not None:
            runtime.hub.unsubscribe(sub)


async def _read_until_closed(ws: WebSocket, sub: Subscription) -> None:
    """Client → server: ``{"type": "ping"}`` is answered with ``{"type": "pong"}``; other
    messages are ignored. Returns when the client disconnects."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text and len(text) <= _MAX_CLIENT_FRAME:
            try:
                body = json.loads(text)
            except ValueError:
                continue
            if isinstance(body, dict) and body.get("type") == "ping":
                sub.offer(_PONG)


class _NotificationsWs:
    """The stream as a plain ASGI app (a Starlette route calls it directly, without
    FastAPI's per-connection dependency scaffolding)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await notifications_ws(WebSocket(scope, receive=receive, send=send))


notifications_ws_app = _NotificationsWs()
router.routes.append(WebSocketRoute(WS_PATH, notifications_ws_app, name="notifications_ws"))


def direct_streams(app: Starlette) -> ASGIApp:
    """The ASGI app `calgate serve` runs: ``app``, except that notification WebSockets go
    straight to their handler instead of through the middleware stack and routers, whose
    ~15 suspended frames (and their closures, exit stacks and per-request objects) every
    open stream would otherwise keep alive. None of those layers acts on a WebSocket (the
    request id, metrics, security headers, body limits and error pages are HTTP-only), and
    the handler is the same one the app routes to.

    Provider webhooks go straight to their routes too: they arrive by the thousand, the
    layers cost a quarter of each one's time, and none of them matters to a provider (the
    webhook metrics count them, their handlers bound the body and answer every error)."""
    from calgate.api.routes.webhooks import hot_routes

    webhooks: dict[str, ASGIApp] = {route.path: route for route in hot_routes}

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            scope["app"] = app
            await notifications_ws(WebSocket(scope, receive=receive, send=send))
        elif scope["type"] == "http" and scope["path"] in webhooks:
            scope["app"] = app
            await webhooks[scope["path"]](scope, receive, send)
        else:
            await app(scope, receive, send)

    return serve
