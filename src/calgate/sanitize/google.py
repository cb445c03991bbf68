"""Google Calendar v3 ``calendar#event`` → :class:`SanitizedEvent` (provider-protocols §5.2).

An allow-list: the event is built from the named fields below and nothing else is read.
Never read: ``creator``, attendee ``email`` (compared, then dropped), ``comment``,
``additionalGuests``, ``attachments``, ``source``, ``htmlLink``, ``reminders``,
``gadget``, shared extended properties, conference ``entryPoints`` other than video
(phone PINs, passcodes), and the description's markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from calgate.sanitize.model import (
    Attendee,
    Profile,
    Recurrence,
    Room,
    SanitizedEvent,
    UnusableEvent,
)
from calgate.sanitize.platform import Platform
from calgate.sanitize.tags import GOOGLE_MEETING_PROPERTY
from calgate.sanitize.text import MAX_SCAN, clip, plain_text
from calgate.sanitize.wire import (
    as_dict,
    as_list,
    as_str,
    parse_date,
    parse_local,
    parse_stamp,
    person_name,
    safe_url,
)

__all__ = ["MAX_ATTENDEES", "sanitize_google"]

MAX_ATTENDEES = 500
_RESPONSES = {"accepted": "accepted", "declined": "declined", "tentative": "tentative"}
_RULE_PREFIXES = ("RRULE:", "EXRULE:", "RDATE", "EXDATE")
_NO_PLATFORM = Platform()


def _time(value: object, what: str) -> tuple[datetime, bool, str]:
    v = as_dict(value)
    zone_name = as_str(v.get("timeZone"))
    text = as_str(v.get("dateTime"))
    if text:
        return parse_local(text, zone_name, what), False, zone_name
    text = as_str(v.get("date"))
    if text:
        return parse_date(text, what), True, zone_name
    raise UnusableEvent(f"{what} is missing")


def _video_uri(item: Mapping[str, Any]) -> str:
    for entry in as_list(as_dict(item.get("conferenceData")).get("entryPoints")):
        entry = as_dict(entry)
        if entry.get("entryPointType") == "video":
            return safe_url(entry.get("uri"))
    return safe_url(item.get("hangoutLink"))


def _people(
    item: Mapping[str, Any], platform: Platform
) -> tuple[tuple[Attendee, ...], tuple[Room, ...]]:
    attendees: list[Attendee] = []
    rooms: list[Room] = []
    addresses: set[str] = set()
    has_organizer = False
    for raw in as_list(item.get("attendees"))[:MAX_ATTENDEES]:
        a = as_dict(raw)
        email = as_str(a.get("email")).lower()
        name = person_name(a.get("displayName"))
        if a.get("resource") is True:
            rooms.append(Room(name or "Room", platform.is_platform_room(email, name)))
            continue
        organizer = a.get("organizer") is True
        has_organizer |= organizer
        addresses.add(email)
        attendees.append(
            Attendee(
                name,
                _RESPONSES.get(as_str(a.get("responseStatus")), "none"),
                optional=a.get("optional") is True,
                organizer=organizer,
            )
        )
    org = as_dict(item.get("organizer"))
    org_email = as_str(org.get("email")).lower()
    if not has_organizer and org and org_email not in addresses:
        attendees.insert(0, Attendee(person_name(org.get("displayName")), "accepted", False, True))
    return tuple(attendees), tuple(rooms)


def _recurrence(item: Mapping[str, Any]) -> Recurrence | None:
    lines = [
        line[:1000]
        for line in as_list(item.get("recurrence"))[:50]
        if isinstance(line, str) and line.startswith(_RULE_PREFIXES)
    ]
    series = clip(item.get("recurringEventId"), 1024)
    original = as_dict(item.get("originalStartTime"))
    if not lines and not series:
        return None
    start = _time(original, "originalStartTime")[0] if original else None
    return Recurrence("\n".join(lines), series, start)


def sanitize_google(
    item: Mapping[str, Any],
    *,
    profile: Profile = Profile.APP,
    platform: Platform = _NO_PLATFORM,
) -> SanitizedEvent:
    """One Google event, through the allow-list of ``profile``. Raises
    :class:`~calgate.sanitize.UnusableEvent` when it has no id, start or end (a deleted
    item in a sync result: handle ``status == "cancelled"`` before calling)."""
    event_id = clip(item.get("id"), 1024)
    if not event_id:
        raise UnusableEvent("id is missing")
    start, all_day, zone_name = _time(item.get("start"), "start")
    end = max(start, _time(item.get("end"), "end")[0])
    raw_body = as_str(item.get("description"))[:MAX_SCAN]
    location = clip(item.get("location"))
    private = as_dict(as_dict(item.get("extendedProperties")).get("private"))
    meeting_id, meeting_url = platform.resolve(
        private.get(GOOGLE_MEETING_PROPERTY), _video_uri(item), location, raw_body
    )
    common: dict[str, Any] = {
        "provider": "google",
        "id": event_id,
        "profile": profile,
        "start": start,
        "end": end,
        "all_day": all_day,
        "cancelled": item.get("status") == "cancelled",
        "meeting_id": meeting_id,
        "updated": parse_stamp(item.get("updated")),
        "subject": clip(item.get("summary")),
        "description": plain_text(raw_body),
    }
    if profile is Profile.APP:
        attendees, rooms = _people(item, platform)
        return SanitizedEvent(
            **common,
            attendees=attendees,
            rooms=rooms,
            location=location,
            meeting_url=meeting_url,
            platform_room=any(r.platform for r in rooms) or platform.is_platform_room("", location),
        )
    org = as_dict(item.get("organizer"))
    return SanitizedEvent(
        **common,
        organizer_name=person_name(org.get("displayName")),
        organizer_id=clip(org.get("email"), 320).lower(),
        time_zone=clip(zone_name, 64),
        recurrence=_recurrence(item),
    )
