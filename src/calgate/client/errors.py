"""Errors the client SDK raises. Each ``detail`` is safe to show a person: it names ids,
status codes and provider error codes, never a token, a password or event content."""

from __future__ import annotations

from calgate.errors import CalgateError

__all__ = [
    "CalendarReadOnly",
    "ClientError",
    "EventNotWritten",
    "ProviderBusy",
    "ProviderError",
    "ProviderUnauthorized",
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
