"""Errors the client SDK raises. Each ``detail`` is safe to show a person: it names ids,
status codes and provider error codes, never a token, a password or event content."""

from __future__ import annotations

from calgate.errors import CalgateError

__all__ = [
    "ClientError",
    "ProviderBusy",
    "ProviderError",
    "ProviderUnauthorized",
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
