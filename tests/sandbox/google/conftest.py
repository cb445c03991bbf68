"""The Google emulator in process: an empty world (no default seed) with a test OAuth client,
users and helpers to get tokens the way a client would (authorize → code → token)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.google import GoogleEmulator

from support.canary import MARKER, CanaryGuard, canary
from support.webhooks import Receiver

G = "https://www.googleapis.com/auth/"
CALENDAR = G + "calendar"
CALENDAR_READONLY = G + "calendar.readonly"
CONTACTS_READONLY = G + "contacts.readonly"
REDIRECT = "https://app.example.test/oauth/callback"
CAL_API = "/google/calendar/v3"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class GoogleWorld:
    core: SandboxCore
    emulator: GoogleEmulator
    app: SandboxApp
    http: httpx.AsyncClient
    receiver: Receiver
    client_id: str = ""
    client_secret: str = ""
    _users: set[str] = field(default_factory=set)

    async def add_user(self, email: str, time_zone: str = "Europe/Berlin") -> str:
        r = await self.http.post(
            "/_sandbox/google/users", json={"email": email, "time_zone": time_zone}
        )
        assert r.status_code == 201, r.text
        return email

    async def add_client(self, mode: str = "production") -> tuple[str, str]:
        secret = canary("client-secret")
        r = await self.http.post(
            "/_sandbox/google/clients",
            json={"redirect_uris": [REDIRECT], "mode": mode, "client_secret": secret},
        )
        assert r.status_code == 201, r.text
        return r.json()["client_id"], secret

    async def authorize(
        self,
        user: str,
        scopes: tuple[str, ...] = (CALENDAR,),
        *,
        client_id: str | None = None,
        challenge: str | None = None,
        **extra: str,
    ) -> httpx.Response:
        params = {
            "client_id": client_id or self.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": " ".join(scopes),
            "access_type": "offline",
            "login_hint": user,
            "state": "st-123",
            **extra,
        }
        if challenge:
            params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        return await self.http.get("/google/o/oauth2/v2/auth", params=params)

    async def code(self, user: str, scopes: tuple[str, ...] = (CALENDAR,), **extra: str) -> str:
        r = await self.authorize(user, scopes, **extra)
        assert r.status_code == 302, r.text
        query = parse_qs(urlsplit(r.headers["location"]).query)
        return query["code"][0]

    async def exchange(self, code: str, **extra: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": REDIRECT,
            **extra,
        }
        return await self.http.post("/google/token", data=form)

    async def tokens(
        self, user: str = "alice@example.com", scopes: tuple[str, ...] = (CALENDAR,), **extra: str
    ) -> dict[str, Any]:
        verifier, challenge = pkce()
        code = await self.code(user, scopes, challenge=challenge, **extra)
        r = await self.exchange(code, code_verifier=verifier)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def refresh(self, refresh_token: str, **extra: str) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            **extra,
        }
        return await self.http.post("/google/token", data=form)

    async def bearer(
        self, user: str = "alice@example.com", scopes: tuple[str, ...] = (CALENDAR,)
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await self.tokens(user, scopes))['access_token']}"}

    async def user_insert(self, calendar: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a calendar as its user would (control API): fires push channels."""
        r = await self.http.post(f"/_sandbox/google/calendars/{calendar}/events", json=body)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.core.clock.advance(timedelta(**delta).total_seconds())

    async def drain(self) -> None:
        assert self.core.webhooks is not None
        await self.core.webhooks.drain()


@pytest.fixture
async def google(
    core: SandboxCore, receiver: Receiver, canary_guard: CanaryGuard
) -> AsyncIterator[GoogleWorld]:
    """Users alice@ and bob@example.com, one production OAuth client; webhooks go to the
    in-process ``receiver``; every error body is checked for leaked canaries (the emulator's
    tokens carry the marker)."""
    emulator = GoogleEmulator(core, seed=False, token_marker=MARKER)
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app))
    app = create_sandbox_app([emulator], core=core, webhook_client=hooks)
    assert core.webhooks is not None
    core.webhooks.backoff = 0.01

    async def check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
            canary_guard.check_text(f"HTTP {response.status_code} body", response.text)

    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://sandbox.test",
            event_hooks={"response": [check]},
        ) as http,
    ):
        world = GoogleWorld(core, emulator, app, http, receiver)
        await world.add_user("alice@example.com")
        await world.add_user("bob@example.com", "America/New_York")
        world.client_id, world.client_secret = await world.add_client()
        yield world
    await hooks.aclose()
