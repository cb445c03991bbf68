"""Fixtures for the reference client's tests (``from support.client_fixtures import *``):
a real calgate app (served on loopback: the notification streams need real HTTP) and the
provider sandbox (in process: the client's HTTP client mounts it at http://sandbox.test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from calgate.bootstrap import Runtime
from calgate.client import CalgateClient
from calgate.clock import FrozenClock
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import canary
from support.client_world import SANDBOX, ClientWorld, ManualTimer, SandboxVendor, client_world
from support.live import serve_app

__all__ = [
    "T0",
    "User",
    "calgate_url",
    "make_client",
    "publish",
    "seed_event",
    "settings",
    "signer",
    "timer",
    "user",
    "vendor",
    "world",
]

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


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
def settings(make_settings):  # type: ignore[no-untyped-def]
    return make_settings(heartbeat_seconds=0.5)


@pytest.fixture
async def world(signer: TokenSigner) -> AsyncIterator[ClientWorld]:
    async with client_world(signer) as w:
        w.core.clock.freeze(T0)
        yield w


@pytest.fixture
async def calgate_url(app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
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
async def vendor(world: ClientWorld) -> SandboxVendor:
    v = SandboxVendor(world)
    await v.connect("conn-google", "google")
    await v.connect("conn-ms", "microsoft")
    return v


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer()


@pytest.fixture
async def make_client(
    world: ClientWorld, calgate_url: str, vendor: SandboxVendor, timer: ManualTimer
) -> AsyncIterator[Callable[..., CalgateClient]]:
    """A CalgateClient whose HTTP client reaches the sandbox in process and calgate over
    loopback; a frozen clock at T0, the manual timer, fast reconnects."""
    made: list[tuple[CalgateClient, httpx.AsyncClient]] = []

    def factory(**kw: Any) -> CalgateClient:
        http = httpx.AsyncClient(mounts={SANDBOX: httpx.ASGITransport(app=world.app)}, timeout=10.0)
        options: dict[str, Any] = {
            "clock": FrozenClock(T0),
            "timer": timer,
            "vendor": vendor,
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
