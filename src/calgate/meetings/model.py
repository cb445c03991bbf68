"""What a meeting is: its schedule, its status and the state its join page shows.

Pure values: nothing here does I/O. Times are aware UTC; the IANA time zone the meeting was
scheduled in is kept beside them so wall-clock rules (recurrence across DST) stay right.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "EXPIRY_AFTER",
    "ChangeSource",
    "JoinState",
    "Meeting",
    "MeetingStatus",
    "NewMeeting",
    "OccurrenceOverride",
    "Schedule",
]

EXPIRY_AFTER = timedelta(days=30)
"""R12: a meeting id expires 30 days after its scheduled time (the last one, for a series
that ends)."""


class MeetingStatus(StrEnum):
    """What is stored. *Expired* is not a status: it follows from the clock (see `JoinState`)."""

    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class JoinState(StrEnum):
    """What the join page shows, derived from status, schedule and the clock."""

    UPCOMING = "upcoming"  # not open yet (more than the join-early window before the start)
    VALID = "valid"  # joinable
    EXPIRED = "expired"  # R12
    CANCELLED = "cancelled"


class ChangeSource(StrEnum):
    """Who changed a meeting (kept with each change, for the audit trail of sync later)."""

    API = "api"  # the scheduling API: a user, an add-in, a scheduling tool
    SYNC = "sync"  # bi-directional sync: the calendar event moved or was cancelled
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a meeting happens: ``start`` (aware UTC) of the first occurrence as scheduled,
    the IANA ``time_zone`` it was scheduled in, its length and, for a series, its RRULE."""

    start: datetime
    time_zone: str
    duration_minutes: int
    rule: str | None = None

    @property
    def recurring(self) -> bool:
        return self.rule is not None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    @property
    def local_start(self) -> datetime:
        """The start as wall time in the meeting's zone (aware)."""
        return self.start.astimezone(self.zone)


@dataclass(frozen=True, slots=True)
class OccurrenceOverride:
    """One occurrence of a series that differs from its rule: moved (``start`` and/or
    ``duration_minutes`` set) or ``cancelled``. Keyed by the occurrence's original start."""

    original_start: datetime
    start: datetime | None = None
    duration_minutes: int | None = None
    cancelled: bool = False

    @property
    def effective_start(self) -> datetime:
        return self.start or self.original_start


@dataclass(frozen=True, slots=True)
class NewMeeting:
    """What a provider needs to create a meeting (ids and passcodes are its business)."""

    account_id: uuid.UUID
    owner_id: uuid.UUID
    topic: str
    schedule: Schedule
    expires_at: datetime | None
    now: datetime


@dataclass(frozen=True, slots=True)
class Meeting:
    id: int
    account_id: uuid.UUID
    owner_id: uuid.UUID
    topic: str
    passcode: str
    join_url: str
    schedule: Schedule
    status: MeetingStatus
    expires_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    overrides: tuple[OccurrenceOverride, ...] = field(default=())

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at
