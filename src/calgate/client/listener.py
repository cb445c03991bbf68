"""The notification stream (C3): WebSocket first, Server-Sent Events as the fallback.

Both carry calgate's messages ``{"id", "type", "data"}`` (docs/architecture.md). The
listener keeps the last id it handled and resumes after it on every reconnect, reconnects
with jittered exponential back-off, renews the session when the server says it is no longer
valid, and gives up on WebSocket for good (switching to SSE) when the server or a proxy
refuses the upgrade. It logs transports, close codes and message ids, never a token or
message data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from calgate.client.errors import ClientError, SessionExpired

__all__ = ["NotificationListener"]

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
TokenSource = Callable[[bool], Awaitable[str]]  # force_new -> session token

_CLOSE_UNAUTHENTICATED = 4401
_CLOSE_FORBIDDEN = 4403
_CLOSE_TOO_SLOW = 4429
_CONTROL = {"heartbeat", "pong"}
_LOST = (OSError, httpx.HTTPError, InvalidHandshake, ConnectionClosed, TimeoutError)


class _NoDebug(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs every header and frame at DEBUG, the Authorization header included:
    never let it (C6)."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class _Reauth(Exception):
    pass


class _NoWebSocket(Exception):
    pass


class NotificationListener:
    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        token: TokenSource,
        handle: Handler,
        last_event_id: int | None = None,
        websocket: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        backoff: tuple[float, float] = (0.5, 30.0),
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self._token = token
        self._handle = handle
        self.last_event_id = last_event_id
        self.use_websocket = websocket
        self._ssl = ssl_context
        self._backoff = backoff
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.transport: str | None = None  # "websocket" | "sse" while connected
        self.connected = asyncio.Event()
        self.connects = 0

    # public ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Listen until cancelled. Raises :class:`SessionExpired` when the session cannot be
        renewed any more."""
        failures = 0
        renew = False
        while True:
            try:
                token = await self._token(renew)
                renew = False
                if self.use_websocket:
                    await self._websocket(token)
                else:
                    await self._sse(token)
                failures = 0  # the stream ended after it was open: a normal reconnect
            except _NoWebSocket as exc:
                log.warning("WebSocket refused (%s): using Server-Sent Events", exc)
                self.use_websocket = False
                continue
            except _Reauth:
                log.info("notification stream: session no longer valid, renewing it")
                renew = True
                failures += 1
            except ClientError as exc:
                if isinstance(exc, SessionExpired):
                    raise
                log.warning("notification stream: %s", exc.detail)
                failures += 1
            except (
                OSError,
                httpx.HTTPError,
                InvalidHandshake,
                ConnectionClosed,
                TimeoutError,
            ) as exc:
                log.info("notification stream lost (%s)", type(exc).__name__)
                failures += 1
            finally:
                self._disconnected()
            await asyncio.sleep(self._delay(failures))

    # internals ---------------------------------------------------------------------------
    def _delay(self, failures: int) -> float:
        low, high = self._backoff
        base: float = min(high, low * 2 ** min(failures, 16))
        return base * (0.5 + self._rng.random() / 2)

    def _ready(self, transport: str) -> None:
        self.transport = transport
        self.connects += 1
        self.connected.set()
        log.info("notification stream open (%s, after id %s)", transport, self.last_event_id)

    def _disconnected(self) -> None:
        self.transport = None
        self.connected.clear()

    async def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return
        kind = message["type"]
        if kind in _CONTROL:
            return
        data = message.get("data")
        await self._handle(kind, data if isinstance(data, dict) else {})
        mid = message.get("id")
        if isinstance(mid, int) and not isinstance(mid, bool):
            self.last_event_id = mid
            log.debug("notification %s handled (%s)", mid, kind)

    def _ws_url(self) -> str:
        scheme, rest = self.base_url.split("://", 1)
        url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/v1/me/notifications/ws"
        return url if self.last_event_id is None else f"{url}?last_event_id={self.last_event_id}"

    async def _websocket(self, token: str) -> None:
        try:
            ws = await connect(
                self._ws_url(),
                additional_headers={"Authorization": f"Bearer {token}"},
                ssl=self._ssl if self.base_url.startswith("https") else None,
                logger=_NoDebug(log, {}),
                max_size=65_536,
                proxy=None,
            )
        except InvalidStatus as exc:
            # calgate accepts every upgrade and refuses bad sessions with close codes; an
            # HTTP answer instead comes from something in between that does not do WebSocket.
            raise _NoWebSocket(f"HTTP {exc.response.status_code}") from None
        async with ws:
            heartbeat = 15.0
            try:
                while True:
                    raw = await asyncio.wait_for(ws.recv(), timeout=heartbeat * 3 + 5)
                    try:
                        message = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(message, dict) and message.get("type") == "stream.ready":
                        data = message.get("data") or {}
                        heartbeat = float(data.get("heartbeat_seconds", heartbeat))
                        self._ready("websocket")
                        continue
                    await self._dispatch(message)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                log.info("notification WebSocket closed (code %s)", code)
                if code in (_CLOSE_UNAUTHENTICATED, _CLOSE_FORBIDDEN):
                    raise _Reauth from None
                if code == _CLOSE_TOO_SLOW or not self.connected.is_set():
                    raise
                return

    async def _sse(self, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        timeout = httpx.Timeout(10.0, read=60.0)
        async with aconnect_sse(
            self.http,
            "GET",
            f"{self.base_url}/v1/me/notifications",
            headers=headers,
            timeout=timeout,
        ) as source:
            status = source.response.status_code
            if status in (401, 403):
                raise _Reauth
            if status != 200:
                raise ClientError(f"notification stream answered HTTP {status}")
            self._ready("sse")
            async for event in source.aiter_sse():
                try:
                    message = json.loads(event.data) if event.data else None
                except ValueError:
                    continue
                await self._dispatch(message)
