"""Change-notification tests in process: calgate (ASGI) and the Google and Microsoft
emulators (ASGI) on the test's frozen clock, the sandbox's webhooks POSTed into calgate,
and the job runner driven step by step (``world.settle(runtime)``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import FrozenClock
from calgate.sandbox.microsoft.tokens import TokenSigner

from ..conftest import SignedIn
from support.connect import SANDBOX, connect
from support.push_world import PushWorld, push_world
from support.settings import IsolatedSettings


@pytest.fixture(scope="session")
def ms_signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def world(clock: FrozenClock, ms_signer: TokenSigner) -> AsyncIterator[PushWorld]:
    async with push_world(clock, ms_signer) as w:
        yield w


@pytest.fixture
def settings(make_settings: Callable[..., IsolatedSettings]) -> IsolatedSettings:
    return make_settings(sandbox_url=SANDBOX, session_ttl_seconds=86_400)


@pytest.fixture
async def runtime(
    settings: IsolatedSettings, clock: FrozenClock, world: PushWorld
) -> AsyncIterator[Runtime]:
    rt = await build_runtime(settings, clock=clock, auto_migrate=False, http=world.http)
    try:
        yield rt
    finally:
        await rt.aclose()


@pytest.fixture
def attached(world: PushWorld, app: FastAPI) -> PushWorld:
    world.attach(app)
    return world


@pytest.fixture
def browser(world: PushWorld, app: FastAPI) -> httpx.AsyncClient:
    return world.browser(app)


@pytest.fixture
async def alice(
    make_tenant: Callable[..., Awaitable[Any]], make_user: Callable[..., Awaitable[SignedIn]]
) -> SignedIn:
    tenant = await make_tenant("Acme")
    user = await make_user(tenant, "alice@acme.example")
    user.tenant = tenant  # type: ignore[attr-defined]
    return user


@pytest.fixture
def connected(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    alice: SignedIn,
    attached: PushWorld,
    runtime: Runtime,
) -> Callable[[str], Awaitable[str]]:
    """Connect alice's calendar at ``provider``, let calgate subscribe and sync; returns
    the connection id."""

    async def go(provider: str) -> str:
        login = "alice@example.com" if provider == "google" else "alice@contoso.example"
        made = await connect(client, browser, alice.headers, provider, login)
        await attached.settle(runtime)
        return str(made["connection_id"])

    return go


async def rows(runtime: Runtime, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r._mapping) for r in result]


async def execute(runtime: Runtime, sql: str, **params: Any) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def subscriptions(runtime: Runtime) -> list[dict[str, Any]]:
    return await rows(runtime, "SELECT * FROM subscriptions ORDER BY created_at")


async def changed_messages(runtime: Runtime, connection_id: str) -> int:
    found = await rows(runtime, "SELECT data FROM user_events WHERE type = 'calendar.changed'")
    n = 0
    for r in found:
        data = r["data"]
        if isinstance(data, str):
            import json

            data = json.loads(data)
        if str(uuid.UUID(data["connection_id"])) == str(uuid.UUID(connection_id)):
            n += 1
    return n


async def queued_jobs(runtime: Runtime, kind: str) -> int:
    found = await rows(
        runtime, "SELECT count(*) AS n FROM jobs WHERE kind = :k AND state = 'queued'", k=kind
    )
    return int(found[0]["n"])
