"""The rules of a meeting's life (R12): when it expires, and what its join page shows.

- A single meeting expires 30 days after its scheduled start.
- A series that ends (COUNT or UNTIL) expires 30 days after its last occurrence, counting
  occurrences that were moved (a moved last occurrence moves the expiry) and skipping
  cancelled ones; a series without an end never expires while it has future occurrences.
- Rescheduling recomputes the expiry, so a meeting moved 45 days later is valid again.
- The join page opens ``join_early`` before the first occurrence and stays open (between
  occurrences too) until the meeting expires or is cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from calgate.meetings.model import (
    EXPIRY_AFTER,
    JoinState,
    Meeting,
    MeetingStatus,
    OccurrenceOverride,
    Schedule,
)
from calgate.meetings.recurrence import HORIZON, PROBE, expand, is_bounded

__all__ = [
    "Occurrence",
    "compute_expiry",
    "first_start",
    "join_state",
    "next_occurrence",
    "occurrences",
]


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: datetime
    end: datetime
    original_start: datetime


def occurrences(
    schedule: Schedule, overrides: Iterable[OccurrenceOverride] = (), *, until: datetime
) -> Iterator[Occurrence]:
    """Effective occurrences whose *original* start is before ``until``, in original order
    (a single meeting has one); moved ones carry their new times, cancelled ones are left
    out. Overrides whose original start the rule does not produce are ignored."""
    if not schedule.recurring:
        yield Occurrence(schedule.start, schedule.end, schedule.start)
        return
    assert schedule.rule is not None
    changed = {o.original_start: o for o in overrides}
    for original in expand(
        schedule.rule, start=schedule.start, time_zone=schedule.time_zone, until=until
    ):
        override = changed.get(original)
        if override is None:
            yield Occurrence(original, original + schedule.duration, original)
            continue
        if override.cancelled:
            continue
        minutes = override.duration_minutes or schedule.duration_minutes
        start = override.effective_start
        yield Occurrence(start, start + timedelta(minutes=minutes), original)


def compute_expiry(
    schedule: Schedule, overrides: Iterable[OccurrenceOverride] = ()
) -> datetime | None:
    """When the meeting id expires (R12), or None for a series without an end."""
    if not schedule.recurring:
        return schedule.start + EXPIRY_AFTER
    assert schedule.rule is not None
    if not is_bounded(schedule.rule):
        return None
    overrides = tuple(overrides)
    starts = [o.start for o in occurrences(schedule, overrides, until=schedule.start + HORIZON)]
    if not starts:  # every occurrence cancelled: count from the last one as scheduled
        originals = list(expand(schedule.rule, start=schedule.start, time_zone=schedule.time_zone))
        starts = originals[-1:] or [schedule.start]
    return max(starts) + EXPIRY_AFTER


def first_start(schedule: Schedule, overrides: Iterable[OccurrenceOverride] = ()) -> datetime:
    """The start of the earliest occurrence (of those in the first five years)."""
    found = [o.start for o in occurrences(schedule, overrides, until=schedule.start + PROBE)]
    return min(found, default=schedule.start)


def next_occurrence(
    schedule: Schedule, overrides: Iterable[OccurrenceOverride], now: datetime
) -> Occurrence | None:
    """The occurrence in progress or next to come (within five years), if any."""
    pending = [o for o in occurrences(schedule, overrides, until=now + PROBE) if o.end > now]
    return min(pending, key=lambda o: o.start, default=None)


def join_state(meeting: Meeting, now: datetime, *, join_early: timedelta) -> JoinState:
    if meeting.status is MeetingStatus.CANCELLED:
        return JoinState.CANCELLED
    if meeting.is_expired(now):
        return JoinState.EXPIRED
    if now < first_start(meeting.schedule, meeting.overrides) - join_early:
        return JoinState.UPCOMING
    return JoinState.VALID
