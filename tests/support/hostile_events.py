"""Provider payloads full of what the sanitizer must not keep. Every value that must be
discarded carries ``FORBIDDEN``; kept values are plain, so each test can say exactly what
comes out, field by field."""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

from calgate.sanitize import Platform, SanitizedEvent

FORBIDDEN = "xforbiddenx"
JOIN_BASE = "https://meet.calgate.example/j/"
MEETING_ID = "12345678901"
PLATFORM = Platform.of(
    join_bases=[JOIN_BASE],
    room_emails=[f"board-{FORBIDDEN}@contoso.example"],
    room_patterns=["vc-*@resource.calendar.google.com"],
)
HTML_BODY = (
    "<html><head><title>T-" + FORBIDDEN + "</title><style>p{color:red}/*" + FORBIDDEN + "*/"
    "</style></head><body><p>Agenda:<br>1. Budget</p>"
    f"<img src='data:image/png;base64,IMG{FORBIDDEN}' alt='ALT{FORBIDDEN}'>"
    f"<script>steal('{FORBIDDEN}')</script><!-- {FORBIDDEN} -->"
    f"<a href='{JOIN_BASE}{MEETING_ID}' title='{FORBIDDEN}'>Join</a></body></html>"
)
HTML_TEXT = "Agenda:\n1. Budget\nJoin"
HUGE_ATTACHMENTS = [
    {
        "fileUrl": f"https://drive.google.com/file/{i}-{FORBIDDEN}",
        "title": f"minutes-{FORBIDDEN}.pdf",
        "mimeType": "application/pdf",
        "fileId": f"{i}{FORBIDDEN}",
        "contentBytes": "QUJD" * 64 + FORBIDDEN,
    }
    for i in range(5000)
]


def google_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": '"3181161784712000"',
        "id": "evt0123",
        "status": "confirmed",
        "htmlLink": f"https://calendar.google.com/event?eid={FORBIDDEN}",
        "created": "2026-11-01T10:00:00.000Z",
        "updated": "2026-11-02T10:00:00.000Z",
        "summary": "Quarterly planning",
        "description": HTML_BODY,
        "location": "Boardroom, HQ",
        "creator": {"email": f"creator-{FORBIDDEN}@example.com", "displayName": FORBIDDEN},
        "organizer": {"email": "Olivia@Example.com", "displayName": "Olivia Organizer"},
        "start": {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-24T11:30:00+01:00", "timeZone": "Europe/Berlin"},
        "iCalUID": f"{FORBIDDEN}@google.com",
        "sequence": 2,
        "attendees": [
            {
                "email": "olivia@example.com",
                "displayName": "Olivia Organizer",
                "organizer": True,
                "responseStatus": "accepted",
            },
            {
                "email": f"bob-{FORBIDDEN}@example.com",
                "displayName": "Bob Baker",
                "responseStatus": "tentative",
                "comment": f"COMMENT {FORBIDDEN}",
                "additionalGuests": 2,
                "id": FORBIDDEN,
            },
            {
                "email": f"guest-{FORBIDDEN}@partner.example",
                "responseStatus": "needsAction",
                "optional": True,
            },
            {
                "email": f"weird-{FORBIDDEN}@x.example",
                "displayName": f"Weird <weird-{FORBIDDEN}@x.example>",
                "responseStatus": "declined",
                "self": True,
            },
            {
                "email": f"vc-atlas-{FORBIDDEN}@resource.calendar.google.com",
                "displayName": "VC Atlas",
                "resource": True,
                "responseStatus": "accepted",
            },
            {"email": f"lagoon-{FORBIDDEN}@resource.calendar.google.com", "resource": True},
        ],
        "conferenceData": {
            "conferenceId": f"abc-{FORBIDDEN}",
            "entryPoints": [
                {"entryPointType": "phone", "uri": f"tel:+1-555-{FORBIDDEN}", "pin": FORBIDDEN},
                {
                    "entryPointType": "video",
                    "uri": "https://meet.google.com/abc-defg-hij",
                    "passcode": FORBIDDEN,
                },
                {"entryPointType": "sip", "uri": f"sip:{FORBIDDEN}@meet.example"},
            ],
            "conferenceSolution": {"name": f"Meet {FORBIDDEN}", "key": {"type": "hangoutsMeet"}},
            "signature": FORBIDDEN,
            "notes": f"dial-in notes {FORBIDDEN}",
        },
        "hangoutLink": "https://meet.google.com/abc-defg-hij",
        "attachments": HUGE_ATTACHMENTS,
        "extendedProperties": {
            "private": {"calgateMeetingId": MEETING_ID, "crm": FORBIDDEN},
            "shared": {"note": FORBIDDEN},
        },
        "reminders": {"useDefault": False, "overrides": [{"method": FORBIDDEN, "minutes": 10}]},
        "source": {"title": FORBIDDEN, "url": f"https://mail.google.com/{FORBIDDEN}"},
        "gadget": {"title": FORBIDDEN},
        "eventType": "default",
        "aFieldGoogleAddsTomorrow": {"nested": [FORBIDDEN]},
        "recurringEventId": "series0123",
        "originalStartTime": {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    event.update(overrides)
    return event


def graph_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@odata.etag": f'W/"{FORBIDDEN}"',
        "id": "AAMkAGI2TAAA=",
        "changeKey": FORBIDDEN,
        "iCalUId": FORBIDDEN,
        "createdDateTime": "2026-11-01T10:00:00Z",
        "lastModifiedDateTime": "2026-11-02T10:00:00Z",
        "subject": "Design review",
        "bodyPreview": f"Agenda {FORBIDDEN}",
        "body": {"contentType": "html", "content": HTML_BODY},
        "uniqueBody": {"contentType": "html", "content": f"<p>{FORBIDDEN}</p>"},
        "start": {"dateTime": "2026-11-24T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-24T10:45:00.0000000", "timeZone": "W. Europe Standard Time"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "originalEndTimeZone": "W. Europe Standard Time",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": False,
        "location": {
            "displayName": "Board Room",
            "locationEmailAddress": f"board-{FORBIDDEN}@contoso.example",
            "locationType": "conferenceRoom",
            "uniqueId": FORBIDDEN,
            "address": {"street": f"1 {FORBIDDEN} Way", "city": FORBIDDEN},
            "coordinates": {"latitude": 52.5, "longitude": 13.4},
        },
        "locations": [
            {
                "displayName": "Board Room",
                "locationEmailAddress": f"board-{FORBIDDEN}@contoso.example",
                "locationType": "conferenceRoom",
            },
            {"displayName": "Teams", "locationType": "default", "uniqueId": FORBIDDEN},
        ],
        "attendees": [
            {
                "type": "required",
                "status": {"response": "accepted", "time": "2026-11-02T10:00:00Z"},
                "emailAddress": {
                    "name": "Bob Baker",
                    "address": f"bob-{FORBIDDEN}@contoso.example",
                },
            },
            {
                "type": "optional",
                "status": {"response": "tentativelyAccepted", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {
                    "name": f"guest-{FORBIDDEN}@partner.example",
                    "address": f"guest-{FORBIDDEN}@partner.example",
                },
                "proposedNewTime": {"start": {"dateTime": FORBIDDEN}},
            },
            {
                "type": "required",
                "status": {"response": "notResponded"},
                "emailAddress": {
                    "name": "Carol Chen",
                    "address": f"carol-{FORBIDDEN}@contoso.example",
                },
            },
            {
                "type": "resource",
                "status": {"response": "accepted"},
                "emailAddress": {
                    "name": "Board Room",
                    "address": f"board-{FORBIDDEN}@contoso.example",
                },
            },
        ],
        "organizer": {"emailAddress": {"name": "Alice Anders", "address": "Alice@Contoso.example"}},
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
        "onlineMeeting": {
            "joinUrl": "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc",
            "conferenceId": FORBIDDEN,
            "tollNumber": f"+1 555 {FORBIDDEN}",
            "phones": [{"number": FORBIDDEN}],
            "quickDial": FORBIDDEN,
        },
        "singleValueExtendedProperties": [
            {
                "id": "String {00020329-0000-0000-C000-000000000046} Name calgateMeetingId",
                "value": MEETING_ID,
            },
            {"id": "String {00020329-0000-0000-C000-000000000046} Name crm", "value": FORBIDDEN},
        ],
        "hasAttachments": True,
        "attachments": HUGE_ATTACHMENTS,
        "webLink": f"https://outlook.office365.com/owa/?itemid={FORBIDDEN}",
        "categories": [FORBIDDEN],
        "responseStatus": {"response": "accepted", "time": FORBIDDEN},
        "sensitivity": "normal",
        "type": "occurrence",
        "seriesMasterId": "AAMkMASTER=",
        "originalStart": "2026-11-24T09:00:00Z",
        "aFieldGraphAddsTomorrow": {"nested": [FORBIDDEN]},
    }
    event.update(overrides)
    return event


def every_serialisation(event: SanitizedEvent) -> str:
    """Everything an event can turn into: repr, str, to_dict/JSON, asdict, pickle."""
    parts = [
        repr(event),
        str(event),
        json.dumps(event.to_dict()),
        repr(dataclasses.asdict(event)),
        repr(dataclasses.astuple(event)),
        pickle.dumps(event).decode("latin-1"),
    ]
    return "\n".join(parts)


def assert_nothing_forbidden(event: SanitizedEvent, *also: str) -> None:
    text = every_serialisation(event)
    for needle in (FORBIDDEN, *also):
        assert needle not in text, f"{needle!r} survived sanitizing"
