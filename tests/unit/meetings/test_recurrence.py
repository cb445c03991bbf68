"""RRULE validation and bounded expansion for meeting series."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from calgate.errors import InvalidInput
from calgate.meetings.recurrence import expand, is_bounded, normalise_rule

BERLIN = "Europe/Berlin"
START = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Berlin (CET)


def norm(rule: str, start: datetime = START, zone: str = BERLIN) -> str:
    return normalise_rule(rule, start=start, time_zone=zone)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=10", "FREQ=WEEKLY;BYDAY=MO;COUNT=10"),
        ("RRULE:freq=weekly;byday=mo;count=10", "FREQ=WEEKLY;BYDAY=MO;COUNT=10"),
        ("COUNT=3;FREQ=DAILY;", "FREQ=DAILY;COUNT=3"),
        ("FREQ=MONTHLY;BYDAY=2TU", "FREQ=MONTHLY;BYDAY=2TU"),
        # UNTIL as a date: the end of that day in the meeting's zone, stored in UTC
        ("FREQ=WEEKLY;UNTIL=20260601", "FREQ=WEEKLY;UNTIL=20260601T215959Z"),
        ("FREQ=WEEKLY;UNTIL=20260601T100000", "FREQ=WEEKLY;UNTIL=20260601T080000Z"),
        ("FREQ=WEEKLY;UNTIL=20260601T100000Z", "FREQ=WEEKLY;UNTIL=20260601T100000Z"),
    ],
)
def test_rules_are_normalised(given: str, stored: str) -> None:
    assert norm(given) == stored


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ("", "one RRULE"),
        ("every monday", "NAME=VALUE"),
        ("FREQ=HOURLY;COUNT=3", "FREQ must be"),
        ("FREQ=SECONDLY", "FREQ must be"),
        ("BYDAY=MO", "FREQ must be"),
        ("FREQ=WEEKLY;FREQ=DAILY", "twice"),
        ("FREQ=DAILY;BYHOUR=9,17", "time of day"),
        ("FREQ=DAILY;X-NAME=1", "not a supported"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "not both"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be"),
        ("FREQ=DAILY;COUNT=50000", "COUNT must be"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be"),
        ("FREQ=DAILY;UNTIL=20250101", "before the start"),
        ("FREQ=DAILY;UNTIL=21000101", "50 years"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL must be"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a valid rule"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no occurrence"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=20", "50 years"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "not supported with FREQ=DAILY"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "not supported with FREQ=WEEKLY"),
        ("FREQ=MONTHLY;BYMONTH=2", "not supported with FREQ=MONTHLY"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "INTERVAL=1"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY", "one RRULE"),
    ],
)
def test_nonsense_is_refused_naming_the_field(rule: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle) as err:
        norm(rule)
    assert err.value.field == "recurrence_rule"


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2;UNTIL=20261231",
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
        "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2",
        "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",  # leap days: every four years
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
    ],
)
def test_what_calendars_send_is_accepted(rule: str) -> None:
    assert norm(rule).startswith("FREQ=")


def test_expansion_keeps_the_wall_time_across_daylight_saving() -> None:
    rule = norm("FREQ=WEEKLY;BYDAY=MO;COUNT=3")  # 23 Mar (CET), 30 Mar and 6 Apr (CEST)
    starts = list(expand(rule, start=START, time_zone=BERLIN))
    assert [s.astimezone(ZoneInfo(BERLIN)).hour for s in starts] == [10, 10, 10]
    assert [s.hour for s in starts] == [9, 8, 8]


def test_expansion_stops_at_count_until_and_the_given_bound() -> None:
    assert len(list(expand(norm("FREQ=DAILY;COUNT=5"), start=START, time_zone=BERLIN))) == 5
    until = norm("FREQ=DAILY;UNTIL=20260325")
    assert len(list(expand(until, start=START, time_zone=BERLIN))) == 3
    endless = norm("FREQ=DAILY")
    bounded = list(
        expand(endless, start=START, time_zone=BERLIN, until=datetime(2026, 4, 1, tzinfo=UTC))
    )
    assert len(bounded) == 9
    assert is_bounded(until)
    assert not is_bounded(endless)
