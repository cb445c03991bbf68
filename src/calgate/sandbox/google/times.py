"""Times on Google's wire (provider-protocols §5.1–§5.2): RFC 3339 with offsets, ``{dateTime,
timeZone}`` or ``{date}`` for all-day events, and millisecond UTC ``updated`` stamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "EventTime",
    "format_local",
    "http_date",
    "parse_event_time",
    "parse_rfc3339",
    "stamp",
    "zone",
]

EventTime = datetime | date


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Invalid time zone definition: {name}") from exc


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp that must carry an offset (``Z`` or ``±hh:mm``)."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError("RFC 3339 timestamp without an offset")
    return parsed


def parse_event_time(value: Any, fallback_tz: str) -> EventTime:
    """``{"dateTime", "timeZone"}`` → aware datetime in the event's zone; ``{"date"}`` → date."""
    if not isinstance(value, dict):
        raise ValueError("start/end must be an object")
    if value.get("date"):
        return date.fromisoformat(str(value["date"]))
    if not value.get("dateTime"):
        raise ValueError("missing dateTime")
    tz = zone(str(value.get("timeZone") or fallback_tz))
    parsed = datetime.fromisoformat(str(value["dateTime"]))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=tz)
    return parsed.astimezone(tz)


def instant(value: EventTime, cal_tz: str) -> datetime:
    """The UTC instant an event time stands for; all-day dates start at the calendar's
    midnight."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(), zone(cal_tz)).astimezone(UTC)


def format_local(value: datetime, tz: str) -> str:
    return value.astimezone(zone(tz)).isoformat(timespec="seconds")


def stamp(value: datetime) -> str:
    """``updated``/``created``: UTC with milliseconds, e.g. ``2026-11-23T09:00:00.000Z``."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def http_date(value: datetime) -> str:
    """``Tue, 19 Nov 2013 01:13:52 GMT`` (the ``X-Goog-Channel-Expiration`` format)."""
    return format_datetime(value.astimezone(UTC).replace(microsecond=0), usegmt=True)


def wire_time(value: EventTime, tz: str | None) -> dict[str, str]:
    if isinstance(value, datetime):
        zone_name = tz or "UTC"
        out = {"dateTime": format_local(value, zone_name)}
        if tz:
            out["timeZone"] = tz
        return out
    return {"date": value.isoformat()}
