"""The invitation text a scheduling tool puts into the calendar event (body or location).

Plain text, English, built only from what the meeting holds: the topic, the time in the
zone it was scheduled in, the join link, the meeting id (grouped for reading aloud), the
passcode and, when CALGATE_MEETING_SIP_DOMAIN is set, a dial string for video room systems.
"""

from __future__ import annotations

from datetime import datetime

from calgate.meetings.ids import format_meeting_id
from calgate.meetings.model import Meeting, Schedule

__all__ = ["describe_time", "invitation_text", "sip_uri"]


def _when(value: datetime) -> str:
    return f"{value:%a} {value.day} {value:%b %Y, %H:%M}"


def describe_time(schedule: Schedule) -> str:
    """``Mon 23 Nov 2026, 10:00–10:30 (Europe/Berlin)``, in the meeting's own zone."""
    start = schedule.local_start
    end = schedule.end.astimezone(schedule.zone)
    if end.date() == start.date():
        span = f"{_when(start)}–{end:%H:%M}"
    else:
        span = f"{_when(start)} – {_when(end)}"
    return f"{span} ({schedule.time_zone})"


def sip_uri(meeting_id: int, sip_domain: str | None) -> str | None:
    return f"{meeting_id}@{sip_domain}" if sip_domain else None


def invitation_text(meeting: Meeting, *, sip_domain: str | None = None) -> str:
    schedule = meeting.schedule
    lines = [
        "You are invited to a video meeting.",
        "",
        f"Topic: {meeting.topic}",
        f"Time: {describe_time(schedule)}",
    ]
    if schedule.recurring:
        lines.append(f"Recurring meeting ({schedule.rule}); the same link works for every time.")
    lines += [
        "",
        "Join the meeting:",
        meeting.join_url,
        "",
        f"Meeting ID: {format_meeting_id(meeting.id)}",
        f"Passcode: {meeting.passcode}",
    ]
    sip = sip_uri(meeting.id, sip_domain)
    if sip is not None:
        lines += ["", f"Join from a video room system: {sip}"]
    return "\n".join(lines) + "\n"
