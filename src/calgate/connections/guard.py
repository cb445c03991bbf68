"""The write guard (R7): the one function every write path calls before it reaches a
provider. It refuses what the user's effective policy does not grant, naming the policy."""

from __future__ import annotations

from typing import Literal

from calgate.domain.policy import Access, ContactsAccess, EffectivePolicy, Provider
from calgate.errors import PolicyDenied

__all__ = ["WriteKind", "ensure_write_allowed"]

WriteKind = Literal["calendar", "contacts"]


def ensure_write_allowed(
    policy: EffectivePolicy, provider: Provider, kind: WriteKind = "calendar"
) -> None:
    """Raise `PolicyDenied` unless ``policy`` lets this user write ``kind`` at ``provider``.
    Called before any token is fetched or any provider is asked."""
    if kind == "calendar":
        if Access(policy.calendar_access.value) is not Access.READ_WRITE:
            raise PolicyDenied(
                "your calendar access is read-only (policy calendar_access = read, "
                f"{policy.calendar_access.reason}); calgate did not write to your calendar",
                policy="calendar_access",
            )
        if policy.calendar_access_for(provider) is not Access.READ_WRITE:
            raise PolicyDenied(
                "Google Workspace calendars are limited to read (policy "
                f"google_calendar_access = read, {policy.google_calendar_access.reason}); "
                "calgate did not write to your calendar",
                policy="google_calendar_access",
            )
        return
    if provider is not Provider.MICROSOFT:
        raise PolicyDenied(
            "calgate manages contacts only for Microsoft 365", policy="contacts_access"
        )
    if ContactsAccess(policy.contacts_access.value) is not ContactsAccess.READ_WRITE:
        raise PolicyDenied(
            f"your contacts access is {policy.contacts_access.value} (policy contacts_access, "
            f"{policy.contacts_access.reason}); calgate did not write your contacts",
            policy="contacts_access",
        )
