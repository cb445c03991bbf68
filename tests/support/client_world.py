"""A provider world for the reference client's tests: the Google and Microsoft emulators in
one sandbox app, with alice in each (Google: alice@example.com; Microsoft: a user of the
contoso.example tenant). The tests connect her calendars to calgate through calgate's own
OAuth flow and the client vends her tokens from calgate (``GET /v1/me/credentials``, R10):
see ``support.client_fixtures``. Both emulators put the canary marker in the refresh tokens
they issue (Google in its access tokens too), so the canary guard notices one where it must
never be.

Events are seeded provider-neutrally (:class:`calgate.sandbox.model.SeedEvent` JSON), so
one definition lands in both calendars; grants are revoked as an admin would revoke them
(:meth:`ClientWorld.revoke`), and ``/_sandbox/counters`` says what the providers were asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.google import GoogleEmulator
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import MARKER

SANDBOX = "http://sandbox.test"
GOOGLE_USER = "alice@example.com"
MS_DOMAIN = "contoso.example"
MS_USER = f"alice@{MS_DOMAIN}"

__all__ = ["GOOGLE_USER", "MS_USER", "SANDBOX", "ClientWorld", "ManualTimer", "client_world"]


@dataclass
class ClientWorld:
    core: SandboxCore
    app: SandboxApp
    http: httpx.AsyncClient  # to the sandbox, in process

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

    async def revoke(self, provider: str) -> None:
        """An admin removes every app's access to alice's calendar at ``provider``: her
        refresh tokens and their access tokens die (the next refresh is ``invalid_grant``)."""
        user = GOOGLE_USER if provider == "google" else MS_USER
        await self.control("POST", f"/{provider}/users/{user}/revoke", json={})

    async def counters(self) -> dict[str, int]:
        """What the providers were asked so far, e.g. ``google.token.refresh``."""
        return dict(await self.control("GET", "/counters"))


@asynccontextmanager
async def client_world(signer: TokenSigner | None = None) -> AsyncIterator[ClientWorld]:
    core = SandboxCore()
    google = GoogleEmulator(core, seed=False, token_marker=MARKER)
    microsoft = MicrosoftEmulator(core, seed=False, signer=signer, token_marker=MARKER)
    app = create_sandbox_app([google, microsoft], core=core)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as http,
    ):
        world = ClientWorld(core, app, http)
        await world.control("POST", "/google/users", json={"email": GOOGLE_USER})
        await world.control("POST", "/microsoft/tenants", json={"domain": MS_DOMAIN})
        await world.control(
            "POST",
            "/microsoft/users",
            json={"upn": MS_USER, "display_name": "Alice Anders", "time_zone": "Europe/Berlin"},
        )
        yield world


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
