"""What a change of the owner's calendar event means for the meeting it carries (R12).

Pure decisions, no I/O: the consumer reads the meeting, asks :func:`plan` and calls the
matching `MeetingService` method (``source=sync``, ``expected_version`` = what it read).

- a single event or a series master moved, got longer, changed its rule → *reschedule*;
- a single event or a series cancelled → *cancel* (a deletion is decided by the consumer,
  which verifies it with the provider first);
- one occurrence of a series moved, or cancelled → *that occurrence* (Google: an instance
  with ``recurringEventId`` + ``originalStartTime``; Graph: an ``exception`` with
  ``seriesMasterId`` + ``originalStart``); an occurrence back at its original time undoes an
  earlier override;
- a Graph occurrence that no longer belongs to the meeting's series means the series itself
  changed: read the master (``NeedMaster``).

All-day events are never turned into meeting times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from calgate.errors import InvalidInput
from calgate.meetings.model import Meeting, OccurrenceOverride
from calgate.meetings.recurrence import expand
from calgate.meetings.sync.reading import OCCURRENCE, SERIES, Seen
from calgate.meetings.zones import resolve_time_zone

__all__ = [
    "Action",
    "Cancel",
    "MoveOccurrence",
    "NeedMaster",
    "Reschedule",
    "duration_minutes",
    "plan",
]


@dataclass(frozen=True, slots=True)
class Reschedule:
    start: datetime
    duration_minutes: int
    time_zone: str | None
    rule: str | None


@dataclass(frozen=True, slots=True)
class Cancel:
    pass


@dataclass(frozen=True, slots=True)
class MoveOccurrence:
    original_start: datetime
    start: datetime | None
    duration_minutes: int | None
    cancelled: bool


@dataclass(frozen=True, slots=True)
class NeedMaster:
    series_event_id: str


Action = Reschedule | Cancel | MoveOccurrence | NeedMaster


def duration_minutes(start: datetime, end: datetime) -> int:
    return max(1, min(1440, round((end - start).total_seconds() / 60)))


def _rule(seen: Seen) -> str | None:
    rec = seen.event.recurrence if seen.event is not None else None
    for line in (rec.rule if rec is not None else "").splitlines():
        if line.upper().startswith("RRULE:"):
            return line[len("RRULE:") :]
    return None


def _zone(name: str) -> str | None:
    try:
        return resolve_time_zone(name) if name else None
    except InvalidInput:
        return None


def _in_series(meeting: Meeting, original: datetime) -> bool:
    schedule = meeting.schedule
    if schedule.rule is None:
        return False
    return any(
        o == original
        for o in expand(
            schedule.rule, start=schedule.start, time_zone=schedule.time_zone, until=original
        )
    )


def _occurrence(meeting: Meeting, seen: Seen, *, graph: bool) -> Action | None:
    original = seen.original_start
    if original is None or meeting.schedule.rule is None:
        return None
    if not _in_series(meeting, original):
        if graph and seen.series_event_id and not seen.cancelled:
            return NeedMaster(seen.series_event_id)
        return None
    current = {o.original_start: o for o in meeting.overrides}.get(original)
    if seen.cancelled:
        wanted = OccurrenceOverride(original, cancelled=True)
    else:
        event = seen.event
        assert event is not None
        minutes = duration_minutes(event.start, event.end)
        moved = event.start != original
        longer = minutes != meeting.schedule.duration_minutes
        wanted = OccurrenceOverride(
            original,
            start=event.start if moved else None,
            duration_minutes=minutes if longer else None,
        )
        if current is None and not moved and not longer:
            return None  # an ordinary occurrence
    if current == wanted:
        return None
    return MoveOccurrence(original, wanted.start, wanted.duration_minutes, wanted.cancelled)


def plan(meeting: Meeting, seen: Seen, *, provider: str) -> Action | None:
    """What to do to ``meeting`` (owned by the calendar's user) for ``seen``."""
    if seen.kind == OCCURRENCE:
        if seen.event is not None and seen.event.all_day:
            return None
        return _occurrence(meeting, seen, graph=provider == "microsoft")
    if seen.cancelled:
        return Cancel()
    event = seen.event
    if event is None or event.all_day:
        return None
    rule = _rule(seen) if seen.kind == SERIES else None
    if seen.kind == SERIES and rule is None:
        return None  # RDATE-only series: nothing a meeting can follow
    zone = _zone(event.time_zone) if rule is not None else None
    return Reschedule(event.start, duration_minutes(event.start, event.end), zone, rule)
