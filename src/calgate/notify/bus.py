"""The notification bus: how a committed message reaches the processes whose clients wait
for it. In-process when calgate runs as one process; Redis pub/sub when several do — one
subscription per process on one channel per deployment, fan-out to clients in memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from calgate.clock import Clock
from calgate.errors import ServiceUnavailable
from calgate.notify.messages import Notification

__all__ = ["Bus", "InProcessBus", "RedisBus", "create_bus"]

log = logging.getLogger(__name__)

Deliver = Callable[[Notification], None]
OnGap = Callable[[datetime], None]


class Bus(Protocol):
    async def publish(self, messages: Sequence[Notification]) -> None:
        """Send committed messages to every process (this one included)."""

    async def start(self, deliver: Deliver, on_gap: OnGap) -> None:
        """Start receiving: ``deliver`` is called for every message; ``on_gap`` with the time
        the bus lost its connection, once it is back (messages may have been missed)."""

    async def aclose(self) -> None: ...


class InProcessBus:
    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def publish(self, messages: Sequence[Notification]) -> None:
        deliver = self._deliver
        if deliver is not None:
            for message in messages:
                deliver(message)

    async def start(self, deliver: Deliver, on_gap: OnGap) -> None:
        self._deliver = deliver

    async def aclose(self) -> None:
        self._deliver = None


class RedisBus:
    """Redis pub/sub on channel ``<prefix>:notify``. Publishing retries briefly on connection
    errors; the one subscriber connection reconnects with back-off and reports the gap."""

    def __init__(self, url: str, prefix: str, clock: Clock) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        self.channel = f"{prefix}:notify"
        self._url = url
        self._clock = clock
        self._publisher: Any = Redis.from_url(
            url,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            socket_connect_timeout=5,
            socket_timeout=5,
            health_check_interval=30,
        )
        self._subscriber: Any = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def publish(self, messages: Sequence[Notification]) -> None:
        if not messages:
            return
        async with self._publisher.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(self.channel, message.encode_bus())
            await pipe.execute()

    async def _subscribe(self) -> Any:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if self._subscriber is None:
            # No client-side retries here: a broken subscription must surface, so that the
            # gap is known and reported.
            self._subscriber = Redis.from_url(
                self._url,
                socket_connect_timeout=5,
                health_check_interval=30,
                retry=Retry(NoBackoff(), 0),
                client_name=f"calgate-bus-{self.channel.replace(':', '-')}",
            )
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub

    async def start(self, deliver: Deliver, on_gap: OnGap) -> None:
        from redis.exceptions import RedisError

        try:
            self._pubsub = await self._subscribe()
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("the notification bus (Redis) does not answer") from exc
        self._task = asyncio.create_task(self._listen(deliver, on_gap), name="calgate-bus")

    async def _listen(self, deliver: Deliver, on_gap: OnGap) -> None:
        from redis.exceptions import RedisError

        delay = 0.1
        while True:
            try:
                async for raw in self._pubsub.listen():
                    if raw.get("type") != "message":
                        continue
                    try:
                        message = Notification.decode_bus(raw["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignored a malformed message on %s", self.channel)
                        continue
                    deliver(message)
                    delay = 0.1
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                lost_at = self._clock.now()
                log.warning(
                    "notification bus connection lost (%s); reconnecting", type(exc).__name__
                )
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                try:
                    self._pubsub = await self._subscribe()
                    break
                except (RedisError, OSError):
                    continue
            log.info("notification bus reconnected")
            on_gap(lost_at)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        for client in (self._subscriber, self._publisher):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._subscriber = None


def create_bus(url: str | None, prefix: str, clock: Clock) -> Bus:
    if not url:
        return InProcessBus()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        from calgate.errors import ConfigurationError

        raise ConfigurationError("CALGATE_BUS_URL must be a redis://, rediss:// or unix:// URL")
    return RedisBus(url, prefix, clock)
