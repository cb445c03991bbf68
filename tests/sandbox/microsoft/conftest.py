"""The Microsoft emulator in process: an empty world (no default seed) built through the control
API — a tenant, an app registration with a canary secret, users, a room — and helpers that get
tokens the way a client would (authorize → code + PKCE → token; client credentials).

Webhooks go to :class:`GraphReceiver`, a Starlette app that answers the validation handshake
(or fails it on purpose) and records notifications; the sandbox's dispatcher reaches it over
``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.canary import CanaryGuard, canary

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
GRAPH = "/microsoft/graph/v1.0"
REDIRECT = "https://app.example.test/v1/oauth/callback"
RECEIVER = "https://hooks.example.test"
DOMAIN = "contoso.example"
ALICE, BOB, ROOM = f"alice@{DOMAIN}", f"bob@{DOMAIN}", f"room1@{DOMAIN}"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class GraphReceiver:
    """``mode``: ``echo`` (correct handshake), ``json`` (echo wrapped in JSON), ``status`` (500),
    ``slow`` (sleeps ``delay`` seconds first)."""

    mode: str = "echo"
    delay: float = 0.0
    validations: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.validations.append(f"{request.url.path}?{request.url.query}")
            if self.mode == "slow":
                await asyncio.sleep(self.delay)
            if self.mode == "status":
                return Response(status_code=500)
            if self.mode == "json":
                return Response(json.dumps({"token": token}), media_type="application/json")
            return PlainTextResponse(token)
        body = json.loads(await request.body())
        target = self.lifecycle if request.url.path.endswith("/lifecycle") else self.notifications
        target.extend(body["value"])
        self.arrived.set()
        return Response(status_code=202)


@dataclass
class MsWorld:
    core: SandboxCore
    emulator: MicrosoftEmulator
    app: SandboxApp
    http: httpx.AsyncClient
    receiver: GraphReceiver
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    users: dict[str, str] = field(default_factory=dict)  # upn -> object id

    async def control(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.http.request(method, f"/_sandbox/microsoft{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def add_user(
        self, upn: str, name: str, tz: str = "Europe/Berlin", room: bool = False
    ) -> str:
        body = {"upn": upn, "display_name": name, "time_zone": tz, "is_room": room}
        user = await self.control("POST", "/users", json=body)
        self.users[upn] = user["id"]
        return str(user["id"])

    async def authorize(
        self,
        user: str,
        scope: str,
        *,
        challenge: str | None = None,
        client_id: str | None = None,
        **extra: str,
    ) -> httpx.Response:
        params = {
            "client_id": client_id or self.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": scope,
            "login_hint": user,
            "state": "st-1",
            **extra,
        }
        if challenge:
            params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        return await self.http.get(
            f"/microsoft/{self.tenant_id}/oauth2/v2.0/authorize", params=params
        )

    async def code(self, user: str, scope: str, challenge: str | None = None) -> str:
        r = await self.authorize(user, scope, challenge=challenge)
        assert r.status_code == 302, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["code"][0]

    async def token_request(
        self, data: dict[str, str], tenant: str | None = None
    ) -> httpx.Response:
        form = {"client_id": self.client_id, "client_secret": self.client_secret, **data}
        return await self.http.post(
            f"/microsoft/{tenant or self.tenant_id}/oauth2/v2.0/token", data=form
        )

    async def user_tokens(
        self, user: str = ALICE, scopes: str = "Calendars.ReadWrite"
    ) -> dict[str, Any]:
        verifier, challenge = pkce()
        scope = f"openid profile offline_access {scopes}"
        code = await self.code(user, scope, challenge)
        r = await self.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            }
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def user_token(self, user: str = ALICE, scopes: str = "Calendars.ReadWrite") -> str:
        return str((await self.user_tokens(user, scopes))["access_token"])

    async def app_token(self) -> str:
        r = await self.token_request(
            {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    async def graph(self, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return await self.http.request(method, f"{GRAPH}{path}", headers=headers, **kw)

    async def drain(self) -> None:
        assert self.core.webhooks is not None
        await self.core.webhooks.drain()


@pytest.fixture
def core() -> SandboxCore:
    """A sandbox core whose clock is frozen at T0 (advance it to make things expire)."""
    sandbox = SandboxCore()
    sandbox.clock.freeze(T0)
    return sandbox


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    """One signing key for the session: generating RSA keys per test is slow."""
    return TokenSigner()


@pytest.fixture
async def world(
    core: SandboxCore, signer: TokenSigner, canary_guard: CanaryGuard
) -> AsyncIterator[MsWorld]:
    emulator = MicrosoftEmulator(core, seed=False, signer=signer)
    receiver = GraphReceiver()
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app))
    app = create_sandbox_app([emulator], core=core, webhook_client=hooks)

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
        w = MsWorld(core, emulator, app, http, receiver)
        tenant = await w.control("POST", "/tenants", json={"domain": DOMAIN})
        w.tenant_id = tenant["id"]
        w.client_secret = canary("client-secret")
        registered = await w.control(
            "POST",
            "/apps",
            json={
                "display_name": "calgate test",
                "client_secret": w.client_secret,
                "redirect_uris": [REDIRECT],
                "application_permissions": ["Calendars.ReadWrite", "User.Read.All"],
            },
        )
        w.client_id = registered["client_id"]
        await w.add_user(ALICE, "Alice Anders", "Europe/Berlin")
        await w.add_user(BOB, "Bob Baker", "America/New_York")
        await w.add_user(ROOM, "Room One", "Europe/Berlin", room=True)
        yield w
        await hooks.aclose()
