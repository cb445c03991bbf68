"""Google Calendar v3 event JSON ↔ `calgate.domain.calendar.Event` (provider-protocols §5.2).
Pure functions."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calgate.domain.calendar import (
    Attendee,
    AttendeeResponse,
    Event,
    EventStatus,
    ItemRef,
    StoredEvent,
    When,
)

__all__ = [
    "event_from_google",
    "event_href",
    "event_to_google",
    "parse_href",
    "quoted",
    "stored_from_google",
]

_RESPONSES = {
    "needsAction": AttendeeResponse.NEEDS_ACTION,
    "accepted": AttendeeResponse.ACCEPTED,
    "tentative": AttendeeResponse.TENTATIVE,
    "declined": AttendeeResponse.DECLINED,
}
_TO_GOOGLE = {v: k for k, v in _RESPONSES.items()}


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")  # what quote() leaves as it is


def quoted(value: str) -> str:
    """``value`` as one path segment of an href."""
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def event_href(calendar_id: str, event_id: str) -> str:
    return f"calendars/{quoted(calendar_id)}/events/{quoted(event_id)}"


def parse_href(href: str) -> tuple[str, str]:
    """``(calendar_id, event_id)`` of an href made by `event_href`."""
    parts = href.split("/")
    if len(parts) != 4 or parts[0] != "calendars" or parts[2] != "events":
        raise ValueError("not a Google event href")
    return unquote(parts[1]), unquote(parts[3])


@functools.lru_cache(maxsize=256)
def _zone(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _when(value: dict[str, Any], fallback_zone: str | None) -> When:
    if "date" in value:
        return _day(value["date"])
    return _moment(value["dateTime"], value.get("timeZone") or fallback_zone)


# Calendars repeat the same few hundred times and people over and over: the (immutable)
# values are shared instead of rebuilt for every event of a large sync.
@functools.lru_cache(maxsize=8192)
def _day(text: str) -> When:
    return When(day=date.fromisoformat(text))


@functools.lru_cache(maxsize=8192)
def _moment(text: str, zone_name: str | None) -> When:
    at = datetime.fromisoformat(text)
    zone = _zone(zone_name)
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(zone))
    return When(at=at.astimezone(UTC), time_zone=zone)


@functools.lru_cache(maxsize=8192)
def _attendee(email: str, name: str, optional: bool, resource: bool, response: str) -> Attendee:
    return Attendee(
        email=email.lower(),
        name=name,
        optional=optional,
        resource=resource,
        response=_RESPONSES.get(response, AttendeeResponse.NEEDS_ACTION),
    )


def _meeting_url(item: Mapping[str, Any]) -> str | None:
    for entry in (item.get("conferenceData") or {}).get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            return str(entry["uri"])
    link = item.get("hangoutLink")
    return str(link) if link else None


def event_from_google(item: Mapping[str, Any], calendar_zone: str | None = None) -> Event:
    attendees = tuple(
        _attendee(
            str(a["email"]),
            str(a.get("displayName", "")),
            bool(a.get("optional", False)),
            bool(a.get("resource", False)),
            str(a.get("responseStatus", "")),
        )
        for a in item.get("attendees") or ()
        if a.get("email")
    )
    status = EventStatus(item.get("status", "confirmed"))
    start = item.get("start") or item.get("originalStartTime") or {}
    end = item.get("end") or start
    organizer = (item.get("organizer") or {}).get("email")
    return Event(
        summary=str(item.get("summary", "")),
        start=_when(start, calendar_zone),
        end=_when(end, calendar_zone),
        description=str(item.get("description", "")),
        location=str(item.get("location", "")),
        organizer=str(organizer).lower() if organizer else None,
        attendees=attendees,
        recurrence=tuple(str(r) for r in item.get("recurrence") or ()),
        online_meeting_url=_meeting_url(item),
        uid=item.get("iCalUID"),
        status=status,
        series_id=item.get("recurringEventId"),
    )


def stored_from_google(
    calendar_id: str,
    item: Mapping[str, Any],
    calendar_zone: str | None = None,
    *,
    href: str | None = None,
) -> StoredEvent:
    return StoredEvent(
        ItemRef(href or event_href(calendar_id, str(item["id"])), str(item.get("etag", ""))),
        event_from_google(item, calendar_zone),
    )


def _wire_when(when: When) -> dict[str, str]:
    if when.day is not None:
        return {"date": when.day.isoformat()}
    assert when.at is not None
    zone = _zone(when.time_zone)
    return {"dateTime": when.at.astimezone(ZoneInfo(zone)).isoformat(), "timeZone": zone}


def event_to_google(event: Event) -> dict[str, Any]:
    """The writable fields of ``event`` as an events.insert/update body. The organizer is
    the calendar's owner (set by Google); ``online_meeting_url`` is Google's to set (Meet)."""
    body: dict[str, Any] = {
        "summary": event.summary,
        "start": _wire_when(event.start),
        "end": _wire_when(event.end),
        "status": event.status.value,
    }
    if event.description:
        body["description"] = event.description
    if event.location:
        body["location"] = event.location
    if event.attendees:
        body["attendees"] = [
            {
                "email": a.email,
                **({"displayName": a.name} if a.name else {}),
                **({"optional": True} if a.optional else {}),
                **({"resource": True} if a.resource else {}),
                "responseStatus": _TO_GOOGLE[a.response],
            }
            for a in event.attendees
        ]
    if event.recurrence:
        body["recurrence"] = list(event.recurrence)
    if event.uid:
        body["iCalUID"] = event.uid
    return body
