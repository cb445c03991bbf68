"""Recurrence rules (RFC 5545 RRULE) for meeting series: validation and bounded expansion.

Scheduling tools send the rule of the calendar event (``FREQ=WEEKLY;BYDAY=MO;COUNT=10``,
optionally prefixed ``RRULE:``). The rule is validated and normalised once, when it is
stored; expansion happens in the meeting's own time zone (``dateutil`` keeps the wall time
across DST changes) and is always bounded, so no rule can make calgate iterate for long:

- ``FREQ`` is DAILY, WEEKLY, MONTHLY or YEARLY; the time of day comes from the start, so
  BYHOUR/BYMINUTE/BYSECOND are refused, as are COUNT together with UNTIL (RFC 5545 §3.3.10);
- the BY parts are those calendars use for each frequency: BYDAY (DAILY with INTERVAL=1,
  WEEKLY), BYDAY/BYMONTHDAY/BYSETPOS (MONTHLY), and BYMONTH/BYYEARDAY/BYWEEKNO too (YEARLY);
- COUNT is at most 5000; a series that ends (COUNT or UNTIL) ends within 50 years of its
  start; every rule has an occurrence within five years of its start;
- UNTIL may be a UTC date-time (``…Z``, as RFC 5545 requires with a zoned start), a local
  date-time or a date (the end of that day), both read in the meeting's zone; it is stored
  as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from calgate.errors import InvalidInput

__all__ = [
    "HORIZON",
    "MAX_COUNT",
    "PROBE",
    "expand",
    "is_bounded",
    "normalise_rule",
]

MAX_COUNT = 5000
HORIZON = timedelta(days=366 * 50)
PROBE = timedelta(days=366 * 5)
_MAX_LENGTH = 500
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_COMMON = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST")
# The patterns calendars produce (Outlook's daily/weekly/absolute and relative monthly and
# yearly, Google's the same). Narrower than RFC 5545 on purpose: a rule that filters a
# frequency down to nothing would make the expansion run through every period to year 9999.
_BY_PARTS = {
    "DAILY": ("BYDAY",),  # only with INTERVAL=1 ("every weekday")
    "WEEKLY": ("BYDAY",),
    "MONTHLY": ("BYDAY", "BYMONTHDAY", "BYSETPOS"),
    "YEARLY": ("BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "BYYEARDAY", "BYWEEKNO"),
}
_ALLOWED = (*_COMMON, *_BY_PARTS["YEARLY"])
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_FIELD = "recurrence_rule"


def _bad(detail: str) -> InvalidInput:
    return InvalidInput(f"recurrence_rule: {detail}", field=_FIELD)


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in rule.split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not key or not value:
            raise _bad(f"{item.strip()!r} is not NAME=VALUE")
        if key in parts:
            raise _bad(f"{key} is given twice")
        if key in _TIME_PARTS:
            raise _bad(f"{key} is not supported: the time of day comes from start_time")
        if key not in _ALLOWED:
            raise _bad(f"{key} is not a supported rule part")
        parts[key] = value
    return parts


def _int_part(parts: dict[str, str], key: str, low: int, high: int) -> None:
    if key not in parts:
        return
    value = parts[key]
    if not value.isdigit() or not low <= int(value) <= high:
        raise _bad(f"{key} must be a whole number from {low} to {high}")


def _until_utc(value: str, zone: ZoneInfo) -> datetime:
    if re.fullmatch(r"\d{8}T\d{6}Z", value):
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    try:
        if re.fullmatch(r"\d{8}T\d{6}", value):
            local = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
        elif re.fullmatch(r"\d{8}", value):
            day = datetime.strptime(value, "%Y%m%d").replace(tzinfo=zone)
            local = datetime.combine(day.date(), time(23, 59, 59), tzinfo=zone)
        else:
            raise ValueError(value)
    except ValueError:
        raise _bad("UNTIL must be a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS[Z])") from None
    return local.astimezone(UTC)


def normalise_rule(text: str, *, start: datetime, time_zone: str) -> str:
    """Validate ``text`` for a series starting at ``start`` (aware) in ``time_zone`` and
    return it normalised (upper case, no ``RRULE:`` prefix, FREQ first, UNTIL in UTC)."""
    raw = text.strip()
    if raw[:6].upper() == "RRULE:":
        raw = raw[6:]
    if not raw or len(raw) > _MAX_LENGTH or any(c in raw for c in "\r\n:"):
        raise _bad("give one RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10")
    parts = _parts(raw)
    freq = parts.get("FREQ", "")
    if freq not in _FREQS:
        raise _bad(f"FREQ must be one of {', '.join(_FREQS)}")
    for key in parts:
        if key not in _COMMON and key not in _BY_PARTS[freq]:
            raise _bad(f"{key} is not supported with FREQ={freq}")
    if freq == "DAILY" and "BYDAY" in parts and parts.get("INTERVAL", "1") != "1":
        raise _bad("FREQ=DAILY with BYDAY needs INTERVAL=1 (or use FREQ=WEEKLY)")
    if "COUNT" in parts and "UNTIL" in parts:
        raise _bad("give COUNT or UNTIL, not both")
    _int_part(parts, "COUNT", 1, MAX_COUNT)
    _int_part(parts, "INTERVAL", 1, 1000)
    zone = ZoneInfo(time_zone)
    if "UNTIL" in parts:
        until = _until_utc(parts["UNTIL"], zone)
        if until < start:
            raise _bad("UNTIL is before the start")
        if until > start + HORIZON:
            raise _bad("a series may run for at most 50 years")
        parts["UNTIL"] = until.strftime("%Y%m%dT%H%M%SZ")
    ordered = ["FREQ", *(k for k in parts if k != "FREQ")]
    normalised = ";".join(f"{key}={parts[key]}" for key in ordered)
    try:
        _rrule(normalised, start, zone)
    except (ValueError, TypeError, IndexError) as exc:
        raise _bad(f"not a valid rule ({exc})") from None
    if (
        next(expand(normalised, start=start, time_zone=time_zone, until=start + PROBE), None)
        is None
    ):
        raise _bad("the rule gives no occurrence within five years of the start")
    if "COUNT" in parts:
        seen = sum(1 for _ in expand(normalised, start=start, time_zone=time_zone))
        if seen < int(parts["COUNT"]):
            raise _bad("a series may run for at most 50 years")
    return normalised


def is_bounded(rule: str) -> bool:
    """Whether the series ends (COUNT or UNTIL)."""
    parts = _parts(rule)
    return "COUNT" in parts or "UNTIL" in parts


def _rrule(rule: str, start: datetime, zone: ZoneInfo) -> rrule:
    parsed = rrulestr(rule, dtstart=start.astimezone(zone))
    assert isinstance(parsed, rrule)
    return parsed


def expand(
    rule: str, *, start: datetime, time_zone: str, until: datetime | None = None
) -> Iterator[datetime]:
    """Original occurrence starts (aware UTC, in order) of a normalised rule, up to
    ``until`` (default: the end of the series, at most 50 years after ``start``)."""
    zone = ZoneInfo(time_zone)
    parts = _parts(rule)
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    end = start + HORIZON if until is None else until
    if "UNTIL" in parts:
        end = min(end, _until_utc(parts["UNTIL"], zone))
    if end < start:
        return
    bounded = _rrule(rule, start, zone).replace(count=None, until=end.astimezone(zone))
    for index, occurrence in enumerate(bounded):
        if count is not None and index >= count:
            return
        yield occurrence.astimezone(UTC)
