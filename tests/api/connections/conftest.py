"""Connection tests in process: calgate (ASGI) with the Google and Microsoft emulators
(ASGI), both on the test's frozen clock; a browser fixture that carries cookies between
them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import FrozenClock
from calgate.sandbox.microsoft.tokens import TokenSigner

from ..conftest import SignedIn
from support.connect import SANDBOX, SandboxWorld, sandbox_world
from support.settings import IsolatedSettings


@pytest.fixture(scope="session")
def ms_signer() -> TokenSigner:
    return TokenSigner()  # RSA key generation is slow: one per session


@pytest.fixture
async def sandbox(clock: FrozenClock, ms_signer: TokenSigner) -> AsyncIterator[SandboxWorld]:
    async with sandbox_world(clock, ms_signer) as world:
        yield world


@pytest.fixture
def settings(make_settings: Callable[..., IsolatedSettings]) -> IsolatedSettings:
    return make_settings(sandbox_url=SANDBOX, session_ttl_seconds=86_400)


@pytest.fixture
async def runtime(
    settings: IsolatedSettings, clock: FrozenClock, sandbox: SandboxWorld
) -> AsyncIterator[Runtime]:
    rt = await build_runtime(settings, clock=clock, auto_migrate=False, http=sandbox.http)
    try:
        yield rt
    finally:
        await rt.aclose()


@pytest.fixture
def browser(sandbox: SandboxWorld, app: FastAPI) -> httpx.AsyncClient:
    return sandbox.browser(app)


@pytest.fixture
async def alice(
    make_tenant: Callable[..., Awaitable[Any]], make_user: Callable[..., Awaitable[SignedIn]]
) -> SignedIn:
    tenant = await make_tenant("Acme")
    user = await make_user(tenant, "alice@acme.example")
    user.tenant = tenant  # type: ignore[attr-defined]
    return user
