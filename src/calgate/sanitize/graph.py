"""Microsoft Graph ``event`` → :class:`SanitizedEvent` (provider-protocols §2.3).

An allow-list: the event is built from the named fields below and nothing else is read.
Never read: ``bodyPreview``, ``uniqueBody``, the body's markup, attendee and location
addresses (compared, then dropped), ``proposedNewTime``, ``attachments``,
``hasAttachments``, ``webLink``, ``onlineMeeting`` phone numbers and conference ids,
``categories``, other extended properties.

Times: ask Graph for UTC (``Prefer: outlook.timezone="UTC"``); an IANA or Windows zone in
``start.timeZone`` is honoured too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from calgate.sanitize.google import MAX_ATTENDEES
from calgate.sanitize.model import (
    Attendee,
    Profile,
    Recurrence,
    Room,
    SanitizedEvent,
    UnusableEvent,
)
from calgate.sanitize.platform import Platform
from calgate.sanitize.recurrence import graph_rrule
from calgate.sanitize.tags import GRAPH_MEETING_PROPERTY_ID
from calgate.sanitize.text import MAX_SCAN, MAX_SHORT, clip, plain_text
from calgate.sanitize.wire import (
    as_dict,
    as_list,
    as_str,
    parse_local,
    parse_stamp,
    person_name,
    safe_url,
)

__all__ = ["sanitize_graph"]

_RESPONSES = {
    "accepted": "accepted",
    "organizer": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
}
_TAG_ID = GRAPH_MEETING_PROPERTY_ID.lower()
_NO_PLATFORM = Platform()


def _time(value: object, what: str) -> datetime:
    v = as_dict(value)
    text = as_str(v.get("dateTime"))
    if not text:
        raise UnusableEvent(f"{what} is missing")
    return parse_local(text, as_str(v.get("timeZone")), what)


def _tag(item: Mapping[str, Any]) -> object:
    for prop in as_list(item.get("singleValueExtendedProperties")):
        prop = as_dict(prop)
        if as_str(prop.get("id")).lower() == _TAG_ID:
            return prop.get("value")
    return None


def _locations(item: Mapping[str, Any]) -> list[dict[str, Any]]:
    primary = as_dict(item.get("location"))
    more = [as_dict(x) for x in as_list(item.get("locations"))[:20]]
    return [primary, *more] if primary else more


def _location_text(places: list[dict[str, Any]]) -> str:
    names: list[str] = []
    for place in places:
        name = clip(place.get("displayName"))
        if name and name not in names:
            names.append(name)
    return "; ".join(names)[:MAX_SHORT]


def _people(
    item: Mapping[str, Any], places: list[dict[str, Any]], platform: Platform
) -> tuple[tuple[Attendee, ...], tuple[Room, ...]]:
    attendees: list[Attendee] = []
    rooms: list[Room] = []
    room_addresses: set[str] = set()
    addresses: set[str] = set()
    has_organizer = False
    for raw in as_list(item.get("attendees"))[:MAX_ATTENDEES]:
        a = as_dict(raw)
        address = as_dict(a.get("emailAddress"))
        email = as_str(address.get("address")).lower()
        name = person_name(address.get("name"))
        if a.get("type") == "resource":
            room_addresses.add(email)
            rooms.append(Room(name or "Room", platform.is_platform_room(email, name)))
            continue
        response = as_str(as_dict(a.get("status")).get("response"))
        organizer = response == "organizer"
        has_organizer |= organizer
        addresses.add(email)
        attendees.append(
            Attendee(
                name,
                _RESPONSES.get(response, "none"),
                optional=a.get("type") == "optional",
                organizer=organizer,
            )
        )
    for place in places:
        email = as_str(place.get("locationEmailAddress")).lower()
        if place.get("locationType") == "conferenceRoom" and email not in room_addresses:
            room_addresses.add(email)
            name = person_name(place.get("displayName"))
            rooms.append(Room(name or "Room", platform.is_platform_room(email, name)))
    org = as_dict(as_dict(item.get("organizer")).get("emailAddress"))
    if not has_organizer and org and as_str(org.get("address")).lower() not in addresses:
        attendees.insert(0, Attendee(person_name(org.get("name")), "accepted", False, True))
    return tuple(attendees), tuple(rooms)


def _recurrence(item: Mapping[str, Any]) -> Recurrence | None:
    pattern = as_dict(item.get("recurrence"))
    rule = graph_rrule(pattern) if pattern else ""
    series = clip(item.get("seriesMasterId"), 1024)
    if not rule and not series:
        return None
    original = as_str(item.get("originalStart"))
    start = parse_local(original, "UTC", "originalStart") if original else None
    return Recurrence(rule, series, start)


def sanitize_graph(
    item: Mapping[str, Any],
    *,
    profile: Profile = Profile.APP,
    platform: Platform = _NO_PLATFORM,
) -> SanitizedEvent:
    """One Graph event, through the allow-list of ``profile``. Raises
    :class:`~calgate.sanitize.UnusableEvent` for an item without id, start or end (a delta
    ``@removed`` entry: handle those before calling)."""
    event_id = clip(item.get("id"), 1024)
    if not event_id or "@removed" in item:
        raise UnusableEvent("id is missing" if not event_id else "the event was removed")
    start = _time(item.get("start"), "start")
    end = max(start, _time(item.get("end"), "end"))
    body = as_dict(item.get("body"))
    raw_body = as_str(body.get("content"))[:MAX_SCAN]
    places = _locations(item)
    location = _location_text(places)
    online = as_dict(item.get("onlineMeeting"))
    provider_url = safe_url(online.get("joinUrl")) or safe_url(item.get("onlineMeetingUrl"))
    meeting_id, meeting_url = platform.resolve(_tag(item), provider_url, location, raw_body)
    common: dict[str, Any] = {
        "provider": "microsoft",
        "id": event_id,
        "profile": profile,
        "start": start,
        "end": end,
        "all_day": item.get("isAllDay") is True,
        "cancelled": item.get("isCancelled") is True,
        "meeting_id": meeting_id,
        "updated": parse_stamp(item.get("lastModifiedDateTime")),
        "subject": clip(item.get("subject")),
        "description": plain_text(raw_body, html=as_str(body.get("contentType")) == "html"),
    }
    if profile is Profile.APP:
        attendees, rooms = _people(item, places, platform)
        return SanitizedEvent(
            **common,
            attendees=attendees,
            rooms=rooms,
            location=location,
            meeting_url=meeting_url,
            platform_room=any(r.platform for r in rooms),
        )
    org = as_dict(as_dict(item.get("organizer")).get("emailAddress"))
    zone_name = as_str(item.get("originalStartTimeZone")) or as_str(
        as_dict(item.get("start")).get("timeZone")
    )
    return SanitizedEvent(
        **common,
        organizer_name=person_name(org.get("name")),
        organizer_id=clip(org.get("address"), 320).lower(),
        time_zone=clip(zone_name, 64),
        recurrence=_recurrence(item),
    )
