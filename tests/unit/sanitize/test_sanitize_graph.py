"""Graph events through the allow-list, field by field, for apps (C5) and sync (R8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest
from dateutil.rrule import rrulestr

from calgate.sandbox.microsoft.recurrence import graph_from_rrule
from calgate.sanitize import Attendee, Platform, Profile, Recurrence, Room, sanitize_graph
from calgate.sanitize.recurrence import graph_rrule
from calgate.sanitize.tags import GRAPH_EXPAND_MEETING_PROPERTY, GRAPH_MEETING_PROPERTY_ID

from support.hostile_events import (
    FORBIDDEN,
    HTML_TEXT,
    JOIN_BASE,
    MEETING_ID,
    PLATFORM,
    assert_nothing_forbidden,
    graph_event,
)

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 W. Europe Standard Time


def test_app_profile_keeps_exactly_the_display_fields_C5() -> None:
    ev = sanitize_graph(graph_event(), platform=PLATFORM)
    assert (ev.provider, ev.id, ev.profile) == ("microsoft", "AAMkAGI2TAAA=", Profile.APP)
    assert ev.subject == "Design review"
    assert (ev.start, ev.duration, ev.all_day, ev.cancelled) == (
        START,
        timedelta(minutes=45),
        False,
        False,
    )
    assert ev.description == HTML_TEXT
    assert ev.location == "Board Room; Teams"
    assert ev.meeting_id == MEETING_ID
    assert ev.meeting_url == f"{JOIN_BASE}{MEETING_ID}"  # the platform's link before Teams'
    assert ev.attendees == (
        Attendee("Alice Anders", "accepted", optional=False, organizer=True),
        Attendee("Bob Baker", "accepted"),
        Attendee("", "tentative", optional=True),  # Graph put the address in the name
        Attendee("Carol Chen", "none"),
    )
    # The room attendee and the conferenceRoom location are the same room: listed once.
    assert ev.rooms == (Room("Board Room", platform=True),)
    assert ev.platform_room is True
    assert (ev.organizer_name, ev.organizer_id, ev.time_zone, ev.recurrence) == ("", "", "", None)
    assert_nothing_forbidden(ev, "contoso.example", "partner.example", "Contoso.example")


def test_sync_profile_keeps_exactly_the_stored_fields_R8() -> None:
    ev = sanitize_graph(graph_event(), profile=Profile.SYNC, platform=PLATFORM)
    assert ev.profile is Profile.SYNC
    assert ev.subject == "Design review"
    assert ev.description == HTML_TEXT
    assert (ev.start, ev.end) == (START, START + timedelta(minutes=45))
    assert ev.time_zone == "W. Europe Standard Time"
    assert ev.organizer_name == "Alice Anders"
    assert ev.organizer_id == "alice@contoso.example"
    assert ev.recurrence == Recurrence("", "AAMkMASTER=", START)
    assert ev.meeting_id == MEETING_ID
    assert (ev.attendees, ev.rooms, ev.location, ev.meeting_url) == ((), (), "", "")
    assert_nothing_forbidden(ev, "Bob Baker", "Carol Chen", "Board Room", "teams.microsoft")


def test_teams_link_without_platform_and_text_body_C5() -> None:
    raw = graph_event(
        body={"contentType": "text", "content": "Bring <your> ideas & snacks"},
        singleValueExtendedProperties=[],
    )
    ev = sanitize_graph(raw)
    assert ev.meeting_id == ""
    assert ev.meeting_url == "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc"
    assert ev.description == "Bring <your> ideas & snacks"  # text stays text
    assert ev.platform_room is False
    assert ev.rooms == (Room("Board Room", platform=False),)


def test_legacy_online_meeting_url_C5() -> None:
    raw = graph_event(onlineMeeting=None, onlineMeetingUrl="https://meet.lync.example/x/1",
                      singleValueExtendedProperties=[], body={"content": ""})  # fmt: skip
    assert sanitize_graph(raw).meeting_url == "https://meet.lync.example/x/1"


def test_utc_all_day_and_cancelled_C5() -> None:
    raw = graph_event(
        start={"dateTime": "2026-11-25T00:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-11-26T00:00:00.0000000", "timeZone": "UTC"},
        isAllDay=True,
        isCancelled=True,
    )
    ev = sanitize_graph(raw)
    assert (ev.start, ev.duration, ev.all_day, ev.cancelled) == (
        datetime(2026, 11, 25, tzinfo=UTC),
        timedelta(days=1),
        True,
        True,
    )


def test_removed_delta_items_are_refused_R8() -> None:
    from calgate.sanitize import UnusableEvent

    with pytest.raises(UnusableEvent, match="removed"):
        sanitize_graph({"id": "x", "@removed": {"reason": "deleted"}}, profile=Profile.SYNC)


def test_wrong_types_count_as_absent_C5() -> None:
    raw = graph_event(
        subject=None, body="html", location=[], locations={}, attendees={"a": 1},
        organizer=[], onlineMeeting="x", singleValueExtendedProperties="x",
    )  # fmt: skip
    ev = sanitize_graph(raw, platform=PLATFORM)
    assert (ev.subject, ev.description, ev.location, ev.meeting_url) == ("", "", "", "")
    assert (ev.attendees, ev.rooms, ev.platform_room) == ((), (), False)
    assert_nothing_forbidden(ev)


def test_property_names_agree_with_the_sandbox() -> None:
    from calgate.sandbox.microsoft.mapping import property_id

    assert property_id("calgateMeetingId") == GRAPH_MEETING_PROPERTY_ID
    assert GRAPH_MEETING_PROPERTY_ID in GRAPH_EXPAND_MEETING_PROPERTY


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;COUNT=5",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20270301",
        "FREQ=MONTHLY;BYMONTHDAY=15;COUNT=12",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1",
    ],
)
def test_graph_recurrence_round_trips_to_the_same_dates_R8(rule: str) -> None:
    """The sandbox turns an RRULE into Graph's pattern the way Outlook stores it; our
    RRULE from that pattern must produce the same occurrences."""
    start = datetime(2026, 12, 1, 10, 0)
    pattern = graph_from_rrule(rule, start, "UTC")
    ours = graph_rrule(pattern)
    assert ours.startswith("RRULE:FREQ=")
    want = list(islice(rrulestr(rule, dtstart=start), 30))
    got = list(islice(rrulestr(ours.removeprefix("RRULE:"), dtstart=start), 30))
    assert got == want


def test_master_recurrence_is_kept_for_sync_R8() -> None:
    raw = graph_event(
        type="seriesMaster",
        seriesMasterId=None,
        originalStart=None,
        recurrence={
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"],
                        "firstDayOfWeek": "sunday"},
            "range": {"type": "endDate", "startDate": "2026-11-24", "endDate": "2027-01-31",
                      "recurrenceTimeZone": FORBIDDEN},
        },
    )  # fmt: skip
    ev = sanitize_graph(raw, profile=Profile.SYNC)
    assert ev.recurrence == Recurrence("RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU;UNTIL=20270131")
    assert_nothing_forbidden(ev)
    assert graph_rrule({"pattern": {"type": "hourly"}}) == ""


def test_platform_room_by_email_pattern_C5() -> None:
    raw = graph_event(singleValueExtendedProperties=[])
    platform = Platform.of(room_patterns=["board-*@contoso.example"])
    assert sanitize_graph(raw, platform=platform).platform_room is True
    assert sanitize_graph(raw, platform=Platform.of(room_patterns=["vc-*"])).platform_room is False
