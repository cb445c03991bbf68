"""Reading provider JSON defensively: a field of the wrong type counts as absent, and
times become aware UTC datetimes."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from calgate.sanitize.model import UnusableEvent

__all__ = [
    "as_dict",
    "as_list",
    "as_str",
    "looks_like_address",
    "parse_date",
    "parse_local",
    "parse_stamp",
    "person_name",
    "safe_url",
    "zone",
]

_ADDRESS = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")
_URL = re.compile(r"https?://[^\s<>\"'\x00-\x1f]{1,2040}", re.IGNORECASE)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def looks_like_address(text: str) -> bool:
    return "@" in text and _ADDRESS.search(text) is not None


def person_name(value: object, limit: int = 256) -> str:
    """A display name, or "" when it is missing or is (or contains) an email address: Graph
    and Google put the address in the name when a person has none."""
    name = as_str(value).strip()[:limit]
    return "" if looks_like_address(name) else name


def safe_url(value: object) -> str:
    """``value`` if it is one http(s) URL (no script or data URIs, no whitespace)."""
    text = as_str(value).strip()
    m = _URL.fullmatch(text)
    return m.group(0) if m else ""


@functools.lru_cache(maxsize=512)
def zone(name: str) -> tzinfo | None:
    """An IANA or Windows zone name (Graph answers in either) → tzinfo, None if unknown."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    iana = win_tz.get(name)
    if iana:
        try:
            return ZoneInfo(iana)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def parse_local(text: str, zone_name: str, what: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is a wall time in ``zone_name``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UnusableEvent(f"{what} is not a date-time") from None
    if value.tzinfo is None:
        tz = zone(zone_name)
        if tz is None:
            raise UnusableEvent(f"{what} has an unknown time zone")
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def parse_stamp(value: object) -> datetime | None:
    """A provider's modification time (Google ``updated``, Graph ``lastModifiedDateTime``)
    as aware UTC; None when absent or unreadable (it orders changes, it is not content)."""
    text = as_str(value)
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def parse_date(text: str, what: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UnusableEvent(f"{what} is not a date") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
