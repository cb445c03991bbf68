"""The invitation text a scheduling tool places in the event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from calgate.meetings.invitation import describe_time, invitation_text
from calgate.meetings.model import Meeting, MeetingStatus, Schedule

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def meeting(schedule: Schedule) -> Meeting:
    return Meeting(
        id=98765432109,
        account_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        topic="Quarterly planning",
        passcode="04719385",
        join_url="https://meet.example.com/j/98765432109",
        schedule=schedule,
        status=MeetingStatus.SCHEDULED,
        expires_at=START + timedelta(days=30),
        version=1,
        created_at=START,
        updated_at=START,
    )


def test_time_is_shown_in_the_zone_it_was_scheduled_in() -> None:
    assert describe_time(Schedule(START, "Europe/Berlin", 30)) == (
        "Mon 23 Nov 2026, 10:00–10:30 (Europe/Berlin)"
    )
    assert describe_time(Schedule(START, "America/New_York", 90)) == (
        "Mon 23 Nov 2026, 04:00–05:30 (America/New_York)"
    )
    overnight = Schedule(datetime(2026, 11, 23, 22, 0, tzinfo=UTC), "Europe/Berlin", 120)
    assert describe_time(overnight) == (
        "Mon 23 Nov 2026, 23:00 – Tue 24 Nov 2026, 01:00 (Europe/Berlin)"
    )


def test_invitation_has_everything_needed_to_join() -> None:
    text = invitation_text(meeting(Schedule(START, "Europe/Berlin", 30)))
    assert "Topic: Quarterly planning" in text
    assert "Time: Mon 23 Nov 2026, 10:00–10:30 (Europe/Berlin)" in text
    assert "https://meet.example.com/j/98765432109" in text
    assert "Meeting ID: 987 6543 2109" in text
    assert "Passcode: 04719385" in text
    assert "room system" not in text
    assert "Recurring" not in text


def test_invitation_of_a_series_and_with_a_dial_string() -> None:
    weekly = Schedule(START, "Europe/Berlin", 30, "FREQ=WEEKLY;BYDAY=MO;COUNT=10")
    text = invitation_text(meeting(weekly), sip_domain="sip.meet.example.com")
    assert "Recurring meeting (FREQ=WEEKLY;BYDAY=MO;COUNT=10)" in text
    assert "Join from a video room system: 98765432109@sip.meet.example.com" in text
