"""Google events through the allow-list, field by field, for apps (C5) and sync (R8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calgate.sanitize import (
    Attendee,
    Platform,
    Profile,
    Recurrence,
    Room,
    UnusableEvent,
    sanitize,
    sanitize_google,
)
from calgate.sanitize.text import MAX_DESCRIPTION

from support.hostile_events import (
    FORBIDDEN,
    HTML_TEXT,
    JOIN_BASE,
    MEETING_ID,
    PLATFORM,
    assert_nothing_forbidden,
    every_serialisation,
    google_event,
)

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_app_profile_keeps_exactly_the_display_fields_C5() -> None:
    ev = sanitize_google(google_event(), platform=PLATFORM)
    assert ev.provider == "google"
    assert ev.id == "evt0123"
    assert ev.profile is Profile.APP
    assert ev.subject == "Quarterly planning"
    assert ev.start == START
    assert ev.end == START + timedelta(minutes=90)
    assert ev.duration == timedelta(minutes=90)
    assert ev.all_day is False
    assert ev.cancelled is False
    assert ev.description == HTML_TEXT
    assert ev.location == "Boardroom, HQ"
    assert ev.meeting_id == MEETING_ID
    assert ev.meeting_url == f"{JOIN_BASE}{MEETING_ID}"
    assert ev.attendees == (
        Attendee("Olivia Organizer", "accepted", optional=False, organizer=True),
        Attendee("Bob Baker", "tentative"),
        Attendee("", "none", optional=True),  # no display name: the address is not shown
        Attendee("", "declined"),  # a "name" that is an address is dropped too
    )
    assert ev.rooms == (Room("VC Atlas", platform=True), Room("Room", platform=False))
    assert ev.platform_room is True
    # R8-only fields stay empty in the app profile.
    assert (ev.organizer_name, ev.organizer_id, ev.time_zone, ev.recurrence) == ("", "", "", None)
    assert_nothing_forbidden(ev, "olivia@example.com", "Olivia@Example.com")


def test_app_profile_serialises_only_its_fields_C5() -> None:
    ev = sanitize_google(google_event(), platform=PLATFORM)
    assert set(ev.to_dict()) == {
        "provider", "id", "profile", "start", "end", "all_day", "cancelled", "meeting_id",
        "subject", "description", "attendees", "rooms", "location", "meeting_url",
        "platform_room",
    }  # fmt: skip
    assert ev.to_dict()["attendees"][0] == {
        "name": "Olivia Organizer",
        "response": "accepted",
        "optional": False,
        "organizer": True,
    }


def test_sync_profile_keeps_exactly_the_stored_fields_R8() -> None:
    ev = sanitize_google(google_event(), profile=Profile.SYNC, platform=PLATFORM)
    assert ev.profile is Profile.SYNC
    assert ev.subject == "Quarterly planning"  # the topic
    assert ev.description == HTML_TEXT
    assert (ev.start, ev.end, ev.all_day) == (START, START + timedelta(minutes=90), False)
    assert ev.time_zone == "Europe/Berlin"
    assert ev.organizer_name == "Olivia Organizer"
    assert ev.organizer_id == "olivia@example.com"
    assert ev.recurrence == Recurrence("", "series0123", START)
    assert ev.meeting_id == MEETING_ID
    # Nothing of the display profile: no attendees, rooms, location or link.
    assert (ev.attendees, ev.rooms, ev.location, ev.meeting_url) == ((), (), "", "")
    assert ev.platform_room is False
    assert set(ev.to_dict()) == {
        "provider", "id", "profile", "start", "end", "all_day", "cancelled", "meeting_id",
        "subject", "description", "organizer_name", "organizer_id", "time_zone", "recurrence",
    }  # fmt: skip
    assert_nothing_forbidden(ev, "Bob Baker", "VC Atlas", "Boardroom", "meet.google.com")


def test_sync_profile_keeps_series_rules_only_R8() -> None:
    master = google_event(
        recurrence=[
            "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10",
            "EXDATE;TZID=Europe/Berlin:20261201T100000",
            f"X-{FORBIDDEN}:1",
            42,
        ]
    )
    del master["recurringEventId"], master["originalStartTime"]
    ev = sanitize_google(master, profile=Profile.SYNC)
    assert ev.recurrence == Recurrence(
        "RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=10\nEXDATE;TZID=Europe/Berlin:20261201T100000", "", None
    )
    assert_nothing_forbidden(ev)
    single = google_event()
    del single["recurringEventId"], single["originalStartTime"]
    assert sanitize_google(single, profile=Profile.SYNC).recurrence is None


def test_repr_shows_ids_not_content_C5() -> None:
    ev = sanitize_google(google_event(), platform=PLATFORM)
    text = repr(ev)
    assert "evt0123" in text
    for content in ("Quarterly", "Agenda", "Bob Baker", "Boardroom", "VC Atlas", "meet."):
        assert content not in text


def test_all_day_event_C5() -> None:
    ev = sanitize_google(
        google_event(start={"date": "2026-11-25"}, end={"date": "2026-11-27"}, description="")
    )
    assert ev.all_day is True
    assert ev.start == datetime(2026, 11, 25, tzinfo=UTC)
    assert ev.duration == timedelta(days=2)
    assert ev.description == ""


def test_provider_conferencing_link_without_platform_C5() -> None:
    raw = google_event()
    raw["extendedProperties"] = {}
    raw["description"] = "Plain text & no link"
    ev = sanitize_google(raw)  # no join base configured
    assert (ev.meeting_id, ev.meeting_url) == ("", "https://meet.google.com/abc-defg-hij")
    assert ev.description == "Plain text & no link"
    assert ev.platform_room is False
    del raw["conferenceData"]
    assert sanitize_google(raw).meeting_url == "https://meet.google.com/abc-defg-hij"  # hangoutLink


def test_platform_link_in_location_and_tag_only_C5() -> None:
    raw = google_event(location=f"Online: {JOIN_BASE}98765432101", description="")
    raw["extendedProperties"] = {}
    ev = sanitize_google(raw, platform=PLATFORM)
    assert (ev.meeting_id, ev.meeting_url) == ("98765432101", f"{JOIN_BASE}98765432101")
    tagged = google_event(
        description="", extendedProperties={"private": {"calgateMeetingId": "555666777"}}
    )
    ev = sanitize_google(tagged, platform=PLATFORM)
    assert (ev.meeting_id, ev.meeting_url) == ("555666777", f"{JOIN_BASE}555666777")


@pytest.mark.parametrize("bad_tag", ["abc", "0123456789", "1" * 12, 12345678901, None, ""])
def test_malformed_tags_are_ignored_C5(bad_tag: object) -> None:
    raw = google_event(
        description="", extendedProperties={"private": {"calgateMeetingId": bad_tag}}
    )
    ev = sanitize_google(raw, platform=PLATFORM)
    assert ev.meeting_id == ""
    assert ev.meeting_url == "https://meet.google.com/abc-defg-hij"


def test_unsafe_links_are_not_meeting_urls_C5() -> None:
    raw = google_event(
        description="",
        hangoutLink="javascript:alert(1)",
        conferenceData={
            "entryPoints": [{"entryPointType": "video", "uri": "data:text/html,<script>x</script>"}]
        },
    )
    raw["extendedProperties"] = {}
    assert sanitize_google(raw).meeting_url == ""


def test_wrong_types_count_as_absent_C5() -> None:
    raw = google_event(
        summary=123,
        description=["not", "text"],
        location={"x": 1},
        attendees="everyone",
        organizer="someone",
        conferenceData=[],
        extendedProperties="x",
        status=None,
    )
    ev = sanitize_google(raw, platform=PLATFORM)
    assert (ev.subject, ev.description, ev.location) == ("", "", "")
    assert ev.attendees == ()
    assert ev.rooms == ()
    assert ev.meeting_url == "https://meet.google.com/abc-defg-hij"
    assert_nothing_forbidden(ev)


def test_organizer_missing_from_attendees_is_added_by_name_C5() -> None:
    raw = google_event(attendees=[{"email": "x@example.com", "displayName": "Xavier"}])
    ev = sanitize_google(raw)
    assert ev.attendees == (
        Attendee("Olivia Organizer", "accepted", organizer=True),
        Attendee("Xavier", "none"),
    )
    assert_nothing_forbidden(ev, "olivia@example.com", "x@example.com")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", None, "id is missing"),
        ("start", {}, "start is missing"),
        ("end", {"dateTime": "yesterday"}, "end is not a date-time"),
        ("start", {"date": "2026-13-45"}, "start is not a date"),
        ("start", {"dateTime": "2026-11-24T10:00:00", "timeZone": f"Mars/{FORBIDDEN}"},
         "start has an unknown time zone"),
    ],
)  # fmt: skip
def test_unusable_items_name_the_field_not_the_value_C5(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(UnusableEvent) as caught:
        sanitize_google(google_event(**{field: value}))
    assert str(caught.value) == message


def test_huge_hostile_body_is_bounded_C5() -> None:
    body = ("<div>" + "word " * 200 + "</div>") * 5000 + f"<p>{FORBIDDEN}</p>"
    ev = sanitize_google(google_event(description=body))
    assert 0 < len(ev.description) <= MAX_DESCRIPTION
    assert ev.description.startswith("word word")
    assert_nothing_forbidden(ev)


def test_naive_times_use_the_given_zone_and_end_never_precedes_start_C5() -> None:
    ev = sanitize_google(
        google_event(
            start={"dateTime": "2026-11-24T10:00:00", "timeZone": "America/New_York"},
            end={"dateTime": "2026-11-24T09:00:00-05:00"},
        )
    )
    assert ev.start == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert ev.duration == timedelta(0)


def test_dispatch_by_provider_C5() -> None:
    assert sanitize("google", google_event()).provider == "google"
    with pytest.raises(ValueError, match="no sanitizer"):
        sanitize("caldav", {})


def test_platform_room_by_location_name_pattern_C5() -> None:
    platform = Platform.of(room_patterns=["vc *"])
    raw = google_event(location="VC Nimbus", attendees=[])
    assert sanitize_google(raw, platform=platform).platform_room is True
    assert sanitize_google(google_event(attendees=[]), platform=platform).platform_room is False
    assert every_serialisation(sanitize_google(raw, platform=platform))
