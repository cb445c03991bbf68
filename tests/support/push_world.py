"""Change-notification tests in process: the provider sandbox (Google and Microsoft) whose
webhooks are POSTed into calgate's ASGI app, both on the test's frozen clock, and helpers to
drive the job runner the way a `calgate serve` would, one step at a time.

    async with push_world(clock, signer) as world:
        runtime = await build_runtime(settings, http=world.http, ...)
        world.attach(app)                      # webhooks now reach calgate
        await world.settle(runtime)            # deliveries drained, due jobs run, repeatedly
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from calgate.bootstrap import Runtime
from calgate.clock import Clock
from calgate.sandbox.app import create_sandbox_app
from calgate.sandbox.core import SandboxClock, SandboxCore
from calgate.sandbox.google import GoogleEmulator
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import MARKER
from support.connect import (
    CALGATE_HOST,
    CALLBACK,
    MS_APP,
    RoutingTransport,
    SandboxWorld,
    browser_history_hidden,
)

__all__ = ["PushWorld", "push_world"]


class PushWorld(SandboxWorld):
    hooks: dict[str, httpx.AsyncBaseTransport]

    def attach(self, calgate: ASGIApp) -> None:
        """Deliver the sandbox's webhooks (and validation handshakes) to ``calgate``."""
        self.hooks[CALGATE_HOST] = httpx.ASGITransport(app=calgate)

    async def deliveries(self, provider: str | None = None) -> list[dict[str, Any]]:
        params = {"provider": provider} if provider else {}
        r = await self.control.get("/_sandbox/deliveries", params=params)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()
        return result

    async def drain(self) -> None:
        assert self.core.webhooks is not None
        await self.core.webhooks.drain()

    async def settle(self, runtime: Runtime, rounds: int = 6) -> int:
        """Alternate draining webhook deliveries and running due jobs until both are quiet;
        returns how many jobs ran."""
        runner = runtime.job_runner(concurrency=1)
        total = 0
        for _ in range(rounds):
            await self.drain()
            ran = await runner.run_pending()
            total += ran
            await self.drain()
            if ran == 0:
                break
        return total


@asynccontextmanager
async def push_world(
    clock: Clock, signer: TokenSigner, *, marker: str = MARKER
) -> AsyncIterator[PushWorld]:
    hooks: dict[str, httpx.AsyncBaseTransport] = {}
    core = SandboxCore(clock=SandboxClock(real=clock.now))
    google = GoogleEmulator(core, token_marker=marker, redirect_uris=(CALLBACK,))
    microsoft = MicrosoftEmulator(core, signer=signer, token_marker=marker)
    microsoft.state.apps[MS_APP].redirect_uris.append(CALLBACK)
    async with httpx.AsyncClient(transport=RoutingTransport(hooks), timeout=10) as webhook_client:
        app = create_sandbox_app([google, microsoft], core=core, webhook_client=webhook_client)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
            ) as control,
        ):
            world = PushWorld(core, app, google, microsoft, http, control)
            world.hooks = hooks
            try:
                with browser_history_hidden():
                    yield world
            finally:
                for browser in world._browsers:
                    await browser.aclose()
