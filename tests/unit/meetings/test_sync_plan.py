"""What a calendar change means for its meeting (R12): the pure decisions of bi-directional
sync, on provider wire JSON read through the sanitizer as the consumer reads it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from calgate.meetings.model import Meeting, MeetingStatus, OccurrenceOverride, Schedule
from calgate.meetings.sync.plan import Cancel, MoveOccurrence, NeedMaster, Reschedule, plan
from calgate.meetings.sync.reading import OCCURRENCE, SERIES, SINGLE, read_change
from calgate.sanitize import Platform

PLATFORM = Platform.of(join_bases=["https://meet.example/j/"])
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def meeting(rule: str | None = None, overrides: tuple[OccurrenceOverride, ...] = ()) -> Meeting:
    return Meeting(
        id=12345678901,
        account_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        topic="Design review",
        passcode="1",
        join_url="https://meet.example/j/12345678901",
        schedule=Schedule(START, "Europe/Berlin", 30, rule),
        status=MeetingStatus.SCHEDULED,
        expires_at=None,
        version=3,
        created_at=START,
        updated_at=START,
        overrides=overrides,
    )


def google(start: datetime, minutes: int = 30, **extra: Any) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "id": extra.pop("id", "ev1"),
        "etag": '"1"',
        "summary": "Design review",
        "location": "https://meet.example/j/12345678901",
        "start": {"dateTime": start.strftime(fmt), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": (start + timedelta(minutes=minutes)).strftime(fmt)},
        **extra,
    }


def seen(item: dict[str, Any]) -> Any:
    found = read_change("google", str(item["id"]), item, PLATFORM)
    assert found is not None
    return found


def test_reading_recognises_the_tag_first_then_the_link() -> None:
    tagged = google(START, extendedProperties={"private": {"calgateMeetingId": "98765432109"}})
    assert seen(tagged).meeting_id == 98765432109  # the tag wins over the link
    assert seen(google(START)).meeting_id == 12345678901
    assert seen(google(START, location="elsewhere")).meeting_id is None
    assert seen(google(START)).kind == SINGLE
    assert seen(google(START, recurrence=["RRULE:FREQ=WEEKLY"])).kind == SERIES


def test_a_cancelled_instance_with_ids_only_is_understood() -> None:
    item = {
        "id": "ev1_20261209T090000Z",
        "status": "cancelled",
        "recurringEventId": "ev1",
        "originalStartTime": {"dateTime": "2026-12-09T10:00:00+01:00"},
    }
    got = seen(item)
    assert (got.kind, got.cancelled, got.series_event_id) == (OCCURRENCE, True, "ev1")
    assert got.original_start == datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    assert plan(meeting("FREQ=WEEKLY;COUNT=4"), got, provider="google") == MoveOccurrence(
        got.original_start, None, None, True
    )


def test_a_moved_single_event_reschedules_keeping_the_zone() -> None:
    later = START + timedelta(days=45)
    action = plan(meeting(), seen(google(later, 45)), provider="google")
    assert action == Reschedule(later, 45, None, None)


def test_a_series_reschedules_with_its_rule_and_zone() -> None:
    item = google(START, recurrence=["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20261209T090000Z"])
    action = plan(meeting("FREQ=WEEKLY;COUNT=4"), seen(item), provider="google")
    assert action == Reschedule(START, 30, "Europe/Berlin", "FREQ=WEEKLY;COUNT=4")
    rdate_only = google(START, recurrence=["RDATE:20261209T090000Z"])
    assert plan(meeting("FREQ=WEEKLY;COUNT=4"), seen(rdate_only), provider="google") is None


def test_cancelled_and_all_day_events() -> None:
    assert plan(meeting(), seen(google(START, status="cancelled")), provider="google") == Cancel()
    all_day = {
        "id": "ev1",
        "location": "https://meet.example/j/12345678901",
        "start": {"date": "2026-12-02"},
        "end": {"date": "2026-12-03"},
    }
    assert plan(meeting(), seen(all_day), provider="google") is None


def occurrence(original: datetime, start: datetime, minutes: int = 30) -> dict[str, Any]:
    return google(
        start,
        minutes,
        id="ev1_x",
        recurringEventId="ev1",
        originalStartTime={"dateTime": original.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


def test_occurrences_move_restore_and_stay() -> None:
    series = meeting("FREQ=WEEKLY;COUNT=4")
    second = START + timedelta(days=7)
    moved = second + timedelta(hours=5)
    assert plan(series, seen(occurrence(second, moved)), provider="google") == MoveOccurrence(
        second, moved, None, False
    )
    assert plan(series, seen(occurrence(second, second, 60)), provider="google") == (
        MoveOccurrence(second, None, 60, False)
    )
    assert plan(series, seen(occurrence(second, second)), provider="google") is None
    overridden = meeting("FREQ=WEEKLY;COUNT=4", (OccurrenceOverride(second, start=moved),))
    assert plan(overridden, seen(occurrence(second, moved)), provider="google") is None
    # back at its original time: the override is undone
    assert plan(overridden, seen(occurrence(second, second)), provider="google") == (
        MoveOccurrence(second, None, None, False)
    )


def test_an_occurrence_outside_the_series_asks_for_the_master_on_graph_only() -> None:
    series = meeting("FREQ=WEEKLY;COUNT=4")
    stray = seen(occurrence(START + timedelta(hours=3), START + timedelta(hours=3)))
    assert plan(series, stray, provider="microsoft") == NeedMaster("ev1")
    assert plan(series, stray, provider="google") is None
    assert plan(meeting(), stray, provider="microsoft") is None  # not a series: nothing
