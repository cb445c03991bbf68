"""Calendar connections in tests: the provider sandbox in process (or over real HTTP), a
"browser" that follows redirects between calgate and the sandbox, and the connect flow
driven the way a user's app and browser would drive it.

    async with sandbox_world(clock, signer) as world:        # Google + Microsoft emulators
        runtime = await build_runtime(settings, http=world.http, ...)
        browser = world.browser(calgate_app)                 # cookies, redirects, both hosts
        result = await connect(client, browser, user.headers, "google", "alice@example.com")
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from calgate.clock import Clock
from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxClock, SandboxCore
from calgate.sandbox.google import GoogleEmulator
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import MARKER

__all__ = [
    "CALGATE_HOST",
    "CALLBACK",
    "GOOGLE_USER",
    "MS_APP",
    "MS_USER",
    "SANDBOX",
    "RoutingTransport",
    "SandboxWorld",
    "browser_history_hidden",
    "connect",
    "sandbox_world",
]

SANDBOX = "http://sandbox.test"
CALGATE_HOST = "testserver"
CALLBACK = f"http://{CALGATE_HOST}/v1/oauth/callback"
GOOGLE_CLIENT = "000000000000-calgate-sandbox.apps.googleusercontent.com"
MS_APP = "5a4db0c5-a99c-4000-8000-000000000001"
GOOGLE_USER = "alice@example.com"
MS_USER = "alice@contoso.example"


class _BrowserHistory(logging.Filter):
    """httpx logs every request URL at INFO; the test browser's callback URLs carry
    authorization codes (as a real browser's history does). Those lines are the test's own,
    not calgate's: drop them so the canary guard watches what calgate logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/v1/oauth/callback?" not in record.getMessage()


_HISTORY = _BrowserHistory()
_HTTP_LOGGERS = ("httpx", "httpcore.http11", "httpcore.http2")


@contextmanager
def browser_history_hidden() -> Iterator[None]:
    """Drop the test browser's own request/response log lines that carry callback URLs."""
    for name in _HTTP_LOGGERS:
        logging.getLogger(name).addFilter(_HISTORY)
    try:
        yield
    finally:
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(_HISTORY)


class RoutingTransport(httpx.AsyncBaseTransport):
    """Sends each request to the transport of its host (calgate, the sandbox…)."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no route to {request.url.host}", request=request)
        return await transport.handle_async_request(request)


@dataclass
class SandboxWorld:
    core: SandboxCore
    app: SandboxApp
    google: GoogleEmulator
    microsoft: MicrosoftEmulator
    http: httpx.AsyncClient  # calgate's outgoing client: reaches the sandbox
    control: httpx.AsyncClient  # the test's client for the control API
    _browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, calgate: ASGIApp | None = None) -> httpx.AsyncClient:
        """A browser: a cookie jar, redirects followed across calgate and the sandbox."""
        routes: dict[str, httpx.AsyncBaseTransport] = {
            "sandbox.test": httpx.ASGITransport(app=self.app)
        }
        if calgate is not None:
            routes[CALGATE_HOST] = httpx.ASGITransport(app=calgate)
        client = httpx.AsyncClient(
            transport=RoutingTransport(routes),
            follow_redirects=True,
            headers={"Accept": "application/json"},
        )
        self._browsers.append(client)
        return client

    async def counters(self, provider: str) -> dict[str, int]:
        r = await self.control.get("/_sandbox/counters", params={"provider": provider})
        r.raise_for_status()
        result: dict[str, int] = r.json()
        return result


@asynccontextmanager
async def sandbox_world(
    clock: Clock, signer: TokenSigner, *, marker: str = MARKER
) -> AsyncIterator[SandboxWorld]:
    """Seeded Google and Microsoft emulators whose clock follows ``clock`` and whose tokens
    carry the canary ``marker``; calgate's callback URL is a registered redirect URI."""
    core = SandboxCore(clock=SandboxClock(real=clock.now))
    google = GoogleEmulator(core, token_marker=marker, redirect_uris=(CALLBACK,))
    microsoft = MicrosoftEmulator(core, signer=signer, token_marker=marker)
    microsoft.state.apps[MS_APP].redirect_uris.append(CALLBACK)
    app = create_sandbox_app([google, microsoft], core=core)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as control,
    ):
        world = SandboxWorld(core, app, google, microsoft, http, control)
        try:
            with browser_history_hidden():
                yield world
        finally:
            for browser in world._browsers:
                await browser.aclose()


async def start(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    provider: str,
    login_hint: str | None = None,
) -> dict[str, Any]:
    body = {"login_hint": login_hint} if login_hint else {}
    r = await client.post(f"/v1/me/connections/{provider}/authorize", json=body, headers=headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def connect(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    headers: dict[str, str],
    provider: str,
    login_hint: str,
) -> dict[str, Any]:
    """The whole flow: the app asks for the URL, the browser opens it, consents (the
    sandbox auto-consents for ``login_hint``) and lands on calgate's callback."""
    started = await start(client, headers, provider, login_hint)
    r = await browser.get(started["authorization_url"])
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    assert result["status"] in ("connected", "reconnected"), result
    return result
