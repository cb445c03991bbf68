"""Provider-neutral seed data: what a calendar event *is*, before any provider's wire format.

The data generator (``datagen.py``) produces these; each emulator turns them into its own
native representation (Google ``calendar#event`` JSON, Graph ``event`` JSON) when seeding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = ["SeedAttendee", "SeedEvent", "SeedOccurrenceOverride", "SeedUser"]


@dataclass(frozen=True, slots=True)
class SeedUser:
    email: str
    display_name: str
    time_zone: str = "Europe/Berlin"  # IANA; Graph emulators map to Windows names


@dataclass(frozen=True, slots=True)
class SeedAttendee:
    email: str
    display_name: str = ""
    is_room: bool = False
    response: str = "needsAction"  # accepted | declined | tentative | needsAction


@dataclass(frozen=True, slots=True)
class SeedOccurrenceOverride:
    """An exception in a series: the occurrence originally at ``original_start`` is moved
    (``start``/``end`` set) or cancelled (``cancelled``)."""

    original_start: datetime
    start: datetime | None = None
    end: datetime | None = None
    cancelled: bool = False
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class SeedEvent:
    subject: str
    start: datetime | date  # aware datetime, or a date for all-day events
    end: datetime | date
    time_zone: str = "UTC"  # IANA zone the organiser scheduled in
    body: str = ""
    location: str = ""
    organizer: str = ""  # email; default: the calendar owner
    attendees: tuple[SeedAttendee, ...] = ()
    rrule: str | None = None  # RFC 5545 RRULE value, e.g. "FREQ=WEEKLY;BYDAY=MO;COUNT=10"
    overrides: tuple[SeedOccurrenceOverride, ...] = ()
    online_meeting_url: str | None = None
    private_properties: dict[str, str] = field(default_factory=dict)

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)
