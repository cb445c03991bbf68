"""Errors the client SDK raises. Each ``detail`` is safe to show a person: it names ids,
status codes and provider error codes, never a token, a password or event content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from calgate.errors import CalgateError

if TYPE_CHECKING:
    from calgate.client.service import VendedConnection

__all__ = [
    "CalendarReadOnly",
    "ClientError",
    "ConnectionRemoved",
    "EventNotWritten",
    "NotConnected",
    "ProviderBusy",
    "ProviderError",
    "ProviderUnauthorized",
    "ReauthRequired",
    "RemovedConnection",
    "ScheduleRefused",
    "ServerUnreachable",
    "SessionExpired",
    "SignInFailed",
]


class ClientError(CalgateError):
    """Base of the client's errors."""


class SignInFailed(ClientError):
    """calgate refused the sign-in (wrong password, unknown user, bad ID token)."""


class SessionExpired(ClientError):
    """calgate no longer accepts the session token, and it could not be renewed."""


class ServerUnreachable(ClientError):
    """calgate could not be reached, or answered something that is not calgate's API."""


class ReauthRequired(ClientError):
    """Token vending answered 409 ``reauth-required``: no connection (of those asked for)
    is usable, because the provider no longer accepts calgate's grant — revoked by the user
    or an admin, or expired (R6). The user must connect again: ``reauth_url`` (POST it with
    the session for a new authorization URL). ``connection_id`` and ``provider`` name the
    connection the problem is about; ``connections`` lists every one asked for, each with
    its status (``reauth_required``, ``policy_denied``) and, for the former, its
    ``reauth_url``; none carries a token."""

    def __init__(
        self,
        detail: str,
        *,
        reauth_url: str,
        connection_id: str,
        provider: str,
        connections: tuple[VendedConnection, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.reauth_url = reauth_url
        self.connection_id = connection_id
        self.provider = provider
        self.connections = connections


@dataclass(frozen=True, slots=True)
class RemovedConnection:
    """A connection the user or an administrator removed (its tokens are deleted)."""

    connection_id: str
    provider: str
    removed_at: datetime | None = None
    removed_by: str = ""  # "user" | "admin" | "" (as calgate says)


class NotConnected(ClientError):
    """Token vending answered 404: there is no calendar connection (of those asked for) to
    vend. ``removed`` lists connections that were removed recently, if any (see
    `ConnectionRemoved`)."""

    def __init__(self, detail: str, *, removed: tuple[RemovedConnection, ...] = ()) -> None:
        super().__init__(detail)
        self.removed = removed


class ConnectionRemoved(NotConnected):
    """Token vending answered 404 because the connection(s) were removed — by the user or
    an administrator (R6); ``removed`` says which, when and by whom. ``detail`` says how to
    connect again."""


class ProviderError(ClientError):
    """The calendar provider answered an error."""


class ProviderUnauthorized(ProviderError):
    """The provider refused the vended access token (HTTP 401)."""


class ProviderBusy(ProviderError):
    """The provider is throttling or unavailable (429, 503); retry after ``retry_after``."""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ScheduleRefused(ClientError):
    """calgate refused to schedule (422: a field R11 does not allow, or a bad value;
    ``fields`` names them)."""

    def __init__(self, detail: str, *, status: int, fields: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.fields = fields


class CalendarReadOnly(ClientError):
    """The policy lets this user read their calendar only: calgate's app does not write
    the meeting's event (R7)."""


class EventNotWritten(ClientError):
    """The meeting was scheduled but its calendar event could not be written; ``meeting``
    holds the scheduled meeting so that nothing is lost."""

    def __init__(self, detail: str, *, meeting: object) -> None:
        super().__init__(detail)
        self.meeting = meeting
