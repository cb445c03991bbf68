"""Expanding a series master's ``recurrence`` lines (RRULE, EXRULE, RDATE, EXDATE; no DTSTART,
provider-protocols §5.2) into instances with :mod:`dateutil.rrule`; iCalendar property
values are parsed by :mod:`icalendar`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from dateutil.rrule import rrule, rruleset, rrulestr
from icalendar.parser import Contentline
from icalendar.prop import vDDDLists

from calgate.sandbox.google.times import EventTime, zone

__all__ = ["Series", "instance_id", "series_for"]

_UNTIL = re.compile(r"UNTIL=(\d{8})(T\d{6}Z?)?")


def instance_id(master_id: str, original: EventTime) -> str:
    """``{masterId}_{YYYYMMDDTHHMMSSZ}`` (UTC), or ``{masterId}_{YYYYMMDD}`` all-day (§5.2)."""
    if isinstance(original, datetime):
        return f"{master_id}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{master_id}_{original:%Y%m%d}"


@dataclass(frozen=True)
class Series:
    rules: rruleset
    first: datetime  # aware in the series' zone, or naive midnight for all-day
    duration: timedelta
    all_day: bool
    tz: str

    def occurrences(
        self, lo: datetime | None, hi: datetime | None, *, limit: int = 5000
    ) -> Iterator[tuple[EventTime, EventTime, EventTime]]:
        """(original start, start, end) of each instance overlapping ``[lo, hi)`` (UTC
        instants; ``None`` = unbounded, but ``hi`` must bound an endless series)."""
        after = self._local(lo - self.duration) if lo is not None else None
        before = self._local(hi) if hi is not None else None
        produced = 0
        for start in self.rules.xafter(after or self.first, count=None, inc=after is None):
            if before is not None and start >= before:
                return
            if after is not None and start <= after:
                continue
            produced += 1
            if produced > limit:
                return
            end = start + self.duration
            if self.all_day:
                yield start.date(), start.date(), end.date()
            else:
                yield start, start, end

    def _local(self, instant: datetime) -> datetime:
        local = instant.astimezone(zone(self.tz))
        if self.all_day:
            return datetime.combine(local.date(), time())
        return local


def _fix_until(value: str, all_day: bool) -> str:
    """dateutil wants a UTC UNTIL with an aware start and a floating one with an all-day
    start; Google accepts either form."""

    def repl(match: re.Match[str]) -> str:
        day, clock = match.group(1), match.group(2)
        if all_day:
            return f"UNTIL={day}"
        return f"UNTIL={day}{clock if clock and clock.endswith('Z') else 'T235959Z'}"

    return _UNTIL.sub(repl, value)


def _dates(value: str, tzid: str | None, first: datetime, all_day: bool) -> list[datetime]:
    out: list[datetime] = []
    for item in vDDDLists.from_ical(value, tzid):  # type: ignore[no-untyped-call]
        if all_day:
            day = item.date() if isinstance(item, datetime) else item
            out.append(datetime.combine(day, time()))
        elif isinstance(item, datetime):
            local = item.replace(tzinfo=first.tzinfo) if item.tzinfo is None else item
            out.append(local.astimezone(first.tzinfo))
        elif isinstance(item, date):
            out.append(datetime.combine(item, first.timetz()))
    return out


@lru_cache(maxsize=8192)
def _build(lines: tuple[str, ...], first: datetime, duration: timedelta, tz: str) -> Series:
    all_day = first.tzinfo is None
    rules = rruleset()
    rules.rdate(first)  # RFC 5545: DTSTART is always the first instance
    for line in lines:
        name, params, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
        name = name.upper()
        if name in ("RRULE", "EXRULE"):
            rule = rrulestr(_fix_until(value, all_day), dtstart=first)
            assert isinstance(rule, rrule)
            (rules.rrule if name == "RRULE" else rules.exrule)(rule)
        elif name in ("RDATE", "EXDATE"):
            for when in _dates(value, params.get("TZID"), first, all_day):
                (rules.rdate if name == "RDATE" else rules.exdate)(when)
        else:
            raise ValueError(f"unsupported recurrence line {name}")
    return Series(rules, first, duration, all_day, tz)


def series_for(recurrence: list[str], start: EventTime, end: EventTime, tz: str) -> Series:
    """Raises ``ValueError`` for a rule Google would refuse ("Invalid recurrence rule")."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        first = start.astimezone(zone(tz))
        duration = end - start
    elif not isinstance(start, datetime) and not isinstance(end, datetime):
        first = datetime.combine(start, time())
        duration = timedelta(days=(end - start).days)
    else:
        raise ValueError("start and end must both be dates or both be dateTimes")
    try:
        series = _build(tuple(recurrence), first, duration, tz)
        next(iter(series.rules), None)
    except (ValueError, TypeError, AssertionError) as exc:
        raise ValueError(f"Invalid recurrence rule: {exc}") from exc
    return series
