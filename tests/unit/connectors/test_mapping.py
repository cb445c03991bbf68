"""Pure provider ↔ domain mappings: Graph recurrence patterns ↔ RRULE (both ways), event
times and attendees on both wire formats."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from icalendar import vRecur

from calgate.connectors.google.mapping import event_from_google, event_to_google
from calgate.connectors.microsoft.mapping import (
    event_from_graph,
    event_to_graph,
    pattern_from_rrule,
    rrule_from_pattern,
)
from calgate.domain.calendar import Attendee, AttendeeResponse, Event, When

START = When(at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC), time_zone="Europe/Berlin")  # a Tuesday


def same_rule(a: str, b: str) -> bool:
    def parse(line):
        return {
            k: [str(v) for v in vs] for k, vs in vRecur.from_ical(line.split(":", 1)[1]).items()
        }

    return parse(a) == parse(b)


@pytest.mark.parametrize(
    ("rule", "pattern_type"),
    [
        ("RRULE:FREQ=DAILY;INTERVAL=2;COUNT=10", "daily"),
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270101", "weekly"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=24", "absoluteMonthly"),
        ("RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=6", "relativeMonthly"),
        ("RRULE:FREQ=YEARLY;BYMONTH=11;BYMONTHDAY=24", "absoluteYearly"),
        ("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2TU", "relativeYearly"),
    ],
)
def test_rrules_round_trip_through_graph_patterns(rule: str, pattern_type: str) -> None:
    recurrence = pattern_from_rrule(rule, START)
    assert recurrence["pattern"]["type"] == pattern_type
    assert recurrence["range"]["startDate"] == "2026-11-24"  # the start's local date
    assert recurrence["range"]["recurrenceTimeZone"] == "Europe/Berlin"
    assert same_rule(rrule_from_pattern(recurrence), rule)


def test_a_weekly_rule_without_days_repeats_on_the_start_day() -> None:
    recurrence = pattern_from_rrule("RRULE:FREQ=WEEKLY;COUNT=3", START)
    assert recurrence["pattern"]["daysOfWeek"] == ["tuesday"]
    assert recurrence["range"] == {
        "startDate": "2026-11-24", "recurrenceTimeZone": "Europe/Berlin",
        "type": "numbered", "numberOfOccurrences": 3,
    }  # fmt: skip


def test_graph_cannot_express_hourly_rules() -> None:
    with pytest.raises(ValueError, match="HOURLY"):
        pattern_from_rrule("RRULE:FREQ=HOURLY", START)


EVENT = Event(
    summary="Review",
    start=START,
    end=When(at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC), time_zone="Europe/Berlin"),
    description="Agenda",
    location="Room 1",
    attendees=(Attendee("bob@example.com", "Bob", optional=True),),
    recurrence=("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4",),
)


def test_google_events_map_both_ways() -> None:
    body = event_to_google(EVENT)
    assert body["start"] == {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    back = event_from_google({**body, "id": "x", "organizer": {"email": "Alice@Example.com"}})
    assert (back.summary, back.start, back.end, back.recurrence) == (
        EVENT.summary, EVENT.start, EVENT.end, EVENT.recurrence,
    )  # fmt: skip
    assert back.organizer == "alice@example.com"
    assert back.attendees == (Attendee("bob@example.com", "Bob", optional=True),)


def test_graph_events_map_both_ways() -> None:
    body = event_to_graph(EVENT)
    assert body["start"] == {"dateTime": "2026-11-24T10:00:00", "timeZone": "Europe/Berlin"}
    assert body["attendees"][0]["type"] == "optional"
    wire = {
        **body,
        "id": "AAMk",
        "@odata.etag": 'W/"1"',
        "start": {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-24T10:00:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "Europe/Berlin",
        "attendees": [
            {**body["attendees"][0], "status": {"response": "accepted"}},
        ],
    }
    back = event_from_graph(wire)
    assert (back.start, back.end) == (EVENT.start, EVENT.end)
    assert back.attendees[0].response is AttendeeResponse.ACCEPTED
    assert same_rule(back.recurrence[0], EVENT.recurrence[0])


def test_all_day_events_on_both_wires() -> None:
    day = Event("Offsite", When(day=date(2026, 12, 1)), When(day=date(2026, 12, 2)))
    assert event_to_google(day)["start"] == {"date": "2026-12-01"}
    graph = event_to_graph(day)
    assert graph["isAllDay"] is True
    back = event_from_graph({**graph, "id": "a"})
    assert (back.start.day, back.end.day) == (date(2026, 12, 1), date(2026, 12, 2))
