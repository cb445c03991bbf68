"""Local subscribers: one small object per connected client, registered per user.

Per-connection state is kept small on purpose (thousands of idle WebSockets per process):
no task, no Redis subscription, an outbox created only when something is waiting. The bus
delivers each message to the subscriptions of its user; a client that falls more than
``limit`` messages behind is closed (it resumes with ``Last-Event-ID``) rather than
buffered without bound.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime

from calgate.notify.messages import Control, Notification

__all__ = ["Fanout", "StreamClosed", "Subscription"]

Item = Notification | Control
UserKey = tuple[uuid.UUID, uuid.UUID]


class StreamClosed(Exception):
    """The subscription ended: the client fell behind, or the hub is shutting down."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscription:
    __slots__ = (
        "_buffer",
        "_on_ready",
        "_outbox",
        "_waiter",
        "account_id",
        "close_reason",
        "last_id",
        "limit",
        "since",
        "transport",
        "user_id",
    )

    def __init__(
        self,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        since: datetime,
        limit: int = 256,
        transport: str = "other",
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.account_id = account_id
        self.user_id = user_id
        self.since = since
        self.limit = limit
        self.transport = transport
        self.last_id = 0
        self.close_reason: str | None = None
        self._outbox: deque[Item] | None = None
        self._buffer: list[Notification] | None = []  # live messages held during replay
        self._waiter: asyncio.Future[None] | None = None
        self._on_ready = on_ready

    @property
    def key(self) -> UserKey:
        return (self.account_id, self.user_id)

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    @property
    def pending(self) -> bool:
        return bool(self._outbox)

    # producer side ---------------------------------------------------------------------
    def offer(self, item: Item) -> None:
        """Queue an item for the client (never blocks, never grows past ``limit``)."""
        if self.close_reason is not None:
            return
        if self._buffer is not None and isinstance(item, Notification):
            if len(self._buffer) >= self.limit:
                self.close("the client fell too far behind")
                return
            self._buffer.append(item)
            return
        outbox = self._outbox
        if outbox is None:
            outbox = self._outbox = deque()
        if len(outbox) >= self.limit:
            self.close("the client fell too far behind")
            return
        outbox.append(item)
        if isinstance(item, Notification):
            self.last_id = max(self.last_id, item.id)
        self._ready()

    def go_live(self, replayed: list[Notification], head: list[Control]) -> None:
        """End the replay phase: queue ``head`` controls, the replayed messages, then live
        messages that arrived meanwhile and were not part of the replay."""
        held = self._buffer or []
        self._buffer = None
        seen = {n.id for n in replayed}
        items: list[Item] = [*head, *replayed, *(n for n in held if n.id not in seen)]
        for item in items:
            self.offer(item)
        self._ready()

    def close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            self._ready()

    def _ready(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._on_ready is not None:
            self._on_ready()

    # consumer side ---------------------------------------------------------------------
    def drain(self) -> list[Item]:
        """Everything queued now (push-style writers such as the WebSocket endpoint)."""
        outbox = self._outbox
        if not outbox:
            return []
        items = list(outbox)
        self._outbox = None
        return items

    async def get(self, wait_seconds: float | None = None) -> Item | None:
        """The next item, or None after ``wait_seconds`` of silence. Raises
        :class:`StreamClosed` once closed and drained."""
        while True:
            if self._outbox:
                return self._outbox.popleft()
            if self.close_reason is not None:
                raise StreamClosed(self.close_reason)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, wait_seconds)
            except TimeoutError:
                return None
            finally:
                self._waiter = None


class Fanout:
    """The subscriptions of this process, by user."""

    def __init__(self) -> None:
        self._by_user: dict[UserKey, set[Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        self._by_user.setdefault(sub.key, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        subs = self._by_user.get(sub.key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_user[sub.key]

    def of(self, account_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Subscription, ...]:
        return tuple(self._by_user.get((account_id, user_id), ()))

    def deliver(self, message: Notification) -> int:
        subs = self._by_user.get((message.account_id, message.user_id))
        if not subs:
            return 0
        for sub in tuple(subs):
            sub.offer(message)
        return len(subs)

    def __iter__(self) -> Iterator[Subscription]:
        for subs in tuple(self._by_user.values()):
            yield from tuple(subs)

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_user.values())
