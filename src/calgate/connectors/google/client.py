"""Typed wire client for Google OAuth 2.0 and Calendar v3 over an injected
`httpx.AsyncClient`. Every error answer is translated here (provider-protocols §4.2, §5.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from calgate.connectors import oauth
from calgate.connectors.errors import (
    AlreadyExists,
    AuthExpired,
    ConnectorError,
    InsufficientScope,
    NotFound,
    RateLimited,
    SyncTokenExpired,
    Unavailable,
    WrongEtag,
)
from calgate.connectors.google.config import GoogleConfig
from calgate.connectors.http import parse_json, retry_after, send
from calgate.vault.base import Secret

__all__ = ["GoogleClient"]

PROVIDER = "google"
_RATE_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"}
)
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return ""
    if not isinstance(error, dict):
        return str(error)
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"])
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return str(error.get("status", ""))


def translate(response: httpx.Response) -> ConnectorError:
    status, reason = response.status_code, _reason(response)
    label = f"{status} {reason}".strip()
    if status == 401:
        return AuthExpired("google refused the access token (401)", provider=PROVIDER)
    if status == 403 and reason in _RATE_REASONS:
        return RateLimited(
            f"google quota exceeded ({reason})",
            provider=PROVIDER,
            retry_after=retry_after(response),
        )
    if status == 403 and reason in _SCOPE_REASONS:
        return InsufficientScope("the grant lacks the scope for this call", provider=PROVIDER)
    if status == 404 or (status == 410 and reason == "deleted"):
        return NotFound(f"google: not found ({label})", provider=PROVIDER)
    if status == 410:
        return SyncTokenExpired("google: the sync token is no longer valid", provider=PROVIDER)
    if status == 409:
        return AlreadyExists("google: the event already exists", provider=PROVIDER)
    if status == 412:
        return WrongEtag("google: the event changed since it was read", provider=PROVIDER)
    if status == 429:
        return RateLimited(
            "google is throttling calgate", provider=PROVIDER, retry_after=retry_after(response)
        )
    if status >= 500:
        return Unavailable(f"google is unavailable ({label})", provider=PROVIDER)
    return ConnectorError(f"google answered {label}", provider=PROVIDER)


class GoogleClient:
    def __init__(self, config: GoogleConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    @property
    def _secret(self) -> Secret:
        return Secret(self.config.client_secret.get_secret_value())

    # OAuth -------------------------------------------------------------------------------
    async def token(self, grant_type: str, **params: str) -> dict[str, Any]:
        return await oauth.token_request(
            self.http,
            self.config.token_url,
            provider=PROVIDER,
            grant_type=grant_type,
            client_id=self.config.client_id,
            client_secret=self._secret,
            **params,
        )

    async def revoke(self, token: Secret) -> bool:
        """POST the token in the form body (never in the URL). False: Google did not know
        it (already revoked or expired), which is as good."""
        request = self.http.build_request(
            "POST",
            self.config.revoke_url,
            content=urlencode({"token": token.reveal()}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = await send(self.http, request, provider=PROVIDER)
        if response.status_code == 200:
            return True
        if response.status_code == 400:
            return False
        raise translate(response)

    # Calendar v3 -------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.config.api_base_url.rstrip('/')}/{path.lstrip('/')}"

    async def call(
        self,
        method: str,
        path: str,
        token: Secret,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        request = self.http.build_request(
            method,
            self._url(path),
            params=params,
            json=body,
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "Accept": "application/json",
                **dict(headers or {}),
            },
        )
        response = await send(self.http, request, provider=PROVIDER)
        if response.status_code >= 400:
            raise translate(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return parse_json(response.content)
        except ValueError as exc:
            raise ConnectorError("google answered with a body that is not JSON") from exc

    @staticmethod
    def events_path(calendar_id: str, event_id: str | None = None) -> str:
        path = f"calendars/{quote(calendar_id, safe='')}/events"
        return f"{path}/{quote(event_id, safe='')}" if event_id else path
