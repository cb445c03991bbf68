"""Typed wire client for the Microsoft identity platform (v2.0 token endpoint) and Graph v1.0
over an injected `httpx.AsyncClient`. Every error answer is translated here
(provider-protocols §1.5, §2.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from calgate.connectors.http import parse_json, retry_after, send
from calgate.connectors.microsoft.config import MicrosoftConfig
from calgate.vault.base import Secret

__all__ = ["MicrosoftClient", "translate"]

PROVIDER = "microsoft"
_RESYNC = frozenset({"syncStateNotFound", "resyncRequired", "SyncStateNotFound"})
# UTC times and plain-text bodies, whatever the mailbox's settings (§2.2).
PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'


def _code(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else str(error)


def translate(response: httpx.Response) -> ConnectorError:
    status, code = response.status_code, _code(response)
    label = f"{status} {code}".strip()
    if code in _RESYNC or (status == 410 and "delta" in response.request.url.path):
        return SyncTokenExpired("microsoft: the delta token is no longer valid", provider=PROVIDER)
    if status == 401:
        return AuthExpired("microsoft refused the access token (401)", provider=PROVIDER)
    if status == 403:
        return InsufficientScope(f"microsoft: access denied ({code})", provider=PROVIDER)
    if status in (404, 410):
        return NotFound(f"microsoft: not found ({label})", provider=PROVIDER)
    if status == 409:
        return AlreadyExists(f"microsoft: conflict ({code})", provider=PROVIDER)
    if status == 412:
        return WrongEtag("microsoft: the event changed since it was read", provider=PROVIDER)
    if status == 429:
        return RateLimited(
            "microsoft is throttling calgate", provider=PROVIDER, retry_after=retry_after(response)
        )
    if status >= 500:
        return Unavailable(f"microsoft is unavailable ({label})", provider=PROVIDER)
    return ConnectorError(f"microsoft answered {label}", provider=PROVIDER)


class MicrosoftClient:
    def __init__(self, config: MicrosoftConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http

    async def token(self, grant_type: str, **params: str) -> dict[str, Any]:
        return await oauth.token_request(
            self.http,
            self.config.token_url,
            provider=PROVIDER,
            grant_type=grant_type,
            client_id=self.config.client_id,
            client_secret=Secret(self.config.client_secret.get_secret_value()),
            **params,
        )

    def url(self, path: str) -> str:
        """``path`` below the Graph base, or an absolute ``@odata.nextLink``/``deltaLink``
        (only when it points below the same base, so a token never goes elsewhere)."""
        base = self.config.graph_base_url.rstrip("/")
        if path.startswith(("http://", "https://")):
            if not path.startswith(base + "/"):
                raise ConnectorError("microsoft: a paging link points outside Graph")
            return path
        return f"{base}/{path.lstrip('/')}"

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
            self.url(path),
            params=params,
            json=body,
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "Accept": "application/json",
                "Prefer": PREFER,
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
            raise ConnectorError("microsoft answered with a body that is not JSON") from exc
