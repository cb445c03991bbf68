"""Graph ``patternedRecurrence`` → RFC 5545 ``RRULE`` (provider-protocols §2.3), so that
synced events (R8) hold recurrence info in one form whatever the provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calgate.sanitize.wire import as_dict, as_list, as_str

__all__ = ["graph_rrule"]

_DAYS = {
    "monday": "MO",
    "tuesday": "TU",
    "wednesday": "WE",
    "thursday": "TH",
    "friday": "FR",
    "saturday": "SA",
    "sunday": "SU",
}
_INDEX = {"first": "1", "second": "2", "third": "3", "fourth": "4", "last": "-1"}
_FREQ = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "absoluteMonthly": "MONTHLY",
    "relativeMonthly": "MONTHLY",
    "absoluteYearly": "YEARLY",
    "relativeYearly": "YEARLY",
}


def _int(value: object, low: int, high: int) -> int | None:
    return value if isinstance(value, int) and low <= value <= high else None


def graph_rrule(recurrence: Mapping[str, Any]) -> str:
    """``RRULE:…`` for a Graph recurrence, or "" when it is not one Graph can produce."""
    pattern, rng = as_dict(recurrence.get("pattern")), as_dict(recurrence.get("range"))
    kind = as_str(pattern.get("type"))
    freq = _FREQ.get(kind)
    if freq is None:
        return ""
    parts = [f"FREQ={freq}"]
    interval = _int(pattern.get("interval"), 1, 999)
    if interval and interval > 1:
        parts.append(f"INTERVAL={interval}")
    days = [_DAYS[d] for d in as_list(pattern.get("daysOfWeek")) if d in _DAYS]
    if kind.startswith("relative"):
        index = _INDEX.get(as_str(pattern.get("index")) or "first", "1")
        if days:
            parts.append("BYDAY=" + ",".join(index + d for d in days))
    elif kind == "weekly" and days:
        parts.append("BYDAY=" + ",".join(days))
        first = _DAYS.get(as_str(pattern.get("firstDayOfWeek")))
        if first and first != "MO":
            parts.append(f"WKST={first}")
    if kind.endswith("Yearly"):
        month = _int(pattern.get("month"), 1, 12)
        if month:
            parts.append(f"BYMONTH={month}")
    if kind.startswith("absolute"):
        day = _int(pattern.get("dayOfMonth"), 1, 31)
        if day:
            parts.append(f"BYMONTHDAY={day}")
    end_kind = as_str(rng.get("type"))
    if end_kind == "endDate":
        end = as_str(rng.get("endDate")).replace("-", "")
        if len(end) == 8 and end.isdigit():
            parts.append(f"UNTIL={end}")
    elif end_kind == "numbered":
        count = _int(rng.get("numberOfOccurrences"), 1, 99_999)
        if count:
            parts.append(f"COUNT={count}")
    return "RRULE:" + ";".join(parts)
