"""Provider-neutral seed data (:mod:`calgate.sandbox.model`) → Graph event JSON.

Times are written in the organiser's zone under its Windows name (``W. Europe Standard
Time``), as Outlook stores them; an RRULE becomes a ``patternedRecurrence``; private
properties become ``singleValueExtendedProperties`` in the PS_PUBLIC_STRINGS property set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from calgate.sandbox.microsoft.recurrence import graph_from_rrule
from calgate.sandbox.microsoft.timezones import format_graph_datetime, windows_name
from calgate.sandbox.model import SeedAttendee, SeedEvent

__all__ = ["PS_PUBLIC_STRINGS", "graph_event_from_seed", "property_id", "seed_wall_time"]

PS_PUBLIC_STRINGS = "{00020329-0000-0000-C000-000000000046}"
_RESPONSES = {
    "needsAction": "none",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentativelyAccepted",
}


def property_id(name: str) -> str:
    """The extended-property id Graph uses for a named string property."""
    return f"String {PS_PUBLIC_STRINGS} Name {name}"


def seed_wall_time(value: datetime | date, time_zone: str) -> datetime:
    """A seed time as a naive wall time in ``time_zone`` (dates become midnight)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("seed datetimes must be timezone-aware")
        return value.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)  # noqa: DTZ001 - a wall time


def _address(email: str, names: Callable[[str], str | None]) -> dict[str, str]:
    return {"name": names(email) or email.split("@")[0].title(), "address": email}


def _attendee(a: SeedAttendee, names: Callable[[str], str | None]) -> dict[str, Any]:
    address = {"name": a.display_name or names(a.email) or a.email, "address": a.email}
    return {
        "type": "resource" if a.is_room else "required",
        "status": {"response": _RESPONSES.get(a.response, "none"), "time": "0001-01-01T00:00:00Z"},
        "emailAddress": address,
    }


def graph_event_from_seed(
    seed: SeedEvent, names: Callable[[str], str | None] = lambda _e: None
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """(create body, organizer or None for the owner, onlineMeeting or None)."""
    zone_name = windows_name(seed.time_zone)
    start = seed_wall_time(seed.start, seed.time_zone)
    end = seed_wall_time(seed.end, seed.time_zone)
    body_text = seed.body
    if seed.online_meeting_url and seed.online_meeting_url not in body_text:
        body_text = f"{body_text}\n\nJoin the meeting: {seed.online_meeting_url}".strip()
    body: dict[str, Any] = {
        "subject": seed.subject,
        "body": {"contentType": "text", "content": body_text},
        "start": {"dateTime": format_graph_datetime(start), "timeZone": zone_name},
        "end": {"dateTime": format_graph_datetime(end), "timeZone": zone_name},
        "isAllDay": seed.all_day,
        "attendees": [_attendee(a, names) for a in seed.attendees],
    }
    rooms = [a for a in seed.attendees if a.is_room]
    if seed.location:
        body["location"] = {"displayName": seed.location, "locationType": "default"}
    elif rooms:
        room = rooms[0]
        body["location"] = {
            "displayName": room.display_name or names(room.email) or room.email,
            "locationEmailAddress": room.email,
            "locationType": "conferenceRoom",
        }
    if seed.rrule:
        body["recurrence"] = graph_from_rrule(seed.rrule, start, zone_name)
    if seed.private_properties:
        body["singleValueExtendedProperties"] = [
            {"id": property_id(k), "value": v} for k, v in seed.private_properties.items()
        ]
    organizer = {"emailAddress": _address(seed.organizer, names)} if seed.organizer else None
    meeting: dict[str, Any] | None = None
    if seed.online_meeting_url:
        meeting = {
            "joinUrl": seed.online_meeting_url,
            "conferenceId": None,
            "tollNumber": None,
            "tollFreeNumbers": [],
            "phones": [],
            "quickDial": None,
        }
    return body, organizer, meeting
