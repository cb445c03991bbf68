"""Graph ``patternedRecurrence`` ↔ RFC 5545 RRULE, and expansion into occurrences.

provider-protocols §2.3: pattern ``type`` ∈ daily, weekly, absoluteMonthly, relativeMonthly,
absoluteYearly, relativeYearly; range ``type`` ∈ endDate, noEnd, numbered. Expansion is done by
``dateutil.rrule`` on naive wall times in the series' zone, so DST keeps the wall time.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Literal

from dateutil import rrule
from icalendar.prop import vRecur

__all__ = ["expand", "graph_from_rrule", "validate_recurrence"]

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ICAL_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_INDEX_NAME = {v: k for k, v in _INDEX.items()}
_PATTERNS = {
    "daily",
    "weekly",
    "absoluteMonthly",
    "relativeMonthly",
    "absoluteYearly",
    "relativeYearly",
}
_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")


def _weekday(name: str) -> rrule.weekday:
    return rrule.weekdays[_DAYS.index(name.lower())]


def validate_recurrence(rec: Any) -> None:
    """``ValueError`` with a Graph-like message if ``rec`` is not a valid patternedRecurrence."""
    if not isinstance(rec, dict):
        raise ValueError("recurrence must be an object")
    pattern, rng = rec.get("pattern"), rec.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise ValueError("recurrence needs a pattern and a range")
    kind = pattern.get("type")
    if kind not in _PATTERNS:
        raise ValueError(f"unsupported recurrence pattern type {kind!r}")
    days = pattern.get("daysOfWeek") or []
    if any(str(d).lower() not in _DAYS for d in days):
        raise ValueError("daysOfWeek holds an unknown day")
    if kind in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise ValueError(f"a {kind} pattern needs daysOfWeek")
    if kind in ("absoluteMonthly", "absoluteYearly") and not pattern.get("dayOfMonth"):
        raise ValueError(f"a {kind} pattern needs dayOfMonth")
    if kind in ("absoluteYearly", "relativeYearly") and not pattern.get("month"):
        raise ValueError(f"a {kind} pattern needs month")
    if rng.get("type") not in ("endDate", "noEnd", "numbered"):
        raise ValueError("recurrence range type must be endDate, noEnd or numbered")
    if not rng.get("startDate"):
        raise ValueError("recurrence range needs startDate")
    if rng["type"] == "endDate" and not rng.get("endDate"):
        raise ValueError("an endDate range needs endDate")
    if rng["type"] == "numbered" and int(rng.get("numberOfOccurrences") or 0) < 1:
        raise ValueError("a numbered range needs numberOfOccurrences >= 1")
    _rule(rec, datetime(2000, 1, 1))  # noqa: DTZ001 - raises for anything dateutil refuses


def _rule(rec: dict[str, Any], start: datetime) -> rrule.rrule:
    pattern, rng = rec["pattern"], rec["range"]
    kind = pattern["type"]
    freq: Literal[0, 1, 2, 3, 4, 5, 6]
    kw: dict[str, Any] = {"interval": max(1, int(pattern.get("interval") or 1))}
    days = [_weekday(d) for d in pattern.get("daysOfWeek") or []]
    index = _INDEX.get(str(pattern.get("index") or "first").lower(), 1)
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kw["byweekday"] = days
        kw["wkst"] = _weekday(pattern.get("firstDayOfWeek") or "sunday")
    elif kind.endswith("Monthly"):
        freq = rrule.MONTHLY
    else:
        freq = rrule.YEARLY
        kw["bymonth"] = int(pattern["month"])
    if kind in ("absoluteMonthly", "absoluteYearly"):
        kw["bymonthday"] = int(pattern["dayOfMonth"])
    if kind.startswith("relative"):
        kw["byweekday"] = days
        kw["bysetpos"] = index
    series_start = datetime.combine(date.fromisoformat(str(rng["startDate"])), start.time())
    if rng["type"] == "numbered":
        kw["count"] = int(rng["numberOfOccurrences"])
    elif rng["type"] == "endDate":
        kw["until"] = datetime.combine(date.fromisoformat(str(rng["endDate"])), time.max)
    return rrule.rrule(freq, dtstart=series_start, **kw)


def expand(
    rec: dict[str, Any], start: datetime, after: datetime, before: datetime
) -> list[datetime]:
    """Occurrence starts (naive wall times) with ``after <= start <= before``."""
    return list(_rule(rec, start).between(after, before, inc=True))


def graph_from_rrule(value: str, start: datetime | date, time_zone: str) -> dict[str, Any]:
    """An RRULE value (``FREQ=WEEKLY;BYDAY=MO;COUNT=10``) as a Graph patternedRecurrence.
    ``ValueError`` for rules Outlook cannot represent (hourly, BYHOUR…)."""
    parts = vRecur.from_ical(value.removeprefix("RRULE:"))
    freq = str(parts["FREQ"][0])
    unsupported = set(parts) - {
        "FREQ",
        "INTERVAL",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "COUNT",
        "UNTIL",
        "WKST",
        "BYSETPOS",
    }
    if unsupported or freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise ValueError(f"Outlook cannot represent the rule {value!r}")
    start_day = start.date() if isinstance(start, datetime) else start
    pattern: dict[str, Any] = {"interval": int(parts.get("INTERVAL", [1])[0])}
    days: list[str] = []
    ordinal: int | None = None
    for item in parts.get("BYDAY", []):
        m = _BYDAY.match(str(item))
        if not m:
            raise ValueError(f"bad BYDAY {item!r}")
        days.append(_DAYS[_ICAL_DAYS.index(m.group(2))])
        if m.group(1):
            ordinal = int(m.group(1))
    if "BYSETPOS" in parts:
        ordinal = int(parts["BYSETPOS"][0])
    if ordinal is not None and ordinal not in _INDEX_NAME:
        raise ValueError(f"Outlook cannot represent ordinal {ordinal} in {value!r}")
    month = int(parts["BYMONTH"][0]) if "BYMONTH" in parts else start_day.month
    monthday = int(parts["BYMONTHDAY"][0]) if "BYMONTHDAY" in parts else start_day.day
    if freq == "DAILY" and days:  # "every weekday": Outlook stores a weekly pattern
        if pattern["interval"] != 1 or ordinal is not None:
            raise ValueError(f"Outlook cannot represent the rule {value!r}")
        pattern.update(type="weekly", daysOfWeek=days, firstDayOfWeek="sunday")
    elif freq == "DAILY":
        pattern["type"] = "daily"
    elif freq == "WEEKLY":
        wkst = str(parts.get("WKST", ["SU"])[0])
        pattern.update(
            type="weekly",
            daysOfWeek=days or [_DAYS[start_day.weekday()]],
            firstDayOfWeek=_DAYS[_ICAL_DAYS.index(wkst)],
        )
    elif days:
        prefix = "relativeMonthly" if freq == "MONTHLY" else "relativeYearly"
        pattern.update(type=prefix, daysOfWeek=days, index=_INDEX_NAME[ordinal or 1])
        if freq == "YEARLY":
            pattern["month"] = month
    elif freq == "MONTHLY":
        pattern.update(type="absoluteMonthly", dayOfMonth=monthday)
    else:
        pattern.update(type="absoluteYearly", dayOfMonth=monthday, month=month)
    rng: dict[str, Any] = {"startDate": start_day.isoformat(), "recurrenceTimeZone": time_zone}
    if "COUNT" in parts:
        rng.update(type="numbered", numberOfOccurrences=int(parts["COUNT"][0]))
    elif "UNTIL" in parts:
        until = parts["UNTIL"][0]
        until_day = until.date() if isinstance(until, datetime) else until
        rng.update(type="endDate", endDate=until_day.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}
