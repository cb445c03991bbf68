"""Who is calling the Calendar/People APIs: the bearer access token, its user and scopes
(provider-protocols §4.3, §5.4: 401 ``authError``, 403 ``insufficientPermissions`` with
``ACCESS_TOKEN_SCOPE_INSUFFICIENT``, per-user quota → 403/429)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from calgate.sandbox.google.context import GoogleContext, ctx
from calgate.sandbox.google.errors import REALM, ApiError
from calgate.sandbox.google.state import AccessToken, Calendar
from calgate.sandbox.google.tokens import TokenService

__all__ = ["Principal", "authenticate"]

_INVALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_MISSING = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Principal:
    context: GoogleContext
    token: AccessToken

    @property
    def user(self) -> str | None:
        return self.token.user_email

    @property
    def owner(self) -> str:
        return self.token.user_email or self.token.service_account or self.token.client_id

    def require(self, allowed: frozenset[str], method: str, service: str = "calendar-json") -> None:
        """403 unless the token carries one of ``allowed`` (§4.3)."""
        if self.token.scopes & allowed:
            return
        raise ApiError(
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
            error_message="Insufficient Permission",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": f"{service}.googleapis.com", "method": method},
                }
            ],
            headers={
                "WWW-Authenticate": f'{REALM}, error="insufficient_scope", '
                f'scope="{" ".join(sorted(allowed))}"'
            },
        )

    def calendar(self, calendar_id: str) -> tuple[Calendar, str]:
        """The calendar behind ``primary`` or an id, with the caller's access role; 404 for
        a calendar the caller cannot see."""
        state = self.context.state
        if self.user is None:
            raise ApiError(404, "notFound", "Not Found")
        wanted = self.user if calendar_id == "primary" else calendar_id.lower()
        cal = state.calendars.get(wanted)
        if cal is None or (cal.owner is not None and cal.owner != self.user):
            raise ApiError(404, "notFound", "Not Found")
        return cal, "owner" if cal.owner == self.user else "writer"


def _quota(context: GoogleContext, who: str) -> None:
    limit = context.settings.quota_per_minute
    if limit <= 0:
        return
    minute = int(context.now().timestamp() // 60)
    window, used = context.quota_window.get(who, (minute, 0))
    if window != minute:
        window, used = minute, 0
    used += 1
    context.quota_window[who] = (window, used)
    if used > limit:
        context.count("quota.exceeded")
        if context.settings.quota_status == 429:
            raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits")
        raise ApiError(
            403, "userRateLimitExceeded", "User Rate Limit Exceeded", domain="usageLimits"
        )


def authenticate(request: Request) -> Principal:
    """FastAPI dependency: the caller's access token (``Authorization: Bearer`` or the
    ``access_token`` query parameter), checked on the sandbox clock."""
    context = ctx(request)
    header = request.headers.get("authorization", "")
    value = header[7:].strip() if header.lower().startswith("bearer ") else None
    value = value or request.query_params.get("access_token")
    if not value:
        raise ApiError(
            401,
            "required",
            _MISSING,
            error_message="Login Required.",
            location="Authorization",
            headers={"WWW-Authenticate": REALM},
        )
    token = TokenService(context).bearer(value)
    if token is None:
        context.count("auth.invalid_token")
        raise ApiError(
            401,
            "authError",
            _INVALID,
            error_message="Invalid Credentials",
            location="Authorization",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    _quota(context, token.user_email or token.client_id)
    return Principal(context, token)
