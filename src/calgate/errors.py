"""The calgate error tree. HTTP mapping lives only in :mod:`calgate.api.problems`.

::

    CalgateError                      any failure calgate itself raises on purpose
    ├── ConfigurationError            settings or key material unusable; the CLI prints one line
    ├── NotFound                      no such row in the caller's account (also: another tenant's)
    ├── Conflict                      unique value taken, or a concurrent change won
    ├── InvalidInput                  well-formed request that breaks a rule (names the field)
    ├── Unauthenticated               no or bad credentials
    │   └── SecondFactorRequired      operator key alone is not enough: TOTP code missing/bad
    ├── Forbidden                     authenticated, but the principal's role may not do this
    │   └── PolicyDenied              an admin policy forbids it (names the policy, R7)
    ├── ReauthRequired                a calendar connection's grant is dead: the user must
    │                                 connect again (carries ``reauth_url``)
    ├── ServiceUnavailable            a dependency (database, provider) cannot answer now
    └── VaultError                    a stored secret does not decrypt (altered, moved, or its
                                      data key destroyed); never carries the secret

Connector errors (``calgate.connectors.errors``) form their own tree under
``ConnectorError`` and are translated at the service boundary.
"""

from __future__ import annotations

__all__ = [
    "CalgateError",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PolicyDenied",
    "ReauthRequired",
    "SecondFactorRequired",
    "ServiceUnavailable",
    "Unauthenticated",
    "VaultError",
]


class CalgateError(Exception):
    """Base of every error calgate raises on purpose. ``str(err)`` is safe to show a user:
    it never contains a secret or event content."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigurationError(CalgateError):
    pass


class NotFound(CalgateError):
    pass


class Conflict(CalgateError):
    pass


class InvalidInput(CalgateError):
    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class Unauthenticated(CalgateError):
    pass


class SecondFactorRequired(Unauthenticated):
    """The operator key was right, but this action also needs a one-time code (R3)."""

    problem_extra: dict[str, str]

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.problem_extra = {"second_factor": "totp", "header": "X-Calgate-OTP"}


class Forbidden(CalgateError):
    pass


class PolicyDenied(Forbidden):
    def __init__(self, detail: str, *, policy: str) -> None:
        super().__init__(detail)
        self.policy = policy


class ReauthRequired(CalgateError):
    """The provider refused a connection's grant (revoked or expired): its secrets are gone
    and only the user can connect again, at ``reauth_url``."""

    problem_extra: dict[str, object]

    def __init__(self, detail: str, *, reauth_url: str, connection_id: str, provider: str) -> None:
        super().__init__(detail)
        self.problem_extra = {
            "reauth_url": reauth_url,
            "connection_id": connection_id,
            "provider": provider,
        }


class ServiceUnavailable(CalgateError):
    pass


class VaultError(CalgateError):
    pass
