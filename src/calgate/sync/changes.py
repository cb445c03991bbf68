"""What the incremental sync pipeline hands to the features built on it.

After every successful incremental fetch of a connection's calendar, the sync job calls each
registered :class:`ChangeConsumer` with the changed items (issue #7's meeting sync is one):

    class MeetingSync:
        name = "meetings"

        async def on_changes(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
            for change in changes:
                if change.removed:
                    ...  # forget whatever you hold for change.event_id
                elif change.raw is not None:
                    clean = sanitize(ctx.provider.value, dict(change.raw), profile=Profile.SYNC)
                    ...

    runtime.sync_consumers.register(MeetingSync(...))   # in bootstrap

Guarantees and duties:

- **At least once.** The connection's sync token (Google ``nextSyncToken``, Graph
  ``deltaLink``) is saved only after every consumer returned. A consumer that raises fails
  the sync job, which is retried with back-off from the *old* token: the same changes come
  again. Consumers must therefore be idempotent (upsert by ``event_id``).
- **Order within a batch** is the provider's; providers may replay a change. Treat each
  change as "this is the item's current state".
- **Full batches.** ``ctx.full`` means the batch is a complete listing (first sync, or the
  provider expired the token): whatever the consumer holds for ``ctx.connection_id`` that is
  not in the batch is gone.
- **No transaction is open** while a consumer runs, and the consumer opens its own units of
  work; it may be called for many connections concurrently (one job each).
- ``raw`` is the provider's wire JSON (a Google ``calendar#event``, a Graph ``event``), kept
  in memory only for the duration of the call: run it through :mod:`calgate.sanitize` before
  storing anything (R8). Never log it.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote

from calgate.domain.calendar import EventStatus, StoredEvent, SyncBatch
from calgate.domain.policy import Provider

__all__ = [
    "Change",
    "ChangeConsumer",
    "ChangeConsumers",
    "SyncContext",
    "changes_from_batch",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class Change:
    """One changed item of a calendar, as of this sync.

    ``removed``: deleted, or moved out of the synced window (Graph reports both alike), so
    ``event`` and ``raw`` are None. ``cancelled``: still listed but cancelled (a cancelled
    occurrence of a series; a meeting the organizer cancelled). ``event`` is mapped to the
    domain model when first read (``read_event``); ``raw`` needs no mapping."""

    href: str  # the connector's address of the item (opaque; `CalendarConnector.get_event`)
    event_id: str  # the provider's event id (Google event id, Graph event id)
    removed: bool = False
    raw: Mapping[str, Any] | None = None  # the provider's wire JSON, for calgate.sanitize
    read_event: Callable[[], StoredEvent] | None = field(default=None, compare=False)

    @property
    def event(self) -> StoredEvent | None:
        """The item mapped to the domain model (with its etag), or None once removed."""
        return None if self.read_event is None else self.read_event()

    @property
    def cancelled(self) -> bool:
        event = self.event
        return event is not None and event.event.status is EventStatus.CANCELLED

    def __repr__(self) -> str:  # ids only: never event content
        state = "removed" if self.removed else ("cancelled" if self.cancelled else "changed")
        return f"Change({self.event_id!r}, {state})"


@dataclass(frozen=True, slots=True)
class SyncContext:
    """Whose calendar changed, and what kind of batch this is."""

    account_id: uuid.UUID
    user_id: uuid.UUID
    connection_id: uuid.UUID
    provider: Provider
    full: bool  # the batch is a complete listing of the synced window
    window_start: datetime  # the window synced (Graph); Google syncs the whole calendar
    window_end: datetime
    synced_at: datetime


@runtime_checkable
class ChangeConsumer(Protocol):
    """A feature that wants every change of every connected calendar."""

    @property
    def name(self) -> str:
        """Short, for logs and metrics (``meetings``)."""
        ...

    async def on_changes(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
        """Handle one batch (never empty unless ``ctx.full``). Raise to have the batch
        delivered again later; return normally once it is safely handled."""
        ...


class ChangeConsumers:
    """The registered consumers (empty by default), called in registration order."""

    def __init__(self) -> None:
        self._consumers: list[ChangeConsumer] = []

    def register(self, consumer: ChangeConsumer) -> None:
        if not isinstance(consumer, ChangeConsumer):
            raise TypeError("a change consumer needs a name and an async on_changes()")
        if any(c.name == consumer.name for c in self._consumers):
            raise ValueError(f"a change consumer named {consumer.name!r} is already registered")
        self._consumers.append(consumer)

    def __iter__(self) -> Iterator[ChangeConsumer]:
        return iter(tuple(self._consumers))

    def __len__(self) -> int:
        return len(self._consumers)

    async def dispatch(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
        """Hand the batch to every consumer; the first failure propagates (the sync job is
        retried from the old token, so every consumer sees the batch again)."""
        if not changes and not ctx.full:
            return
        for consumer in self:
            try:
                await consumer.on_changes(ctx, changes)
            except Exception:
                log.warning(
                    "change consumer %s failed on %d changes of connection %s",
                    consumer.name,
                    len(changes),
                    ctx.connection_id,
                )
                raise


def _event_id(href: str) -> str:
    """The provider's id is the last path segment of a connector href (Google
    ``calendars/{cal}/events/{id}``, Graph ``me/events/{id}``)."""
    return unquote(href.rstrip("/").rsplit("/", 1)[-1])


def changes_from_batch(batch: SyncBatch) -> list[Change]:
    """A connector's `SyncBatch` as consumer changes (changed first, then removals). No
    item is mapped here: each change maps its own on first read of ``event``."""
    out: list[Change] = []
    changed, raw = batch.changed, batch.raw
    for index, href in enumerate(batch.changed_hrefs):
        out.append(
            Change(
                href=href,
                event_id=_event_id(href),
                raw=raw.get(href),
                read_event=functools.partial(changed.__getitem__, index),
            )
        )
    for href in batch.removed:
        out.append(Change(href=href, event_id=_event_id(href), removed=True))
    return out
