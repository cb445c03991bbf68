"""calgate's own API as an app sees it: sign in (``POST /v1/sessions``) and token vending
(``GET /v1/me/credentials``, R10).

Tokens live in these objects' private fields only (``repr=False``): never logged, never
written anywhere (C1, C6).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx

from calgate.client.errors import (
    ConnectionRemoved,
    NotConnected,
    ReauthRequired,
    RemovedConnection,
    ScheduleRefused,
    ServerUnreachable,
    SessionExpired,
    SignInFailed,
)

__all__ = [
    "DEFAULT_API_BASES",
    "ServiceApi",
    "Session",
    "VendedConnection",
    "parse_vend",
    "vend_problem",
]

log = logging.getLogger(__name__)

DEFAULT_API_BASES = {
    "google": "https://www.googleapis.com/calendar/v3",
    "microsoft": "https://graph.microsoft.com/v1.0",
}


@dataclass(frozen=True, slots=True)
class Session:
    token: str = field(repr=False)
    expires_at: datetime
    user_id: str
    account_id: str


@dataclass(frozen=True, slots=True)
class VendedConnection:
    """One calendar connection and what an app needs to talk to its provider directly."""

    id: str
    provider: str
    status: str  # active | reauth_required | policy_denied | … (as calgate says)
    api_base_url: str
    access_token: str = field(default="", repr=False)
    expires_at: datetime | None = None
    calendar_access: str = ""  # what the policy lets the token do: read | read_write | none
    reauth_url: str = ""  # reauth_required: where to connect again (POST it with the session)
    detail: str = ""  # why a connection without a token has none (calgate's words)

    @property
    def can_write(self) -> bool:
        return self.calendar_access == "read_write"


def _str(obj: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_vend(body: object) -> list[VendedConnection]:
    """The vending response: ``{"connections": [{"connection_id" (or "id"), "provider",
    "status", "access_token", "expires_at", "api_base_url", "permissions"}, …]}`` (a bare
    list too). A connection without a token is kept with its status, ``detail`` and
    ``reauth_url``, so the app can say why and where to reconnect. The ``connections`` of a
    409 problem parse the same way."""
    items = body.get("connections") if isinstance(body, dict) else body
    out: list[VendedConnection] = []
    for raw in items if isinstance(items, list) else []:
        if not isinstance(raw, dict):
            continue
        nested = raw.get("credentials")
        creds: dict[str, Any] = nested if isinstance(nested, dict) else {}
        cid = _str(raw, "connection_id", "id")
        provider = _str(raw, "provider")
        if not cid or not provider:
            continue
        token = _str(raw, "access_token") or _str(creds, "access_token")
        permissions = raw.get("permissions")
        access = _str(permissions, "calendar") if isinstance(permissions, dict) else ""
        out.append(
            VendedConnection(
                id=cid,
                provider=provider,
                status=_str(raw, "status") or ("active" if token else "unavailable"),
                api_base_url=(
                    _str(raw, "api_base_url", "base_url") or DEFAULT_API_BASES.get(provider, "")
                ).rstrip("/"),
                access_token=token,
                expires_at=_when(raw.get("expires_at") or creds.get("expires_at")),
                calendar_access=access,
                reauth_url="" if token else _str(raw, "reauth_url"),
                detail="" if token else _str(raw, "detail"),
            )
        )
    return out


def _removed(body: Mapping[str, Any]) -> tuple[RemovedConnection, ...]:
    items = body.get("removed")
    out: list[RemovedConnection] = []
    for raw in items if isinstance(items, list) else []:
        if isinstance(raw, dict) and _str(raw, "connection_id"):
            out.append(
                RemovedConnection(
                    connection_id=_str(raw, "connection_id"),
                    provider=_str(raw, "provider"),
                    removed_at=_when(raw.get("removed_at")),
                    removed_by=_str(raw, "removed_by"),
                )
            )
    return tuple(out)


def vend_problem(status: int, body: object, *, connection_id: str | None = None) -> Exception:
    """The typed error for a vending problem calgate answered (``status``, parsed
    problem+json ``body``): 409 with a ``reauth_url`` is `ReauthRequired`; 404 with a
    ``removed`` list (or for one ``connection_id`` asked for) is `ConnectionRemoved` when
    it names removed connections, else `NotConnected`; anything else `ServerUnreachable`."""
    problem: Mapping[str, Any] = body if isinstance(body, dict) else {}
    detail = _str(problem, "detail") or f"HTTP {status}"
    if status == 409 and _str(problem, "reauth_url"):
        reauth_url = _str(problem, "reauth_url")
        connections = parse_vend({"connections": problem.get("connections")})
        cid = _str(problem, "connection_id") or (connections[0].id if connections else "")
        provider = _str(problem, "provider") or (connections[0].provider if connections else "")
        if cid and provider and all(c.id != cid for c in connections):  # none listed
            connections.append(VendedConnection(cid, provider, "reauth_required", ""))
        connections = [
            replace(c, detail=c.detail or detail, reauth_url=c.reauth_url or reauth_url)
            if c.id == cid
            else c
            for c in connections
        ]
        return ReauthRequired(
            detail,
            reauth_url=reauth_url,
            connection_id=cid,
            provider=provider,
            connections=tuple(connections),
        )
    if status == 404 and ("removed" in problem or (connection_id and "detail" in problem)):
        removed = _removed(problem)
        return (ConnectionRemoved if removed else NotConnected)(detail, removed=removed)
    return ServerUnreachable(f"credential vending failed: {detail}")


def _problem(response: httpx.Response) -> str:
    """The ``detail`` of calgate's problem+json (calgate never puts secrets there)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) and detail else f"HTTP {response.status_code}"


class ServiceApi:
    """HTTP calls to calgate over an injected ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")

    async def _request(
        self, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self.http.request(method, f"{self.base_url}{path}", headers=headers, **kw)
        except httpx.TransportError as exc:
            reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
            raise ServerUnreachable(f"cannot reach calgate at {self.base_url}: {reason}") from None

    async def sign_in(self, body: dict[str, str]) -> Session:
        r = await self._request("POST", "/v1/sessions", json=body)
        if r.status_code in (400, 401, 403, 404, 422):
            raise SignInFailed(f"sign-in refused: {_problem(r)}")
        if r.status_code != 201:
            raise ServerUnreachable(f"calgate answered {r.status_code} to sign-in")
        try:
            data = r.json()
            session = Session(
                token=str(data["token"]),
                expires_at=datetime.fromisoformat(str(data["expires_at"])),
                user_id=str(data["user"]["id"]),
                account_id=str(data["user"]["account_id"]),
            )
        except (ValueError, KeyError, TypeError):
            raise ServerUnreachable(f"{self.base_url} did not answer like calgate") from None
        log.info("signed in as user %s", session.user_id)
        return session

    async def vend(
        self, token: str, *, force_refresh: bool = False, connection_id: str | None = None
    ) -> list[VendedConnection]:
        params: dict[str, str] = {}
        if force_refresh:
            params["force_refresh"] = "true"
        if connection_id is not None:
            params["connection_id"] = connection_id
        r = await self._request("GET", "/v1/me/credentials", token=token, params=params)
        if r.status_code == 401:
            raise SessionExpired(f"calgate refused the session: {_problem(r)}")
        if r.status_code != 200:
            try:
                body = r.json()
            except ValueError:
                body = None
            error = vend_problem(r.status_code, body, connection_id=connection_id)
            log.info("credential vending answered %d: %s", r.status_code, type(error).__name__)
            raise error
        try:
            connections = parse_vend(r.json())
        except ValueError:
            raise ServerUnreachable(
                "credential vending answered something else than JSON"
            ) from None
        log.info("vended credentials for %d connection(s)", len(connections))
        return connections

    async def create_meeting(self, token: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/meetings`` with the R11 fields as given (calgate refuses any other
        field with 422, naming it): the meeting with its join link, passcode, invitation."""
        r = await self._request("POST", "/v1/meetings", token=token, json=dict(fields))
        if r.status_code == 401:
            raise SessionExpired(f"calgate refused the session: {_problem(r)}")
        if r.status_code != 201:
            if 400 <= r.status_code < 500:
                raise ScheduleRefused(
                    f"calgate refused the meeting: {_problem(r)}",
                    status=r.status_code,
                    fields=_problem_fields(r),
                )
            raise ServerUnreachable(f"scheduling failed: {_problem(r)}")
        try:
            body = r.json()
        except ValueError:
            raise ServerUnreachable("scheduling answered something else than JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise ServerUnreachable("scheduling answered without a meeting")
        log.info("scheduled meeting %s", body["id"])
        return body


def _problem_fields(response: httpx.Response) -> tuple[str, ...]:
    """The field names a 422 problem names (calgate never echoes their values)."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return ()
    names: list[str] = []
    for item in errors if isinstance(errors, list) else []:
        name = item.get("field") if isinstance(item, dict) else None
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)
