"""Time zones and date-times as Graph writes them, provider-protocols §2.2–2.3.

Graph's ``dateTimeTimeZone`` is a local wall time without offset (``2024-05-01T09:00:00.0000000``)
plus a zone name, Windows (``W. Europe Standard Time``) or IANA. The CLDR mapping between the
two comes from ``tzlocal.windows_tz`` rather than a table of our own.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import tz_win, win_tz

__all__ = [
    "format_graph_datetime",
    "parse_datetime_timezone",
    "parse_query_datetime",
    "resolve_zone",
    "windows_name",
]

_UTC_NAMES = {"utc", "etc/utc", "gmt", "etc/gmt", "z", "coordinated universal time"}


def windows_name(iana: str) -> str:
    """The Windows zone name Outlook would store for an IANA zone (``UTC`` stays ``UTC``)."""
    if iana.lower() in _UTC_NAMES:
        return "UTC"
    return tz_win.get(iana, iana)


def resolve_zone(name: str) -> ZoneInfo:
    """A zone from a Windows or IANA name; ``ValueError`` if neither."""
    if name.strip().lower() in _UTC_NAMES:
        return ZoneInfo("UTC")
    iana = win_tz.get(name, name)
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def format_graph_datetime(value: datetime | date) -> str:
    """``2024-05-01T09:00:00.0000000`` (naive wall time, seven fractional digits)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0"


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def _fromiso(text: str) -> datetime:
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip(), count=1))


def parse_datetime_timezone(value: Any) -> tuple[datetime, ZoneInfo, str]:
    """A ``dateTimeTimeZone`` object → (naive wall time, zone, the zone name as given)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError("expected {dateTime, timeZone}")
    zone_name = value.get("timeZone") or "UTC"
    if not isinstance(zone_name, str):
        raise ValueError("timeZone must be a string")
    zone = resolve_zone(zone_name)
    wall = _fromiso(value["dateTime"])
    if wall.tzinfo is not None:  # tolerate an offset: convert into the named zone
        wall = wall.astimezone(zone)
    return wall.replace(tzinfo=None), zone, zone_name


def parse_query_datetime(text: str) -> datetime:
    """``startDateTime``/``endDateTime``: an offset is honoured, none means UTC (§2.1)."""
    value = _fromiso(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
