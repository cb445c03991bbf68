"""Provider-neutral seed data → Google Calendar v3 ``calendar#event`` bodies (§5.2), and the
seeding of a whole :class:`~calgate.sandbox.datagen.Dataset` into the emulator's state."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from joserfc.jwk import RSAKey

from calgate.sandbox.datagen import Dataset
from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.events import EventStore
from calgate.sandbox.google.recurrence import instance_id
from calgate.sandbox.google.scopes import CALENDAR, CALENDAR_READONLY, EVENTS_READ
from calgate.sandbox.google.state import Calendar, Contact, ServiceAccount, User
from calgate.sandbox.model import SeedEvent, SeedOccurrenceOverride, SeedUser

__all__ = ["add_service_account", "event_body", "seed_dataset", "seed_events", "seed_user"]


def _time(value: Any, tz: str) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"dateTime": value.isoformat(timespec="seconds"), "timeZone": tz}
    return {"date": value.isoformat()}


def event_body(event: SeedEvent) -> dict[str, Any]:
    """The body a client would POST to ``events.insert`` for this event."""
    body: dict[str, Any] = {
        "summary": event.subject,
        "start": _time(event.start, event.time_zone),
        "end": _time(event.end, event.time_zone),
    }
    if event.body:
        body["description"] = event.body
    if event.location:
        body["location"] = event.location
    if event.attendees:
        body["attendees"] = [
            {
                "email": a.email,
                **({"displayName": a.display_name} if a.display_name else {}),
                **({"resource": True} if a.is_room else {}),
                "responseStatus": a.response,
            }
            for a in event.attendees
        ]
    if event.rrule:
        body["recurrence"] = [f"RRULE:{event.rrule}"]
    if event.private_properties:
        body["extendedProperties"] = {"private": dict(event.private_properties)}
    if event.online_meeting_url:
        url = event.online_meeting_url
        body["conferenceData"] = {
            "conferenceId": url.rstrip("/").rsplit("/", 1)[-1],
            "conferenceSolution": {"key": {"type": "addOn"}, "name": "Video meeting"},
            "entryPoints": [{"entryPointType": "video", "uri": url, "label": url}],
        }
    return body


def seed_user(ctx: GoogleContext, user: SeedUser, *, room: bool = False) -> Calendar:
    """A user with a primary calendar (or a room resource calendar)."""
    email = user.email.lower()
    cal = ctx.state.calendars.get(email)
    if cal is None:
        cal = Calendar(
            id=email,
            summary=user.display_name if room else email,
            time_zone=user.time_zone,
            owner=None if room else email,
            kind="resource" if room else "primary",
        )
        ctx.state.calendars[email] = cal
    if not room and email not in ctx.state.users:
        ctx.state.users[email] = User(email, user.display_name, user.time_zone)
    return cal


def _override(store: EventStore, master: dict[str, Any], o: SeedOccurrenceOverride) -> None:
    iid = instance_id(master["id"], o.original_start)
    if o.cancelled:
        store.delete(iid)
        return
    patch: dict[str, Any] = {}
    tz = master["start"].get("timeZone", "UTC")
    if o.start is not None and o.end is not None:
        patch["start"], patch["end"] = _time(o.start, tz), _time(o.end, tz)
    if o.subject:
        patch["summary"] = o.subject
    store.patch(iid, patch, if_match=None, conference_version=1)


def seed_events(ctx: GoogleContext, cal: Calendar, events: list[SeedEvent]) -> list[str]:
    """Insert each event as its organiser would, then apply its series exceptions; a copy
    goes to each room calendar it books. Returns the new event ids."""
    ids = []
    for event in events:
        store = EventStore(ctx, cal, cal.owner)
        resource = store.insert(event_body(event), conference_version=1)
        if event.organizer and event.organizer.lower() != cal.id:
            resource["organizer"] = {"email": event.organizer}
        for override in event.overrides:
            _override(store, resource, override)
        ids.append(resource["id"])
        for attendee in event.attendees:
            room = ctx.state.calendars.get(attendee.email.lower())
            if attendee.is_room and room is not None and room.kind == "resource":
                copy = event_body(event)
                copy["iCalUID"] = resource["iCalUID"]
                room_store = EventStore(ctx, room, cal.id)
                booked = room_store.insert(copy, conference_version=1)
                booked["organizer"] = {"email": cal.id}
                for override in event.overrides:
                    _override(room_store, booked, override)
    return ids


def add_service_account(
    ctx: GoogleContext, email: str, delegated_scopes: set[str] | None = None
) -> ServiceAccount:
    """A service account with a fresh RSA key pair (generated here, never written), delegated
    domain-wide for the calendar scopes unless told otherwise (§4.4)."""
    account = ServiceAccount(
        email=email,
        client_id=str(100_000_000_000_000_000_000 + secrets.randbelow(10**20)),
        key_id=secrets.token_hex(20),
        key=RSAKey.generate_key(2048, private=True),
        delegated_scopes=set(
            delegated_scopes
            if delegated_scopes is not None
            else EVENTS_READ | {CALENDAR, CALENDAR_READONLY}
        ),
    )
    ctx.state.service_accounts[email] = account
    return account


def seed_dataset(ctx: GoogleContext, data: Dataset) -> int:
    for room in data.rooms:
        seed_user(ctx, room, room=True)
    for user in data.users:
        seed_user(ctx, user)
    everyone = [u for u in data.users]
    for user in data.users:
        contacts = ctx.state.contacts[user.email.lower()]
        if not contacts:
            for i, other in enumerate(u for u in everyone if u.email != user.email):
                contacts.append(
                    Contact(f"people/c{1000 + i}", other.display_name, other.email, f"%E{i}")
                )
    total = 0
    for owner, events in data.events.items():
        total += len(seed_events(ctx, ctx.state.calendars[owner.lower()], events))
    return total
