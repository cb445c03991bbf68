"""The scopes requested at connect time follow the user's effective policy (R7), the
permissions read back from granted scopes, and the narrowing asked for on refresh."""

from __future__ import annotations

import itertools

import pytest

from calgate.connectors.google import GoogleConnector
from calgate.connectors.microsoft import MicrosoftConnector
from calgate.domain.connections import Permissions, allowed_permissions
from calgate.domain.policy import Access, ContactsAccess, PolicyOverrides, Provider, resolve

G = "https://www.googleapis.com/auth/"
IDENTITY = {"offline_access", "openid", "profile", "email"}


def policy(calendar: str, contacts: str, google: str):
    return resolve(
        PolicyOverrides.from_dict(
            {
                "calendar_access": calendar,
                "contacts_access": contacts,
                "google_calendar_access": google,
            }
        )
    )


MATRIX = list(
    itertools.product(
        ["read", "read_write"], ["none", "read", "read_write"], ["read", "read_write"]
    )
)


@pytest.mark.parametrize(("calendar", "contacts", "google"), MATRIX)
def test_requested_scopes_follow_the_policy_R7(calendar: str, contacts: str, google: str) -> None:
    p = policy(calendar, contacts, google)

    ms = allowed_permissions(p, Provider.MICROSOFT)
    ms_scopes = set(MicrosoftConnector.scopes_for(ms.calendar or Access.READ, ms.contacts))
    assert ms_scopes >= IDENTITY  # offline access: a refresh token
    assert ("Calendars.ReadWrite" in ms_scopes) == (calendar == "read_write")
    assert "Calendars.Read" in ms_scopes
    assert ("Contacts.Read" in ms_scopes) == (contacts != "none")
    assert ("Contacts.ReadWrite" in ms_scopes) == (contacts == "read_write")
    assert MicrosoftConnector.permissions(ms_scopes) == Permissions(
        Access(calendar), ContactsAccess(contacts)
    )

    gp = allowed_permissions(p, Provider.GOOGLE)
    g_scopes = set(GoogleConnector.scopes_for(gp.calendar or Access.READ, gp.contacts))
    writable = calendar == "read_write" and google == "read_write"
    assert (G + "calendar.events" in g_scopes) == writable  # the Google ceiling applies
    assert G + "calendar.readonly" in g_scopes
    assert G + "calendar" not in g_scopes  # never the scope that also shares and deletes calendars
    assert not any("contacts" in s for s in g_scopes)  # contacts policy is Microsoft 365's
    assert GoogleConnector.permissions(g_scopes).calendar is (
        Access.READ_WRITE if writable else Access.READ
    )


@pytest.mark.parametrize("cls", [GoogleConnector, MicrosoftConnector])
def test_a_read_policy_narrows_a_read_write_grant_on_refresh_R7(cls) -> None:
    granted = cls.scopes_for(Access.READ_WRITE, ContactsAccess.READ_WRITE)
    narrowed = cls.narrowed_scopes(granted, Permissions(Access.READ, ContactsAccess.NONE))
    assert narrowed <= set(granted) | {"offline_access"}
    assert cls.permissions(narrowed) == Permissions(Access.READ, ContactsAccess.NONE)


def test_microsoft_scopes_are_normalised_from_full_uris() -> None:
    granted = {
        "https://graph.microsoft.com/Calendars.ReadWrite",
        "https://graph.microsoft.com/Contacts.Read",
    }
    assert MicrosoftConnector.permissions(granted) == Permissions(
        Access.READ_WRITE, ContactsAccess.READ
    )


def test_permissions_take_the_lower_of_grant_and_policy() -> None:
    rw = Permissions(Access.READ_WRITE, ContactsAccess.READ_WRITE)
    assert rw.within(Permissions(Access.READ, ContactsAccess.NONE)) == Permissions(
        Access.READ, ContactsAccess.NONE
    )
    assert rw.within(Permissions(None)) == Permissions(None)
    assert Permissions(Access.READ).within(rw) == Permissions(Access.READ)
