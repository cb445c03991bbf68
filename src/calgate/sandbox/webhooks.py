"""Webhook delivery, as providers do it: queued, POSTed over real HTTP with a deadline,
retried with back-off on failure, and droppable by fault injection.

Deliveries are recorded (``GET /_sandbox/deliveries``) so tests can see what was sent,
dropped or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

if TYPE_CHECKING:
    from calgate.sandbox.core import SandboxCore

__all__ = ["Delivery", "WebhookDispatcher"]

log = logging.getLogger(__name__)

State = Literal["pending", "delivered", "dropped", "failed"]


@dataclass
class Delivery:
    id: int
    provider: str
    kind: str
    url: str
    headers: dict[str, str]
    body: bytes
    timeout: float
    created_at: datetime
    state: State = "pending"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    ordering_key: str | None = None
    retry_statuses: frozenset[int] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "url": httpx.URL(self.url).copy_with(query=None).__str__(),
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
        }


class WebhookDispatcher:
    def __init__(
        self,
        core: SandboxCore,
        client: httpx.AsyncClient,
        *,
        workers: int = 4,
        max_attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.core = core
        self.client = client
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._history: deque[Delivery] = deque(maxlen=5000)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._order_locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def enqueue(
        self,
        provider: str,
        url: str,
        *,
        kind: str = "notification",
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        content: bytes = b"",
        timeout: float = 10.0,
        ordering_key: str | None = None,
        retry_statuses: frozenset[int] | None = None,
    ) -> Delivery:
        """Queue one POST. Returns at once; the delivery happens in the background.

        Deliveries sharing an ``ordering_key`` (e.g. one Google channel) are sent one after
        the other, in the order queued. ``retry_statuses`` limits which HTTP answers are
        retried (Google: 500/502/503/504 only); by default every non-2xx answer is."""
        import json

        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        delivery = Delivery(
            next(self._ids), provider, kind, url, hdrs, content, timeout, self.core.clock.now()
        )
        delivery.ordering_key = ordering_key
        delivery.retry_statuses = retry_statuses
        self._history.append(delivery)
        if self.core.faults.take_drop(provider):
            delivery.state = "dropped"
            self.core.count(provider, "webhook.dropped")
            delivery.done.set()
            return delivery
        self._queue.put_nowait(delivery)
        return delivery

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                if delivery.ordering_key is None:
                    await self._deliver(delivery)
                else:
                    # Taken from the queue and locked without yielding, so FIFO per key.
                    lock = self._order_locks.setdefault(delivery.ordering_key, asyncio.Lock())
                    async with lock:
                        await self._deliver(delivery)
            finally:
                self._queue.task_done()

    async def _deliver(self, d: Delivery) -> None:
        while d.attempts < self.max_attempts:
            d.attempts += 1
            try:
                response = await self.client.post(
                    d.url, content=d.body, headers=d.headers, timeout=d.timeout
                )
                d.last_status = response.status_code
                if 200 <= response.status_code < 300:
                    d.state = "delivered"
                    self.core.count(d.provider, "webhook.delivered")
                    d.done.set()
                    return
                d.last_error = f"HTTP {response.status_code}"
                if d.retry_statuses is not None and response.status_code not in d.retry_statuses:
                    break  # the provider gives up at once on this answer
            except httpx.HTTPError as exc:
                d.last_error = type(exc).__name__
            self.core.count(d.provider, "webhook.retry")
            await asyncio.sleep(self.backoff * 2 ** (d.attempts - 1))
        d.state = "failed"
        self.core.count(d.provider, "webhook.failed")
        d.done.set()

    async def drain(self, limit_s: float = 10.0) -> None:
        """Wait until every queued delivery has been delivered, dropped or given up."""
        async with asyncio.timeout(limit_s):
            await self._queue.join()

    def history(self, provider: str | None = None) -> list[Delivery]:
        return [d for d in self._history if provider is None or d.provider == provider]
