"""The notification hub: durable per-user messages, delivered live and replayable.

Publishing rides on the caller's unit of work::

    await hub.publish(uow, account_id=a, user_id=u, type="calendar.changed",
                      data={"connection_id": str(c)})
    await uow.commit()

The message is written to ``user_events`` inside that transaction, just before it commits,
and handed to the bus only after the commit succeeded: a rolled-back transaction never
announces anything, and a committed one is never lost (apps that missed it live get it on
resume). Ids grow in commit order within a process; a client resuming with
``Last-Event-ID: n`` gets every retained message of its user with an id above ``n``.

Parts of calgate that keep per-process state about a user (the vending view) register a
`BusListener`: every message any process publishes reaches it, and a bus outage tells it
that some may have been missed. `start` subscribes to the bus when the server starts, so a
process with no app connected still hears them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calgate.clock import Clock
from calgate.jobs.model import Job
from calgate.jobs.queue import JobQueue
from calgate.notify import store
from calgate.notify.bus import Bus
from calgate.notify.messages import Control, ControlType, Notification, NotificationType, check_data
from calgate.notify.metrics import NotifyMetrics
from calgate.notify.subscriptions import Fanout, Subscription
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory

__all__ = ["COALESCED_KIND", "BusListener", "NotificationHub", "publish_coalesced_job"]

log = logging.getLogger(__name__)

_STAGED = "calgate.notify.staged"
COALESCED_KIND = "notify.trailing"
_GAP_SLACK = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class BusListener:
    """Told of every message published by any process (``on_message``, on the event loop,
    so it must not block) and of every bus outage once it is over (``on_gap``)."""

    on_message: Callable[[Notification], None]
    on_gap: Callable[[], None]


@dataclass(slots=True)
class _Staged:
    account_id: uuid.UUID
    user_id: uuid.UUID
    type: str
    data: dict[str, Any]
    coalesce_key: str | None


@dataclass(slots=True)
class _Batch:
    items: list[_Staged] = field(default_factory=list)
    written: list[Notification] = field(default_factory=list)


class NotificationHub:
    def __init__(
        self,
        *,
        bus: Bus,
        uow: UnitOfWorkFactory,
        clock: Clock,
        metrics: NotifyMetrics,
        jobs: JobQueue | None = None,
        queue_limit: int = 256,
        replay_limit: int = 1000,
    ) -> None:
        self._bus = bus
        self._uow = uow
        self._clock = clock
        self._metrics = metrics
        self._jobs = jobs
        self.queue_limit = queue_limit
        self.replay_limit = replay_limit
        self._fanout = Fanout()
        self._started = False
        self._start_lock = asyncio.Lock()
        self._recoveries: set[asyncio.Task[None]] = set()
        self.listeners: list[BusListener] = []

    # publishing -----------------------------------------------------------------------------
    async def publish(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        type: str,
        data: Mapping[str, Any] | None = None,
        coalesce_key: str | None = None,
    ) -> None:
        """Stage a message for ``user_id``'s apps in ``uow``; it is stored when ``uow``
        commits and delivered after. ``data`` holds ids only."""
        kind = NotificationType(type).value
        batch = self._batch(uow)
        batch.items.append(_Staged(account_id, user_id, kind, check_data(data or {}), coalesce_key))

    async def publish_coalesced(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        type: str,
        key: str,
        data: Mapping[str, Any] | None = None,
        window: timedelta = timedelta(seconds=5),
    ) -> bool:
        """Publish unless a message with the same user, type and ``key`` (e.g. the
        connection id) went out less than ``window`` ago; then one trailing message is sent
        when the window ends instead (via a deduplicated job), so a burst of webhooks
        becomes at most two messages per window and the last change is never swallowed.
        Returns True when published now."""
        kind = NotificationType(type).value
        clean = check_data(data or {})
        batch = self._batch(uow)
        if any(
            s.user_id == user_id and s.type == kind and s.coalesce_key == key for s in batch.items
        ):
            self._metrics.coalesced.inc()
            return False
        last = await store.latest_coalesced(uow.session, user_id=user_id, type=kind, key=key)
        if last is not None and self._clock.now() - last < window:
            if self._jobs is None:
                raise RuntimeError("coalescing needs the job queue")
            await self._jobs.enqueue(
                uow,
                COALESCED_KIND,
                account_id=account_id,
                payload={"user_id": str(user_id), "type": kind, "key": key, **clean},
                dedupe_key=f"notify:{user_id}:{kind}:{key}"[:200],
                run_at=last + window,
            )
            self._metrics.coalesced.inc()
            return False
        batch.items.append(_Staged(account_id, user_id, kind, clean, key))
        return True

    def _batch(self, uow: SqlUnitOfWork) -> _Batch:
        info = uow.session.info
        batch: _Batch | None = info.get(_STAGED)
        if batch is None:
            batch = info[_STAGED] = _Batch()
            uow.before_commit(lambda: self._write(uow, batch))
            uow.after_commit(lambda: self._announce(batch))
        return batch

    async def _write(self, uow: SqlUnitOfWork, batch: _Batch) -> None:
        uow.session.info.pop(_STAGED, None)
        now = self._clock.now()
        for item in batch.items:
            event_id = await store.insert(
                uow.session,
                account_id=item.account_id,
                user_id=item.user_id,
                type=item.type,
                data=item.data,
                coalesce_key=item.coalesce_key,
                created_at=now,
            )
            batch.written.append(
                Notification(event_id, item.account_id, item.user_id, item.type, item.data, now)
            )

    async def _announce(self, batch: _Batch) -> None:
        if not batch.written:
            return
        try:
            await self._bus.publish(batch.written)
        except Exception as exc:
            self._metrics.bus_errors.labels("publish").inc()
            log.warning(
                "could not publish %d notifications to the bus (%s); apps get them when "
                "they resume",
                len(batch.written),
                type(exc).__name__,
            )
            return
        for message in batch.written:
            self._metrics.published.labels(message.type).inc()

    # subscribing ----------------------------------------------------------------------------
    async def subscribe(
        self,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        last_event_id: int | None = None,
        transport: str = "other",
        on_ready: Callable[[], None] | None = None,
    ) -> Subscription:
        """Register a client of ``user_id``. With ``last_event_id`` the messages it missed
        are queued first (exactly those with a larger id), then live ones; when that
        history is no longer complete the client gets a ``stream.reset`` first."""
        await self._ensure_started()
        sub = Subscription(
            account_id,
            user_id,
            since=self._clock.now(),
            limit=self.queue_limit,
            transport=transport,
            on_ready=on_ready,
        )
        self._fanout.add(sub)  # live messages are held while the history is read
        self._metrics.connections.labels(transport).inc()
        try:
            replayed, head = await self._history(account_id, user_id, last_event_id)
        except BaseException:
            self.unsubscribe(sub)
            raise
        sub.go_live(replayed, head)
        return sub

    async def _history(
        self, account_id: uuid.UUID, user_id: uuid.UUID, last_event_id: int | None
    ) -> tuple[list[Notification], list[Control]]:
        if last_event_id is None:
            return [], []
        async with self._uow(readonly=True) as uow:
            complete = last_event_id == 0 or await store.user_has(
                uow.session, account_id=account_id, user_id=user_id, event_id=last_event_id
            )
            missed = await store.replay(
                uow.session,
                account_id=account_id,
                user_id=user_id,
                after_id=last_event_id,
                limit=self.replay_limit + 1,
            )
        if len(missed) > self.replay_limit:
            return [], [Control(ControlType.RESET, {"reason": "too_many_missed"})]
        if not complete:
            return missed, [Control(ControlType.RESET, {"reason": "history_unavailable"})]
        return missed, []

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._fanout.of(sub.account_id, sub.user_id):
            self._fanout.remove(sub)
            self._metrics.connections.labels(sub.transport).dec()
        if sub.close_reason == "the client fell too far behind":
            self._metrics.dropped.inc()

    @property
    def local_streams(self) -> int:
        return len(self._fanout)

    async def start(self) -> None:
        """Subscribe to the bus now rather than when the first app connects. A bus that does
        not answer is logged, not fatal: the subscription is tried again on the next app's
        connection, and per-process views then fall back to their time limit."""
        try:
            await self._ensure_started()
        except Exception as exc:
            self._metrics.bus_errors.labels("start").inc()
            log.warning("could not subscribe to the notification bus (%s)", type(exc).__name__)

    async def _ensure_started(self) -> None:
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self._bus.start(self._deliver, self._on_gap)
                self._started = True

    def _deliver(self, message: Notification) -> None:
        for listener in self.listeners:
            try:
                listener.on_message(message)
            except Exception:  # a listener's bug must not stop deliveries
                log.exception("a bus listener failed on a %s message", message.type)
        delivered = self._fanout.deliver(message)
        if delivered:
            self._metrics.delivered.inc(delivered)

    def _on_gap(self, lost_at: datetime) -> None:
        self._metrics.bus_errors.labels("gap").inc()
        for listener in self.listeners:
            try:
                listener.on_gap()
            except Exception:
                log.exception("a bus listener failed after a bus outage")
        task = asyncio.create_task(self._recover(lost_at - _GAP_SLACK))
        self._recoveries.add(task)
        task.add_done_callback(self._recoveries.discard)

    async def _recover(self, since: datetime) -> None:
        """After a bus outage, deliver from the database what clients here may have missed."""
        try:
            async with self._uow(readonly=True) as uow:
                missed = await store.recent(uow.session, since=since, limit=50_000)
        except Exception:
            log.exception("could not read notifications missed during a bus outage")
            return
        for message in missed:
            for sub in self._fanout.of(message.account_id, message.user_id):
                if message.id > sub.last_id and message.created_at >= sub.since:
                    sub.offer(message)

    # lifecycle ------------------------------------------------------------------------------
    def close_streams(self, reason: str = "the server is shutting down") -> None:
        """End every local stream (clients reconnect, to another process if there is one)."""
        for sub in self._fanout:
            sub.close(reason)

    async def aclose(self) -> None:
        self.close_streams()
        for task in tuple(self._recoveries):
            task.cancel()
        await self._bus.aclose()
        self._started = False


async def publish_coalesced_job(job: Job, *, uow: UnitOfWorkFactory, hub: NotificationHub) -> None:
    """The trailing message of a coalescing window (job kind ``notify.trailing``)."""
    payload = dict(job.payload)
    assert job.account_id is not None
    user_id = uuid.UUID(str(payload.pop("user_id")))
    kind = str(payload.pop("type"))
    key = str(payload.pop("key"))
    async with uow() as u:
        if await u.users.get(job.account_id, user_id) is None:
            return  # the user is gone; nobody to tell
        await hub.publish(
            u, account_id=job.account_id, user_id=user_id, type=kind, data=payload, coalesce_key=key
        )
        await u.commit()
