"""What connectors raise. Wire errors are translated here, at the client, most specific
first; no library exception (httpx, JSON) leaves a connector.

::

    ConnectorError                   any provider failure (``provider``, safe ``detail``)
    ├── AuthExpired                  the access token was refused (401): refresh, then retry
    ├── InvalidGrant                 the refresh token (or code) is dead: reauthorize
    ├── ClientRejected               the provider refuses calgate's app registration
    │                                (unknown client, wrong or expired secret, bad redirect)
    ├── InsufficientScope            the token lacks the scope for this call (403)
    ├── NotFound                     no such event / calendar (404, 410 deleted)
    ├── PreconditionFailed           a conditional write lost
    │   ├── WrongEtag                the event changed since its etag was read (412)
    │   └── AlreadyExists            an event with this id exists (409)
    ├── SyncTokenExpired             the sync token is no longer valid: full resync (410)
    ├── RateLimited                  throttled (429, Google 403 usageLimits), ``retry_after``
    ├── Unavailable                  5xx, timeouts, connection failures
    └── Unsupported                  the connector lacks this capability

Messages never contain a token, a secret or event content: only statuses, provider error
codes and ids.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "AuthExpired",
    "ClientRejected",
    "ConnectorError",
    "InsufficientScope",
    "InvalidGrant",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "SyncTokenExpired",
    "Unavailable",
    "Unsupported",
    "WrongEtag",
]


class ConnectorError(Exception):
    def __init__(self, detail: str, *, provider: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.provider = provider


class AuthExpired(ConnectorError):
    pass


class InvalidGrant(ConnectorError):
    """``error=invalid_grant`` (and kin): the grant is expired or revoked. ``codes`` holds
    Microsoft's AADSTS numbers when the provider sent them."""

    def __init__(
        self,
        detail: str,
        *,
        provider: str = "",
        error: str = "invalid_grant",
        codes: tuple[int, ...] = (),
    ) -> None:
        super().__init__(detail, provider=provider)
        self.error = error
        self.codes = codes

    @property
    def reason(self) -> str:
        """Short, loggable: ``invalid_grant`` or ``invalid_grant (AADSTS50173)``."""
        if self.codes:
            return f"{self.error} (AADSTS{self.codes[0]})"
        return self.error


class ClientRejected(ConnectorError):
    pass


class InsufficientScope(ConnectorError):
    pass


class NotFound(ConnectorError):
    pass


class PreconditionFailed(ConnectorError):
    pass


class WrongEtag(PreconditionFailed):
    pass


class AlreadyExists(PreconditionFailed):
    pass


class SyncTokenExpired(ConnectorError):
    pass


class RateLimited(ConnectorError):
    def __init__(
        self, detail: str, *, provider: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(detail, provider=provider)
        self.retry_after = retry_after


class Unavailable(ConnectorError):
    pass


class Unsupported(ConnectorError):
    pass
