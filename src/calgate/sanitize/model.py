"""What a sanitized event holds: named fields only, nothing else can get in.

One dataclass serves both allow-list profiles; the fields a profile does not keep stay at
their empty defaults (see :mod:`calgate.sanitize` for which profile keeps what, and why).
``repr`` shows ids only, so an event that reaches a log line by mistake shows no content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "Attendee",
    "Profile",
    "Recurrence",
    "Room",
    "SanitizedEvent",
    "UnusableEvent",
]


class Profile(StrEnum):
    """Which allow-list built the event."""

    APP = "app"  # C5: what an app displays
    SYNC = "sync"  # R8: what the service stores for bi-directional sync


class UnusableEvent(ValueError):
    """The provider's item lacks something every event must have (id, start, end). The
    message names the field only, never its value."""


@dataclass(frozen=True, slots=True)
class Attendee:
    """A person invited to the event, as shown in an app (C5): no address."""

    name: str = field(repr=False)
    response: str  # accepted | declined | tentative | none
    optional: bool = False
    organizer: bool = False


@dataclass(frozen=True, slots=True)
class Room:
    """A room resource booked for the event; ``platform`` when it is one of the meeting
    platform's own rooms (see :class:`calgate.sanitize.Platform`)."""

    name: str = field(repr=False)
    platform: bool = False


@dataclass(frozen=True, slots=True)
class Recurrence:
    """R8 recurrence info. ``rule``: RFC 5545 lines (``RRULE:…``, ``EXDATE:…``) of a series
    master; ``series_id`` and ``original_start``: where an occurrence belongs."""

    rule: str = ""
    series_id: str = ""
    original_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class SanitizedEvent:
    provider: str  # google | microsoft
    id: str
    profile: Profile
    start: datetime  # aware UTC; all-day events start at 00:00 UTC of their date
    end: datetime
    all_day: bool = False
    cancelled: bool = False
    meeting_id: str = ""  # the platform meeting this event carries, if any
    updated: datetime | None = None  # the provider's last-modified time (ordering changes)
    subject: str = field(default="", repr=False)
    description: str = field(default="", repr=False)  # plain text, clipped
    # APP (C5) only
    attendees: tuple[Attendee, ...] = field(default=(), repr=False)
    rooms: tuple[Room, ...] = field(default=(), repr=False)
    location: str = field(default="", repr=False)
    meeting_url: str = field(default="", repr=False)
    platform_room: bool = False
    # SYNC (R8) only
    organizer_name: str = field(default="", repr=False)
    organizer_id: str = field(default="", repr=False)
    time_zone: str = ""
    recurrence: Recurrence | None = field(default=None, repr=False)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fields of this event's profile, nothing else."""
        out: dict[str, Any] = {
            "provider": self.provider,
            "id": self.id,
            "profile": self.profile.value,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "all_day": self.all_day,
            "cancelled": self.cancelled,
            "meeting_id": self.meeting_id,
            "subject": self.subject,
            "description": self.description,
        }
        if self.profile is Profile.APP:
            out["attendees"] = [
                {"name": a.name, "response": a.response, "optional": a.optional}
                | {"organizer": a.organizer}
                for a in self.attendees
            ]
            out["rooms"] = [{"name": r.name, "platform": r.platform} for r in self.rooms]
            out["location"] = self.location
            out["meeting_url"] = self.meeting_url
            out["platform_room"] = self.platform_room
        else:
            rec = self.recurrence
            out["organizer_name"] = self.organizer_name
            out["organizer_id"] = self.organizer_id
            out["time_zone"] = self.time_zone
            out["recurrence"] = (
                None
                if rec is None
                else {
                    "rule": rec.rule,
                    "series_id": rec.series_id,
                    "original_start": _iso(rec.original_start) if rec.original_start else None,
                }
            )
        return out


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
