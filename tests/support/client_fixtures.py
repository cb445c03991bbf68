"""Fixtures for the reference client's tests (``from support.client_fixtures import *``):
a real calgate app (served on loopback: the notification streams need real HTTP; in process
for the test's own calls) and the provider sandbox (in process: calgate's outgoing HTTP and
the client's HTTP client reach it at http://sandbox.test).

calgate runs with ``CALGATE_SANDBOX_URL`` and OAuth apps of its own registered in the
sandbox; ``connected`` connects alice's Google and Microsoft calendars through calgate's
real flow, and the client vends her tokens from calgate (``GET /v1/me/credentials``, R10).
What calgate does with them is what the sandbox says: ``world.counters()`` (e.g.
``google.token.refresh``), ``world.revoke(provider)`` for a grant that dies at the provider,
``/_sandbox/faults`` for a provider refusing a token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from calgate.bootstrap import Runtime, build_runtime
from calgate.client import CalgateClient
from calgate.clock import FrozenClock
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import canary
from support.client_world import (
    GOOGLE_USER,
    MS_USER,
    SANDBOX,
    ClientWorld,
    ManualTimer,
    client_world,
)
from support.connect import RoutingTransport, browser_history_hidden, connect
from support.live import serve_app
from support.settings import IsolatedSettings

__all__ = [
    "CALLBACK",
    "REAUTH",
    "T0",
    "User",
    "calgate_apps",
    "calgate_url",
    "connected",
    "make_client",
    "publish",
    "reconnect",
    "runtime",
    "seed_event",
    "session",
    "settings",
    "signer",
    "timer",
    "user",
    "world",
]

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CALLBACK = "http://testserver/v1/oauth/callback"  # calgate's public URL in tests
REAUTH = "http://testserver/v1/me/connections/{}/authorize"  # a dead grant's reauth_url


@dataclass
class User:
    account_id: str
    user_id: str
    email: str
    password: str


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def world(signer: TokenSigner) -> AsyncIterator[ClientWorld]:
    async with client_world(signer) as w:
        w.core.clock.freeze(T0)
        yield w


@pytest.fixture
async def calgate_apps(world: ClientWorld) -> dict[str, Any]:
    """calgate's own OAuth apps in the sandbox, with calgate's callback registered."""
    gsecret = canary("calgate-google-secret")
    google = await world.control(
        "POST",
        "/google/clients",
        json={"redirect_uris": [CALLBACK], "mode": "production", "client_secret": gsecret},
    )
    msecret = canary("calgate-ms-secret")
    microsoft = await world.control(
        "POST",
        "/microsoft/apps",
        json={"display_name": "calgate", "client_secret": msecret, "redirect_uris": [CALLBACK]},
    )
    return {
        "google_client_id": google["client_id"],
        "google_client_secret": gsecret,
        "microsoft_client_id": microsoft["client_id"],
        "microsoft_client_secret": msecret,
    }


@pytest.fixture
def settings(
    make_settings: Callable[..., IsolatedSettings], calgate_apps: dict[str, Any]
) -> IsolatedSettings:
    return make_settings(heartbeat_seconds=0.5, sandbox_url=SANDBOX, **calgate_apps)


@pytest.fixture
async def runtime(
    settings: IsolatedSettings, clock: FrozenClock, world: ClientWorld
) -> AsyncIterator[Runtime]:
    """calgate whose outgoing HTTP (token exchange, refresh, revocation) reaches the sandbox."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.app)) as http:
        rt = await build_runtime(settings, clock=clock, auto_migrate=False, http=http)
        try:
            yield rt
        finally:
            await rt.aclose()


@pytest.fixture
async def calgate_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve_app(app) as url:
        yield url


@pytest.fixture
async def user(client: httpx.AsyncClient, make_tenant) -> User:  # type: ignore[no-untyped-def]
    tenant = await make_tenant("Acme")
    password = canary("password")
    r = await client.post(
        f"/v1/accounts/{tenant.account_id}/users",
        json={"email": "alice@example.com", "password": password},
        headers=tenant.admin,
    )
    assert r.status_code == 201, r.text
    return User(tenant.account_id, r.json()["id"], "alice@example.com", password)


@pytest.fixture
async def session(client: httpx.AsyncClient, user: User) -> dict[str, str]:
    """A session of alice's own (another app of hers), for the test's calls to calgate."""
    r = await client.post("/v1/sessions", json={"email": user.email, "password": user.password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@asynccontextmanager
async def _browser(app: FastAPI, world: ClientWorld) -> AsyncIterator[httpx.AsyncClient]:
    """A browser that reaches calgate and the sandbox in process."""
    routes: dict[str, httpx.AsyncBaseTransport] = {
        "sandbox.test": httpx.ASGITransport(app=world.app),
        "testserver": httpx.ASGITransport(app=app),
    }
    async with httpx.AsyncClient(
        transport=RoutingTransport(routes),
        follow_redirects=True,
        headers={"Accept": "application/json"},
    ) as browser:
        yield browser


@pytest.fixture
async def connected(
    client: httpx.AsyncClient, app: FastAPI, world: ClientWorld, session: dict[str, str]
) -> AsyncIterator[dict[str, str]]:
    """alice's Google and Microsoft calendars connected through calgate's flow, driven by a
    browser that reaches calgate and the sandbox in process: provider -> connection id."""
    async with _browser(app, world) as browser:
        with browser_history_hidden():
            made = {
                provider: (await connect(client, browser, session, provider, login))[
                    "connection_id"
                ]
                for provider, login in (("google", GOOGLE_USER), ("microsoft", MS_USER))
            }
            yield made


@pytest.fixture
async def reconnect(
    client: httpx.AsyncClient, app: FastAPI, world: ClientWorld, session: dict[str, str]
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Connect one of alice's calendars again through calgate's flow (as after a dead
    grant): provider -> connection id."""
    logins = {"google": GOOGLE_USER, "microsoft": MS_USER}
    async with _browser(app, world) as browser:

        async def again(provider: str) -> str:
            with browser_history_hidden():
                done = await connect(client, browser, session, provider, logins[provider])
            assert done["status"] == "reconnected", done
            return str(done["connection_id"])

        yield again


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer()


@pytest.fixture
async def make_client(
    world: ClientWorld, calgate_url: str, timer: ManualTimer
) -> AsyncIterator[Callable[..., CalgateClient]]:
    """A CalgateClient that vends from calgate over loopback and reaches the sandbox in
    process; a frozen clock at T0, the manual timer, fast reconnects."""
    made: list[tuple[CalgateClient, httpx.AsyncClient]] = []

    def factory(**kw: Any) -> CalgateClient:
        http = httpx.AsyncClient(mounts={SANDBOX: httpx.ASGITransport(app=world.app)}, timeout=10.0)
        options: dict[str, Any] = {
            "clock": FrozenClock(T0),
            "timer": timer,
            "reconnect_backoff": (0.02, 0.2),
        }
        options.update(kw)
        c = CalgateClient(calgate_url, http, **options)
        made.append((c, http))
        return c

    yield factory
    for c, http in made:
        await c.aclose()
        await http.aclose()


async def publish(runtime: Runtime, user: User, kind: str, connection_id: str) -> None:
    async with runtime.uow() as uow:
        await runtime.hub.publish(
            uow,
            account_id=uuid.UUID(user.account_id),
            user_id=uuid.UUID(user.user_id),
            type=kind,
            data={"connection_id": connection_id},
        )
        await uow.commit()


def seed_event(
    subject: str, *, hours: float = 24, minutes: int = 30, **extra: Any
) -> dict[str, Any]:
    start = T0 + timedelta(hours=hours)
    return {
        "subject": subject,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "time_zone": "Europe/Berlin",
        **extra,
    }
