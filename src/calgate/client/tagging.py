"""Writing the meeting's calendar event, tagged as calgate's (issue #7).

After ``POST /v1/meetings`` the app writes (or updates) the calendar event itself, straight
at the provider with its vended token — calgate never writes users' calendars for them —
so that bi-directional sync recognises the event:

- by **tag** first: Google ``extendedProperties.private.calgateMeetingId``, Graph the
  single-value extended property :data:`~calgate.sanitize.tags.GRAPH_MEETING_PROPERTY_ID`;
- by **join link** second: the meeting's join URL in the location and the invitation text
  (which carries the link) in the description/body.

Only when the vended permissions allow writing (the account's policy, R7): with read-only
access the app refuses before anything is scheduled. Nothing is stored; the event's
content goes to the provider only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from calgate.client.errors import ProviderBusy, ProviderError, ProviderUnauthorized
from calgate.client.service import VendedConnection
from calgate.connectors.microsoft.mapping import pattern_from_rrule
from calgate.domain.calendar import When
from calgate.sanitize.tags import GOOGLE_MEETING_PROPERTY, GRAPH_MEETING_PROPERTY_ID

__all__ = ["R11_FIELDS", "ScheduledMeeting", "event_body", "write_event"]

log = logging.getLogger(__name__)

R11_FIELDS = (
    "subject",
    "start_date",
    "start_time",
    "time_zone",
    "duration_minutes",
    "recurring",
    "recurrence_rule",
)
"""What a scheduling tool may submit (R11); calgate refuses anything else."""


@dataclass(frozen=True, slots=True)
class ScheduledMeeting:
    """A meeting as calgate scheduled it, and where its event was written."""

    id: int
    join_url: str
    passcode: str = field(repr=False)
    invitation: str = field(repr=False)
    version: int
    event_id: str | None = None
    connection_id: str | None = None
    provider: str | None = None

    @classmethod
    def of(cls, body: Mapping[str, Any], **where: Any) -> ScheduledMeeting:
        return cls(
            id=int(body["id"]),
            join_url=str(body["join_url"]),
            passcode=str(body["passcode"]),
            invitation=str(body["invitation"]),
            version=int(body.get("version", 1)),
            **where,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "join_url": self.join_url,
            "passcode": self.passcode,
            "invitation": self.invitation,
            "event_id": self.event_id,
            "connection_id": self.connection_id,
            "provider": self.provider,
        }


def _local(meeting: Mapping[str, Any]) -> tuple[datetime, datetime, str]:
    zone = str(meeting["time_zone"])
    start = datetime.combine(
        date.fromisoformat(str(meeting["start_date"])),
        time.fromisoformat(str(meeting["start_time"])),
    )
    return start, start + timedelta(minutes=int(meeting["duration_minutes"])), zone


def event_body(provider: str, meeting: Mapping[str, Any]) -> dict[str, Any]:
    """The event for ``meeting`` (calgate's answer to ``POST /v1/meetings``) in the
    provider's wire format: times in the meeting's zone, its series, the tag, the join link
    in the location and the invitation in the body."""
    start, end, zone = _local(meeting)
    rule = meeting.get("recurrence_rule") if meeting.get("recurring") else None
    tag = str(meeting["id"])
    if provider == "google":
        body: dict[str, Any] = {
            "summary": meeting["subject"],
            "start": {"dateTime": start.isoformat(), "timeZone": zone},
            "end": {"dateTime": end.isoformat(), "timeZone": zone},
            "location": meeting["join_url"],
            "description": meeting["invitation"],
            "extendedProperties": {"private": {GOOGLE_MEETING_PROPERTY: tag}},
        }
        if rule:
            body["recurrence"] = [f"RRULE:{rule}"]
        return body
    if provider == "microsoft":
        body = {
            "subject": meeting["subject"],
            "start": {"dateTime": start.isoformat(), "timeZone": zone},
            "end": {"dateTime": end.isoformat(), "timeZone": zone},
            "location": {"displayName": meeting["join_url"]},
            "body": {"contentType": "text", "content": meeting["invitation"]},
            "singleValueExtendedProperties": [{"id": GRAPH_MEETING_PROPERTY_ID, "value": tag}],
        }
        if rule:
            aware = start.replace(tzinfo=ZoneInfo(zone))
            body["recurrence"] = pattern_from_rrule(f"RRULE:{rule}", When(at=aware, time_zone=zone))
        return body
    raise ProviderError(f"writing events to {provider} is not supported by this client")


async def write_event(
    http: httpx.AsyncClient,
    conn: VendedConnection,
    meeting: Mapping[str, Any],
    *,
    event_id: str | None = None,
) -> str:
    """Create the meeting's event in the connection's primary calendar (or, with
    ``event_id``, add the tag, link and invitation to that event); returns the event id."""
    body = event_body(conn.provider, meeting)
    base = conn.api_base_url.rstrip("/")
    url = f"{base}/calendars/primary/events" if conn.provider == "google" else f"{base}/me/events"
    if event_id is not None:  # tag it; its times and series stay as the user set them
        url = f"{url}/{quote(event_id, safe='')}"
        body = {k: v for k, v in body.items() if k not in ("start", "end", "recurrence")}
    headers = {"Authorization": f"Bearer {conn.access_token}", "Accept": "application/json"}
    try:
        r = await http.request(
            "POST" if event_id is None else "PATCH", url, json=body, headers=headers
        )
    except httpx.TransportError as exc:
        raise ProviderBusy(f"{conn.provider} unreachable ({type(exc).__name__})") from None
    if r.status_code in (200, 201):
        try:
            written = r.json()
        except ValueError:
            written = None
        if isinstance(written, dict) and isinstance(written.get("id"), str):
            log.info("meeting %s written to connection %s", meeting["id"], conn.id)
            return str(written["id"])
        raise ProviderError(f"{conn.provider} answered the event write without an id")
    detail = f"{conn.provider} answered {r.status_code} to the event write"
    if r.status_code == 401:
        raise ProviderUnauthorized(detail)
    if r.status_code in (429, 503, 504):
        raise ProviderBusy(detail)
    raise ProviderError(detail)
