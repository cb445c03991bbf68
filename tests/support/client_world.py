"""A provider world for the reference client's tests: the Google and Microsoft emulators in
one sandbox app, a user in each with an OAuth grant obtained the way a real app would get
one (authorize with PKCE → code → token), and what stands in for calgate's token vending
until it exists (issue #5): :class:`SandboxVendor`, a tiny fake of the client's ``Vendor``
port that answers with those grants' access tokens and refreshes them on
``force_refresh``.

Events are seeded provider-neutrally (:class:`calgate.sandbox.model.SeedEvent` JSON), so
one definition lands in both calendars.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from asgi_lifespan import LifespanManager

from calgate.client import VendedConnection
from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.google import GoogleEmulator
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import MARKER, canary

SANDBOX = "http://sandbox.test"
REDIRECT = "https://app.example.test/oauth/callback"
GOOGLE_USER = "alice@example.com"
MS_DOMAIN = "contoso.example"
MS_USER = f"alice@{MS_DOMAIN}"
GOOGLE_CAL = f"{SANDBOX}/google/calendar/v3"
GRAPH = f"{SANDBOX}/microsoft/graph/v1.0"

__all__ = ["ClientWorld", "ManualTimer", "SandboxVendor", "client_world"]


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class ClientWorld:
    core: SandboxCore
    app: SandboxApp
    http: httpx.AsyncClient  # to the sandbox, in process
    google_client: tuple[str, str] = ("", "")
    ms_tenant: str = ""
    ms_client: tuple[str, str] = ("", "")

    async def control(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.http.request(method, f"/_sandbox{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def seed(self, *events: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The same events in alice's Google and Microsoft calendars: (google ids, graph ids)."""
        g = await self.control("POST", f"/google/calendars/{GOOGLE_USER}/seed", json=list(events))
        m = await self.control("POST", f"/microsoft/users/{MS_USER}/seed", json={"events": events})
        return list(g["ids"]), list(m["created"])

    async def rename(self, google_id: str | None, graph_id: str | None, subject: str) -> None:
        """Change events as their user would (the calendars' own change paths)."""
        if google_id:
            path = f"/google/calendars/{GOOGLE_USER}/events/{google_id}"
            await self.control("PATCH", path, json={"summary": subject})
        if graph_id:
            path = f"/microsoft/users/{MS_USER}/events/{graph_id}"
            await self.control("PATCH", path, json={"subject": subject})

    async def counters(self) -> dict[str, int]:
        return dict(await self.control("GET", "/counters"))

    async def google_grant(self) -> dict[str, Any]:
        client_id, secret = self.google_client
        verifier, challenge = _pkce()
        r = await self.http.get(
            "/google/o/oauth2/v2/auth",
            params={
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": "https://www.googleapis.com/auth/calendar.readonly",
                "access_type": "offline",
                "login_hint": GOOGLE_USER,
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert r.status_code == 302, r.text
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        r = await self.http.post(
            "/google/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def ms_grant(self) -> dict[str, Any]:
        client_id = self.ms_client[0]
        verifier, challenge = _pkce()
        r = await self.http.get(
            f"/microsoft/{self.ms_tenant}/oauth2/v2.0/authorize",
            params={
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT,
                "scope": "openid offline_access Calendars.Read",
                "login_hint": MS_USER,
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert r.status_code == 302, r.text
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        r = await self._ms_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            }
        )
        return dict(r)

    async def _ms_token(self, form: dict[str, str]) -> dict[str, Any]:
        r = await self._ms_token_response(form)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def _ms_token_response(self, form: dict[str, str]) -> httpx.Response:
        client_id, secret = self.ms_client
        return await self.http.post(
            f"/microsoft/{self.ms_tenant}/oauth2/v2.0/token",
            data={"client_id": client_id, "client_secret": secret, **form},
        )

    async def refresh(self, provider: str, refresh_token: str) -> str | None:
        """A new access token, or None when the grant is dead (invalid_grant)."""
        if provider == "microsoft":
            r = await self._ms_token_response(
                {
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "scope": "Calendars.Read",
                }
            )
        else:
            client_id, secret = self.google_client
            r = await self.http.post(
                "/google/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
        if r.status_code == 400 and r.json().get("error") == "invalid_grant":
            return None
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@asynccontextmanager
async def client_world(signer: TokenSigner | None = None) -> AsyncIterator[ClientWorld]:
    core = SandboxCore()
    google = GoogleEmulator(core, seed=False, token_marker=MARKER)
    microsoft = MicrosoftEmulator(core, seed=False, signer=signer)
    app = create_sandbox_app([google, microsoft], core=core)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as http,
    ):
        world = ClientWorld(core, app, http)
        await world.control("POST", "/google/users", json={"email": GOOGLE_USER})
        gsecret = canary("google-client-secret")
        made = await world.control(
            "POST",
            "/google/clients",
            json={"redirect_uris": [REDIRECT], "mode": "production", "client_secret": gsecret},
        )
        world.google_client = (made["client_id"], gsecret)
        tenant = await world.control("POST", "/microsoft/tenants", json={"domain": MS_DOMAIN})
        world.ms_tenant = tenant["id"]
        msecret = canary("ms-client-secret")
        made = await world.control(
            "POST",
            "/microsoft/apps",
            json={
                "display_name": "calgate client test",
                "client_secret": msecret,
                "redirect_uris": [REDIRECT],
                "application_permissions": [],
            },
        )
        world.ms_client = (made["client_id"], msecret)
        await world.control(
            "POST",
            "/microsoft/users",
            json={"upn": MS_USER, "display_name": "Alice Anders", "time_zone": "Europe/Berlin"},
        )
        yield world


@dataclass
class _Grant:
    provider: str
    base: str
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    status: str = "active"


@dataclass
class SandboxVendor:
    """Stands in for ``GET /v1/me/credentials`` (issue #5): the client's ``Vendor`` port,
    answering with real sandbox grants. ``calls`` records ``(force_refresh, connection_id)``."""

    world: ClientWorld
    grants: dict[str, _Grant] = field(default_factory=dict)
    calls: list[tuple[bool, str | None]] = field(default_factory=list)

    async def connect(self, connection_id: str, provider: str) -> None:
        grant = await (
            self.world.ms_grant() if provider == "microsoft" else self.world.google_grant()
        )
        base = GRAPH if provider == "microsoft" else GOOGLE_CAL
        self.grants[connection_id] = _Grant(
            provider, base, grant["refresh_token"], grant["access_token"]
        )

    def tokens(self) -> list[str]:
        return [t for g in self.grants.values() for t in (g.access_token, g.refresh_token)]

    async def __call__(
        self, force_refresh: bool, connection_id: str | None
    ) -> list[VendedConnection]:
        self.calls.append((force_refresh, connection_id))
        out = []
        for cid, grant in self.grants.items():
            if force_refresh and connection_id in (None, cid) and grant.status == "active":
                fresh = await self.world.refresh(grant.provider, grant.refresh_token)
                if fresh is None:  # what calgate does with a dead grant (R6)
                    grant.status, grant.access_token = "reauth_required", ""
                else:
                    grant.access_token = fresh
            out.append(
                VendedConnection(
                    id=cid,
                    provider=grant.provider,
                    status=grant.status,
                    api_base_url=grant.base,
                    access_token=grant.access_token if grant.status == "active" else "",
                )
            )
        return out


class ManualTimer:
    """The client's ``Timer``, driven by the test: ``sleep`` records the delay asked for and
    returns only when the test calls :meth:`fire`."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self.sleeping = asyncio.Event()
        self._fire = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        self.sleeping.set()
        await self._fire.wait()
        self._fire.clear()

    def fire(self) -> None:
        self.sleeping.clear()
        self._fire.set()
