"""Admin policies (R7, R8, R15) and how they resolve: account → user group → user.

A policy is a set of optional overrides. The account sets its values; a user group's values
override the account's; a user sees the group's value if the group sets one, else the
account's, else calgate's default. :func:`resolve` returns each value together with where it
came from, so an admin can see *why* a user's effective setting is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "DEFAULTS",
    "Access",
    "ContactsAccess",
    "EffectivePolicy",
    "PolicyOverrides",
    "Provider",
    "ResolvedValue",
    "Source",
    "resolve",
]


class Access(StrEnum):
    READ = "read"
    READ_WRITE = "read_write"


class ContactsAccess(StrEnum):
    NONE = "none"
    READ = "read"
    READ_WRITE = "read_write"


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    EXCHANGE = "exchange"
    CALDAV = "caldav"


Source = Literal["account", "group", "default"]


@dataclass(frozen=True, slots=True)
class PolicyOverrides:
    """Values set at one level; ``None`` means "not set here, inherit"."""

    bidirectional_sync: bool | None = None
    calendar_access: Access | None = None
    contacts_access: ContactsAccess | None = None
    google_calendar_access: Access | None = None
    allowed_providers: frozenset[Provider] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with only the values that are set."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, frozenset):
                value = sorted(p.value for p in value)
            elif isinstance(value, StrEnum):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicyOverrides:
        data = data or {}
        providers = data.get("allowed_providers")
        return cls(
            bidirectional_sync=data.get("bidirectional_sync"),
            calendar_access=_opt(Access, data.get("calendar_access")),
            contacts_access=_opt(ContactsAccess, data.get("contacts_access")),
            google_calendar_access=_opt(Access, data.get("google_calendar_access")),
            allowed_providers=(
                None if providers is None else frozenset(Provider(p) for p in providers)
            ),
        )

    def merged(self, changes: dict[str, Any]) -> PolicyOverrides:
        """Apply a partial update: keys present in ``changes`` are set (``None`` clears)."""
        current = self.to_dict()
        for key, value in changes.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        return PolicyOverrides.from_dict(current)


def _opt(kind: type[StrEnum], value: Any) -> Any:
    return None if value is None else kind(value)


DEFAULTS = PolicyOverrides(
    bidirectional_sync=False,
    calendar_access=Access.READ_WRITE,
    contacts_access=ContactsAccess.NONE,
    google_calendar_access=Access.READ_WRITE,
    allowed_providers=frozenset(Provider),
)


@dataclass(frozen=True, slots=True)
class ResolvedValue:
    value: Any
    source: Source
    reason: str


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    bidirectional_sync: ResolvedValue
    calendar_access: ResolvedValue
    contacts_access: ResolvedValue
    google_calendar_access: ResolvedValue
    allowed_providers: ResolvedValue

    def calendar_access_for(self, provider: Provider) -> Access:
        """The calendar access a connection to ``provider`` may use: for Google Workspace the
        lower of ``calendar_access`` and the ``google_calendar_access`` ceiling."""
        access = Access(self.calendar_access.value)
        if provider is Provider.GOOGLE and Access(self.google_calendar_access.value) is Access.READ:
            return Access.READ
        return access

    def allows_provider(self, provider: Provider) -> bool:
        return provider in self.allowed_providers.value

    def as_dict(self) -> dict[str, ResolvedValue]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def resolve(
    account: PolicyOverrides,
    group: PolicyOverrides | None = None,
    *,
    group_name: str | None = None,
) -> EffectivePolicy:
    """Resolve one user's effective policy from their account's and group's overrides."""
    resolved: dict[str, ResolvedValue] = {}
    for f in fields(PolicyOverrides):
        name = f.name
        group_value = getattr(group, name) if group is not None else None
        account_value = getattr(account, name)
        if group_value is not None:
            resolved[name] = ResolvedValue(
                group_value, "group", f"set by user group {group_name!r}, overriding the account"
            )
        elif account_value is not None:
            reason = "set by the account"
            if group is not None:
                reason += f"; user group {group_name!r} does not set it"
            else:
                reason += "; the user is in no group"
            resolved[name] = ResolvedValue(account_value, "account", reason)
        else:
            resolved[name] = ResolvedValue(
                getattr(DEFAULTS, name),
                "default",
                "calgate default; neither account nor group sets it",
            )
    effective = EffectivePolicy(**resolved)
    # Google's ceiling can only lower access; explain when it bites.
    if (
        Access(effective.google_calendar_access.value) is Access.READ_WRITE
        and Access(effective.calendar_access.value) is Access.READ
    ):
        g = effective.google_calendar_access
        effective = EffectivePolicy(
            **{
                **effective.as_dict(),
                "google_calendar_access": ResolvedValue(
                    Access.READ, g.source, g.reason + "; limited to read by calendar_access"
                ),
            }
        )
    return effective
