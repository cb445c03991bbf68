"""R12: when a meeting id expires, and what the join page shows when."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calgate.meetings.model import (
    JoinState,
    Meeting,
    MeetingStatus,
    OccurrenceOverride,
    Schedule,
)
from calgate.meetings.recurrence import normalise_rule
from calgate.meetings.rules import (
    compute_expiry,
    first_start,
    join_state,
    next_occurrence,
    occurrences,
)

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 Berlin
ZONE = "Europe/Berlin"
EARLY = timedelta(minutes=15)


def series(rule: str, start: datetime = START) -> Schedule:
    return Schedule(start, ZONE, 30, normalise_rule(rule, start=start, time_zone=ZONE))


def meeting(schedule: Schedule, **kw: object) -> Meeting:
    values: dict[str, object] = {
        "id": 12345678901,
        "account_id": uuid.uuid4(),
        "owner_id": uuid.uuid4(),
        "topic": "Planning",
        "passcode": "12345678",
        "join_url": "https://meet.example/j/12345678901",
        "schedule": schedule,
        "status": MeetingStatus.SCHEDULED,
        "expires_at": compute_expiry(schedule),
        "version": 1,
        "created_at": START - timedelta(days=1),
        "updated_at": START - timedelta(days=1),
    }
    values.update(kw)
    return Meeting(**values)  # type: ignore[arg-type]


def test_a_single_meeting_expires_30_days_after_its_start_R12() -> None:
    single = Schedule(START, ZONE, 45)
    assert compute_expiry(single) == START + timedelta(days=30)


def test_moving_a_meeting_moves_its_expiry_R12() -> None:
    moved = Schedule(START + timedelta(days=45), ZONE, 45)
    assert compute_expiry(moved) == START + timedelta(days=75)


def test_a_series_without_an_end_never_expires_R12() -> None:
    assert compute_expiry(series("FREQ=WEEKLY;BYDAY=MO")) is None


def test_a_series_with_count_expires_30_days_after_its_last_occurrence_R12() -> None:
    weekly = series("FREQ=WEEKLY;BYDAY=MO;COUNT=4")  # 23 Nov, 30 Nov, 7 Dec, 14 Dec
    assert compute_expiry(weekly) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC) + timedelta(days=30)


def test_a_series_with_until_expires_30_days_after_its_last_occurrence_R12() -> None:
    # UNTIL falls on a Wednesday: the last occurrence is the Monday before it
    weekly = series("FREQ=WEEKLY;BYDAY=MO;UNTIL=20261216")
    assert compute_expiry(weekly) == datetime(2026, 12, 14, 9, 0, tzinfo=UTC) + timedelta(days=30)


def test_a_moved_last_occurrence_moves_the_expiry_and_cancelled_ones_do_not_count_R12() -> None:
    weekly = series("FREQ=WEEKLY;BYDAY=MO;COUNT=4")
    last = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
    later = last + timedelta(days=45)
    moved = OccurrenceOverride(last, start=later)
    assert compute_expiry(weekly, [moved]) == later + timedelta(days=30)
    cancelled = OccurrenceOverride(last, cancelled=True)
    third = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert compute_expiry(weekly, [cancelled]) == third + timedelta(days=30)
    everything = [
        OccurrenceOverride(o.original_start, cancelled=True)
        for o in occurrences(weekly, until=later)
    ]
    assert compute_expiry(weekly, everything) == last + timedelta(days=30)


def test_expiry_keeps_the_wall_time_across_daylight_saving() -> None:
    # Monday 10:00 Berlin in March (CET) → the 4th occurrence is in CEST (08:00 UTC)
    start = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
    weekly = series("FREQ=WEEKLY;BYDAY=MO;COUNT=4", start)
    assert compute_expiry(weekly) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC) + timedelta(days=30)


def test_occurrence_overrides_change_what_occurs() -> None:
    weekly = series("FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    second = START + timedelta(days=7)
    overrides = [
        OccurrenceOverride(START, cancelled=True),
        OccurrenceOverride(second, start=second + timedelta(hours=2), duration_minutes=60),
        OccurrenceOverride(datetime(2030, 1, 1, tzinfo=UTC), cancelled=True),  # not in series
    ]
    found = list(occurrences(weekly, overrides, until=START + timedelta(days=30)))
    assert [(o.start, o.end - o.start) for o in found] == [
        (second + timedelta(hours=2), timedelta(minutes=60)),
        (START + timedelta(days=14), timedelta(minutes=30)),
    ]
    assert first_start(weekly, overrides) == second + timedelta(hours=2)


@pytest.mark.parametrize(
    ("offset", "state"),
    [
        (-timedelta(days=2), JoinState.UPCOMING),
        (-EARLY - timedelta(seconds=1), JoinState.UPCOMING),
        (-EARLY, JoinState.VALID),
        (timedelta(0), JoinState.VALID),
        (timedelta(days=29, hours=23), JoinState.VALID),
        (timedelta(days=30), JoinState.EXPIRED),
        (timedelta(days=400), JoinState.EXPIRED),
    ],
)
def test_join_state_of_a_single_meeting_over_time_R12(offset: timedelta, state: JoinState) -> None:
    single = meeting(Schedule(START, ZONE, 30))
    assert join_state(single, START + offset, join_early=EARLY) is state


def test_cancelled_wins_over_everything() -> None:
    cancelled = meeting(Schedule(START, ZONE, 30), status=MeetingStatus.CANCELLED)
    for when in (START - timedelta(days=1), START, START + timedelta(days=60)):
        assert join_state(cancelled, when, join_early=EARLY) is JoinState.CANCELLED


def test_an_endless_series_stays_valid_and_shows_its_next_occurrence_R12() -> None:
    weekly = meeting(series("FREQ=WEEKLY;BYDAY=MO"))
    much_later = START + timedelta(days=400, hours=3)
    assert join_state(weekly, much_later, join_early=EARLY) is JoinState.VALID
    upcoming = next_occurrence(weekly.schedule, (), much_later)
    assert upcoming is not None
    assert upcoming.start > much_later
    assert upcoming.start.weekday() == 0
    assert upcoming.start - much_later < timedelta(days=7)


def test_next_occurrence_of_a_finished_series_is_none() -> None:
    weekly = series("FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert next_occurrence(weekly, (), START + timedelta(days=10)) is None
    single = Schedule(START, ZONE, 30)
    assert next_occurrence(single, (), START + timedelta(minutes=10)) is not None
    assert next_occurrence(single, (), START + timedelta(minutes=31)) is None


def test_a_meeting_rescheduled_into_the_future_is_valid_again_R12() -> None:
    single = meeting(Schedule(START, ZONE, 30))
    now = START + timedelta(days=31)
    assert join_state(single, now, join_early=EARLY) is JoinState.EXPIRED
    moved_schedule = Schedule(START + timedelta(days=45), ZONE, 30)
    moved = replace(single, schedule=moved_schedule, expires_at=compute_expiry(moved_schedule))
    assert join_state(moved, now, join_early=EARLY) is JoinState.UPCOMING
    assert join_state(moved, START + timedelta(days=45), join_early=EARLY) is JoinState.VALID
