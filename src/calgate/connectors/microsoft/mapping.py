"""Microsoft Graph event JSON ↔ `calgate.domain.calendar.Event` (provider-protocols §2.3),
including Graph's recurrence pattern/range ↔ RFC 5545 ``RRULE`` (§2.3). Pure functions.

Graph cannot express ``EXDATE``/``RDATE`` inside a series (cancelled occurrences are their
own objects), so those lines are dropped on the way to Graph.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import vRecur

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
    "event_from_graph",
    "event_to_graph",
    "pattern_from_rrule",
    "rrule_from_pattern",
    "stored_from_graph",
]

_DAYS = {
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
    "sunday": "SU",
}
_GRAPH_DAYS = {v: k for k, v in _DAYS.items()}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_GRAPH_INDEX = {v: k for k, v in _INDEX.items()}
_RESPONSES = {
    "accepted": AttendeeResponse.ACCEPTED,
    "tentativelyAccepted": AttendeeResponse.TENTATIVE,
    "declined": AttendeeResponse.DECLINED,
}


def _zone(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"  # a Windows zone name: times are read in UTC anyway
    return name


def _parse(value: dict[str, Any]) -> datetime:
    """A ``dateTimeTimeZone`` (wall time without offset, plus a zone) as an aware UTC time."""
    wall = datetime.fromisoformat(str(value["dateTime"]))
    zone = _zone(value.get("timeZone"))
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


# recurrence ---------------------------------------------------------------------------------
def rrule_from_pattern(recurrence: dict[str, Any]) -> str:
    """Graph ``{pattern, range}`` as an ``RRULE:`` line."""
    pattern, rng = recurrence.get("pattern") or {}, recurrence.get("range") or {}
    kind = str(pattern.get("type", "daily"))
    rule: dict[str, Any] = {}
    days = [_DAYS[d.lower()] for d in pattern.get("daysOfWeek") or []]
    index = _INDEX.get(str(pattern.get("index", "first")), 1)
    if kind == "daily":
        rule["FREQ"] = "DAILY"
    elif kind == "weekly":
        rule["FREQ"] = "WEEKLY"
        rule["BYDAY"] = days
    elif kind == "absoluteMonthly":
        rule["FREQ"] = "MONTHLY"
        rule["BYMONTHDAY"] = [int(pattern.get("dayOfMonth", 1))]
    elif kind == "relativeMonthly":
        rule["FREQ"] = "MONTHLY"
        rule["BYDAY"] = [f"{index}{d}" for d in days]
    elif kind == "absoluteYearly":
        rule["FREQ"] = "YEARLY"
        rule["BYMONTH"] = [int(pattern.get("month", 1))]
        rule["BYMONTHDAY"] = [int(pattern.get("dayOfMonth", 1))]
    elif kind == "relativeYearly":
        rule["FREQ"] = "YEARLY"
        rule["BYMONTH"] = [int(pattern.get("month", 1))]
        rule["BYDAY"] = [f"{index}{d}" for d in days]
    else:
        raise ValueError(f"unknown Graph recurrence pattern {kind!r}")
    interval = int(pattern.get("interval", 1))
    if interval != 1:
        rule["INTERVAL"] = interval
    if rng.get("type") == "numbered":
        rule["COUNT"] = int(rng.get("numberOfOccurrences", 1))
    elif rng.get("type") == "endDate" and rng.get("endDate"):
        rule["UNTIL"] = date.fromisoformat(str(rng["endDate"]))
    encoded: bytes = vRecur(rule).to_ical()  # type: ignore[no-untyped-call]
    return "RRULE:" + encoded.decode()


def pattern_from_rrule(line: str, start: When) -> dict[str, Any]:
    """An ``RRULE:`` line as Graph ``{pattern, range}``, anchored at the event's start."""
    rule = vRecur.from_ical(line.split(":", 1)[1] if ":" in line else line)
    freq = str(rule["FREQ"][0]).upper()
    interval = int(rule.get("INTERVAL", [1])[0])
    byday = [str(d).upper() for d in rule.get("BYDAY", [])]
    plain = [d[-2:] for d in byday]
    ordinal = next((int(d[:-2]) for d in byday if d[:-2]), None)
    if rule.get("BYSETPOS"):
        ordinal = int(rule["BYSETPOS"][0])
    first_day = start.day if start.day is not None else _local_start(start).date()
    pattern: dict[str, Any] = {"interval": interval}
    if freq == "DAILY":
        pattern["type"] = "daily"
    elif freq == "WEEKLY":
        weekdays = plain or [list(_GRAPH_DAYS)[first_day.weekday()]]
        pattern.update(type="weekly", daysOfWeek=[_GRAPH_DAYS[d] for d in weekdays])
        pattern["firstDayOfWeek"] = "monday"
    elif freq in ("MONTHLY", "YEARLY"):
        relative = bool(plain)
        yearly = freq == "YEARLY"
        if relative:
            pattern.update(
                type="relativeYearly" if yearly else "relativeMonthly",
                daysOfWeek=[_GRAPH_DAYS[d] for d in plain],
                index=_GRAPH_INDEX.get(ordinal or 1, "first"),
            )
        else:
            day = int(rule.get("BYMONTHDAY", [first_day.day])[0])
            pattern.update(type="absoluteYearly" if yearly else "absoluteMonthly", dayOfMonth=day)
        if yearly:
            pattern["month"] = int(str(rule.get("BYMONTH", [first_day.month])[0]))
    else:
        raise ValueError(f"Graph cannot express FREQ={freq}")
    rng: dict[str, Any] = {
        "startDate": first_day.isoformat(),
        "recurrenceTimeZone": start.time_zone,
    }
    if rule.get("COUNT"):
        rng.update(type="numbered", numberOfOccurrences=int(rule["COUNT"][0]))
    elif rule.get("UNTIL"):
        until = rule["UNTIL"][0]
        end_date = until.date() if isinstance(until, datetime) else until
        rng.update(type="endDate", endDate=end_date.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def _local_start(when: When) -> datetime:
    assert when.at is not None
    return when.at.astimezone(ZoneInfo(_zone(when.time_zone)))


# events -------------------------------------------------------------------------------------
def event_from_graph(item: dict[str, Any]) -> Event:
    all_day = bool(item.get("isAllDay"))
    zone = _zone(item.get("originalStartTimeZone"))
    if all_day:
        start = When(day=datetime.fromisoformat(str(item["start"]["dateTime"])).date())
        end = When(day=datetime.fromisoformat(str(item["end"]["dateTime"])).date())
    else:
        start = When(at=_parse(item["start"]), time_zone=zone)
        end = When(at=_parse(item["end"]), time_zone=zone)
    attendees = []
    for a in item.get("attendees") or []:
        address = (a.get("emailAddress") or {}).get("address")
        if not address:
            continue
        attendees.append(
            Attendee(
                email=str(address).lower(),
                name=str((a.get("emailAddress") or {}).get("name") or ""),
                optional=a.get("type") == "optional",
                resource=a.get("type") == "resource",
                response=_RESPONSES.get(
                    (a.get("status") or {}).get("response", ""), AttendeeResponse.NEEDS_ACTION
                ),
            )
        )
    recurrence = (rrule_from_pattern(item["recurrence"]),) if item.get("recurrence") else ()
    organizer = ((item.get("organizer") or {}).get("emailAddress") or {}).get("address")
    meeting = (item.get("onlineMeeting") or {}).get("joinUrl") or item.get("onlineMeetingUrl")
    return Event(
        summary=str(item.get("subject") or ""),
        start=start,
        end=end,
        description=str((item.get("body") or {}).get("content") or ""),
        location=str((item.get("location") or {}).get("displayName") or ""),
        organizer=str(organizer).lower() if organizer else None,
        attendees=tuple(attendees),
        recurrence=recurrence,
        online_meeting_url=str(meeting) if meeting else None,
        uid=item.get("iCalUId"),
        status=EventStatus.CANCELLED if item.get("isCancelled") else EventStatus.CONFIRMED,
        series_id=item.get("seriesMasterId"),
    )


def stored_from_graph(item: dict[str, Any], owner: str = "me") -> StoredEvent:
    return StoredEvent(
        ItemRef(f"{owner}/events/{item['id']}", str(item.get("@odata.etag", ""))),
        event_from_graph(item),
    )


def _wire(when: When) -> dict[str, str]:
    if when.day is not None:
        return {"dateTime": datetime.combine(when.day, time()).isoformat(), "timeZone": "UTC"}
    zone = _zone(when.time_zone)
    wall = _local_start(When(at=when.at, time_zone=zone)).replace(tzinfo=None)
    return {"dateTime": wall.isoformat(), "timeZone": zone}


def event_to_graph(event: Event) -> dict[str, Any]:
    """The writable fields as a create body or a full PATCH (the organizer and online
    meeting are Graph's to set)."""
    rrules = [line for line in event.recurrence if line.upper().startswith("RRULE")]
    return {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        "start": _wire(event.start),
        "end": _wire(event.end),
        "isAllDay": event.start.all_day,
        "location": {"displayName": event.location},
        "attendees": [
            {
                "emailAddress": {"address": a.email, **({"name": a.name} if a.name else {})},
                "type": "resource" if a.resource else ("optional" if a.optional else "required"),
            }
            for a in event.attendees
        ],
        "recurrence": pattern_from_rrule(rrules[0], event.start) if rrules else None,
    }
