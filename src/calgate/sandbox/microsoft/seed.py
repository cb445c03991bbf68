"""The default Microsoft seed: one tenant (contoso.example), one app registration with
obviously fake credentials, users alice@/bob@/carol@contoso.example, a room mailbox and a few
events each (a weekly series with an exception and a cancelled occurrence, an all-day event,
a meeting with an online-meeting link, a room booking) placed around the sandbox clock's now."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from calgate.sandbox.microsoft.naa import seed_addin
from calgate.sandbox.microsoft.state import AppRegistration
from calgate.sandbox.model import SeedAttendee, SeedEvent, SeedOccurrenceOverride

if TYPE_CHECKING:
    from calgate.sandbox.microsoft.emulator import MicrosoftEmulator

__all__ = ["SANDBOX_CLIENT_ID", "SANDBOX_CLIENT_SECRET", "SANDBOX_TENANT_ID", "seed_default"]

SANDBOX_TENANT_ID = "5a4db0c5-7e4a-4000-8000-000000000001"
SANDBOX_CLIENT_ID = "5a4db0c5-a99c-4000-8000-000000000001"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret-not-a-real-secret"  # noqa: S105 - fake by design
DOMAIN = "contoso.example"


def seed_default(em: MicrosoftEmulator) -> None:
    state = em.state
    tenant = state.add_tenant(DOMAIN, "Contoso (sandbox)", SANDBOX_TENANT_ID)
    state.apps[SANDBOX_CLIENT_ID] = AppRegistration(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        display_name="calgate (sandbox)",
        tenant_id=tenant.id,
        redirect_uris=[
            "http://127.0.0.1:8080/v1/oauth/callback",
            "http://localhost:8080/v1/oauth/callback",
        ],
        application_permissions=[
            "Calendars.ReadWrite",
            "Contacts.Read",
            "Place.Read.All",
            "User.Read.All",
        ],
    )
    seed_addin(em, tenant.id)
    alice = state.add_user(tenant, f"alice@{DOMAIN}", "Alice Anders", time_zone="Europe/Berlin")
    bob = state.add_user(tenant, f"bob@{DOMAIN}", "Bob Baker", time_zone="America/New_York")
    carol = state.add_user(tenant, f"carol@{DOMAIN}", "Carol Chen", time_zone="Asia/Tokyo")
    room = state.add_user(
        tenant, f"room101@{DOMAIN}", "Room 101", time_zone="Europe/Berlin", is_room=True
    )

    today = em.core.clock.now().astimezone(ZoneInfo("Europe/Berlin")).date()
    monday = today - timedelta(days=today.weekday())

    def at(day: int, hour: int, zone: str = "Europe/Berlin", minute: int = 0) -> datetime:
        d = monday + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZoneInfo(zone))

    people = [alice, bob, carol]
    room_attendee = SeedAttendee(room.upn, room.display_name, is_room=True, response="accepted")
    em.seed_events(
        alice,
        [
            SeedEvent(
                "Team sync",
                at(0, 10),
                at(0, 10, minute=30),
                time_zone="Europe/Berlin",
                body="Weekly status.",
                rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=12",
                attendees=(SeedAttendee(bob.upn, bob.display_name), room_attendee),
                overrides=(
                    SeedOccurrenceOverride(at(7, 10), start=at(7, 11), end=at(7, 11, minute=30)),
                    SeedOccurrenceOverride(at(14, 10), cancelled=True),
                ),
            ),
            SeedEvent(
                "1:1 Alice / Carol",
                at(1, 15),
                at(1, 15, minute=45),
                time_zone="Europe/Berlin",
                attendees=(SeedAttendee(carol.upn, carol.display_name, response="accepted"),),
                online_meeting_url="https://meet.calgate.example/j/1234567890",
            ),
            SeedEvent(
                "Conference",
                monday + timedelta(days=3),
                monday + timedelta(days=5),
                time_zone="Europe/Berlin",
                location="Berlin",
            ),
        ],
    )
    em.seed_events(
        bob,
        [
            SeedEvent(
                "Quarterly planning",
                at(2, 9, "America/New_York"),
                at(2, 11, "America/New_York"),
                time_zone="America/New_York",
                body="Agenda to follow.",
                attendees=tuple(SeedAttendee(p.upn, p.display_name) for p in people if p != bob),
                private_properties={"calgateMeetingId": "1234567890"},
                online_meeting_url="https://meet.calgate.example/j/1234567890",
            ),
            SeedEvent(
                "Dentist",
                at(3, 8, "America/New_York"),
                at(3, 9, "America/New_York"),
                time_zone="America/New_York",
            ),
        ],
    )
    em.seed_events(
        carol,
        [
            SeedEvent(
                "Daily stand-up",
                at(0, 9, "Asia/Tokyo"),
                at(0, 9, "Asia/Tokyo", 15),
                time_zone="Asia/Tokyo",
                rrule="FREQ=DAILY;INTERVAL=1;COUNT=20",
            ),
        ],
    )
    em.seed_events(
        room,
        [
            SeedEvent(
                "Team sync",
                at(0, 10),
                at(0, 10, minute=30),
                time_zone="Europe/Berlin",
                organizer=alice.upn,
                body="Weekly status.",
                rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=12",
                attendees=(SeedAttendee(alice.upn, alice.display_name), room_attendee),
            ),
            SeedEvent(
                "Workshop",
                at(2, 13),
                at(2, 17),
                time_zone="Europe/Berlin",
                organizer=bob.upn,
                body="Bring laptops.",
                attendees=(SeedAttendee(bob.upn, bob.display_name), room_attendee),
            ),
        ],
    )
    for user in people:
        for other in people:
            if other is not user:
                first, _, last = other.display_name.partition(" ")
                em.add_contact(
                    user,
                    {
                        "displayName": other.display_name,
                        "givenName": first,
                        "surname": last,
                        "emailAddresses": [{"name": other.display_name, "address": other.upn}],
                        "companyName": "Contoso",
                    },
                )
