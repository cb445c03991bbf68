"""A user's calendar connection: one OAuth grant at one provider account.

The refresh token (and the cached access token) live in the vault; a connection row holds
only ids, the granted scopes and the bookkeeping of single-flight refresh (R1).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from calgate.domain.policy import Access, ContactsAccess, EffectivePolicy, Provider

__all__ = [
    "Connection",
    "ConnectionStatus",
    "Permissions",
    "allowed_permissions",
]


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"  # the provider refused the grant; secrets deleted
    REMOVED = "removed"  # removed by an admin or the user; secrets deleted (tombstone)


_CALENDAR_ORDER: tuple[Access | None, ...] = (None, Access.READ, Access.READ_WRITE)
_CONTACTS_ORDER = (ContactsAccess.NONE, ContactsAccess.READ, ContactsAccess.READ_WRITE)


@dataclass(frozen=True, slots=True)
class Permissions:
    """What a grant (or a policy) lets an app do: calendar ``None`` means no calendar access."""

    calendar: Access | None
    contacts: ContactsAccess = ContactsAccess.NONE

    def within(self, ceiling: Permissions) -> Permissions:
        """The lower of the two, per kind."""
        calendar = min(self.calendar, ceiling.calendar, key=_CALENDAR_ORDER.index)
        contacts = min(self.contacts, ceiling.contacts, key=_CONTACTS_ORDER.index)
        return Permissions(calendar, contacts)

    def as_dict(self) -> dict[str, str]:
        return {
            "calendar": self.calendar.value if self.calendar else "none",
            "contacts": self.contacts.value,
        }


def allowed_permissions(policy: EffectivePolicy, provider: Provider) -> Permissions:
    """What the user's effective policy allows on ``provider``: calendar access (with the
    Google Workspace ceiling), and contacts (Microsoft 365 only, R7)."""
    contacts = ContactsAccess(policy.contacts_access.value)
    if provider is not Provider.MICROSOFT:
        contacts = ContactsAccess.NONE
    return Permissions(policy.calendar_access_for(provider), contacts)


@dataclass(frozen=True, slots=True)
class Connection:
    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    provider: Provider
    status: ConnectionStatus
    subject: str | None
    account_email: str | None
    scopes: frozenset[str]  # granted to the refresh token
    token_scopes: frozenset[str]  # of the current access token (narrower if policy says so)
    token_version: int
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    last_refreshed_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime
    client_id: str | None = None
    reauth_reason: str | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
