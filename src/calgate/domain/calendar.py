"""Calendar events as connectors exchange them: provider-neutral, pure data.

The connector contract speaks *hrefs and etags* (vdirsyncer's model): every stored event is
addressed by an opaque ``href`` the connector understands, and carries the ``etag`` of the
version read; a write names the etag it expects and fails if the event changed since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, overload

__all__ = [
    "Attendee",
    "AttendeeResponse",
    "Event",
    "EventStatus",
    "ItemRef",
    "MappedOnRead",
    "StoredEvent",
    "SyncBatch",
    "When",
]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Where an event lives (``href``, opaque to everyone but its connector) and which
    version of it was read (``etag``)."""

    href: str
    etag: str


@dataclass(frozen=True, slots=True)
class When:
    """A start or end: a moment (aware ``at``, with the zone it was set in) or a day
    (all-day events; the end day is exclusive)."""

    at: datetime | None = None
    day: date | None = None
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.at is None) == (self.day is None):
            raise ValueError("a When is either a moment (at) or a day, not both or neither")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("naive datetime: calgate only works with aware datetimes")

    @property
    def all_day(self) -> bool:
        return self.day is not None


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class AttendeeResponse(StrEnum):
    NEEDS_ACTION = "needs_action"
    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    name: str = ""
    optional: bool = False
    resource: bool = False  # a room or equipment
    response: AttendeeResponse = AttendeeResponse.NEEDS_ACTION


@dataclass(frozen=True, slots=True)
class Event:
    """One event (a single event, a series master, or one instance of a series)."""

    summary: str
    start: When
    end: When
    description: str = ""
    location: str = ""
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = ()
    recurrence: tuple[str, ...] = ()  # RFC 5545 lines (RRULE:, EXDATE:…), masters only
    online_meeting_url: str | None = None
    uid: str | None = None  # iCalendar UID where the provider exposes one
    status: EventStatus = EventStatus.CONFIRMED
    series_id: str | None = None  # the master's id, for instances and exceptions

    def __post_init__(self) -> None:
        if self.start.all_day != self.end.all_day:
            raise ValueError("start and end must both be moments or both be days")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    ref: ItemRef
    event: Event


class MappedOnRead(Sequence[StoredEvent]):
    """A connector's items that become `StoredEvent`s when first read, and stay mapped.

    A first sync lists a whole calendar (thousands of events, most of them no concern of
    the sync consumers, which read the provider's JSON): mapping every item up front cost a
    full sync about as much as fetching it. ``hrefs`` are known at once; item ``i`` is
    mapped by ``read(hrefs[i], items[i])`` the first time it is read. A mapping error
    surfaces where the item is read."""

    __slots__ = ("_done", "_items", "_read", "hrefs")

    def __init__(
        self,
        hrefs: Sequence[str],
        items: Sequence[Mapping[str, Any]],
        read: Callable[[str, Mapping[str, Any]], StoredEvent],
    ) -> None:
        if len(hrefs) != len(items):
            raise ValueError("one href per item")
        self.hrefs: tuple[str, ...] = tuple(hrefs)
        self._items = items
        self._read = read
        self._done: list[StoredEvent | None] = [None] * len(items)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[StoredEvent, ...]: ...

    def __getitem__(self, index: int | slice) -> StoredEvent | tuple[StoredEvent, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        stored = self._done[index]
        if stored is None:
            stored = self._read(self.hrefs[index], self._items[index])
            self._done[index] = stored
        return stored

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:  # never event content
        return f"MappedOnRead({len(self)} items)"


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """What changed since a sync token. ``full`` means the batch is a complete listing that
    replaces whatever the caller had (first sync, or a connector without delta sync).
    ``changed`` may map its items on read (`MappedOnRead`)."""

    changed: Sequence[StoredEvent]
    removed: tuple[str, ...]  # hrefs
    token: str
    full: bool = False
    # The provider's wire JSON of each changed item, by href (for the sanitizer; issue #6's
    # change consumers). In memory only; never logged or stored as is.
    raw: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def changed_hrefs(self) -> Sequence[str]:
        """The hrefs of ``changed``, without mapping any item."""
        if isinstance(self.changed, MappedOnRead):
            return self.changed.hrefs
        return tuple(stored.ref.href for stored in self.changed)
