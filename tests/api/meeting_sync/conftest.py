"""Bi-directional sync scenarios in process: calgate (ASGI) and the Google and Microsoft
emulators (ASGI) on the test's frozen clock, the sandbox's webhooks POSTed into calgate and
the job runner driven step by step — the real pipeline: webhook → inbox → ``sync.connection``
job → connector incremental sync → the meetings consumer.

The app side is the reference client SDK (`CalgateClient`) over one HTTP client that reaches
both calgate and the sandbox, as an app on a user's machine would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from calgate.bootstrap import Runtime
from calgate.client import CalgateClient, ScheduledMeeting
from calgate.clock import FrozenClock

from ..conftest import SignedIn
from ..push.conftest import attached, browser, ms_signer, runtime, settings, world  # noqa: F401
from support.connect import CALGATE_HOST, RoutingTransport, connect
from support.push_world import PushWorld

LOGINS = {"google": "alice@example.com", "microsoft": "alice@contoso.example"}


@dataclass
class Scene:
    """One user with a connected calendar, her app, and the levers a test pulls."""

    runtime: Runtime
    world: PushWorld
    api: httpx.AsyncClient  # calgate, as the test (admin and user calls)
    app: CalgateClient  # the user's app (reference SDK)
    user: SignedIn
    account_id: str
    admin: dict[str, str]
    provider: str
    connection_id: str
    clock: FrozenClock

    async def settle(self) -> None:
        await self.world.settle(self.runtime)

    async def schedule(self, **fields: Any) -> ScheduledMeeting:
        body = {
            "subject": "Design review",
            "start_date": "2026-11-25",
            "start_time": "10:00",
            "time_zone": "Europe/Berlin",
            "duration_minutes": 30,
        }
        body.update(fields)
        made = await self.app.schedule_and_tag(body)
        await self.settle()
        return made

    async def token(self) -> tuple[str, str]:
        r = await self.api.get("/v1/me/credentials", headers=self.user.headers)
        assert r.status_code == 200, r.text
        conn = r.json()["connections"][0]
        return conn["api_base_url"].rstrip("/"), conn["access_token"]

    async def provider_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """A call to the user's calendar at the provider, as the user's calendar app would
        make it (Outlook, Google Calendar): the vended token, the provider's wire API."""
        base, token = await self.token()
        response: httpx.Response = await self.world.http.request(
            method, f"{base}/{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response

    def event_path(self, event_id: str) -> str:
        if self.provider == "google":
            return f"calendars/primary/events/{event_id}"
        return f"me/events/{event_id}"

    async def move(self, event_id: str, start: datetime, end: datetime, zone: str = "UTC") -> None:
        fmt = "%Y-%m-%dT%H:%M:%S"
        body = {
            "start": {"dateTime": start.strftime(fmt), "timeZone": zone},
            "end": {"dateTime": end.strftime(fmt), "timeZone": zone},
        }
        r = await self.provider_call("PATCH", self.event_path(event_id), body)
        assert r.status_code == 200, r.text
        await self.settle()

    async def delete(self, event_id: str) -> None:
        r = await self.provider_call("DELETE", self.event_path(event_id))
        assert r.status_code == 204, r.text
        await self.settle()

    async def meeting(self, meeting_id: int) -> dict[str, Any]:
        r = await self.api.get(f"/v1/meetings/{meeting_id}", headers=self.user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def join_state(self, meeting_id: int) -> str:
        r = await self.api.get(f"/j/{meeting_id}", headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        return str(r.json()["state"])

    async def synced(self) -> list[dict[str, Any]]:
        """The synced events of this scene's connection (raw rows)."""
        mine = uuid.UUID(self.connection_id)
        found = await rows(self.runtime, "SELECT * FROM synced_events ORDER BY event_id")
        return [r for r in found if uuid.UUID(str(r["connection_id"])) == mine]

    async def set_sync(self, on: bool) -> None:
        r = await self.api.patch(
            f"/v1/accounts/{self.account_id}/policy",
            json={"bidirectional_sync": on},
            headers=self.admin,
        )
        assert r.status_code == 200, r.text


async def rows(rt: Runtime, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with rt.engine.connect() as conn:
        result = await conn.execute(text(sql), params)
        return [dict(r._mapping) for r in result]


@pytest.fixture
def sync_policy() -> dict[str, Any]:
    return {"bidirectional_sync": True}


@pytest.fixture
async def scene_factory(
    client: httpx.AsyncClient,
    app: FastAPI,
    attached: PushWorld,  # noqa: F811
    browser: httpx.AsyncClient,  # noqa: F811
    runtime: Runtime,  # noqa: F811
    clock: FrozenClock,
    make_tenant: Callable[..., Awaitable[Any]],
    make_user: Callable[..., Awaitable[SignedIn]],
    sync_policy: dict[str, Any],
) -> AsyncIterator[Callable[..., Awaitable[Scene]]]:
    apps: list[CalgateClient] = []
    routes: dict[str, httpx.AsyncBaseTransport] = {
        CALGATE_HOST: httpx.ASGITransport(app=app),
        "sandbox.test": httpx.ASGITransport(app=attached.app),
    }

    async def make(provider: str, beside: Scene | None = None) -> Scene:
        """A user with a ``provider`` calendar: in a new account, or in ``beside``'s."""
        if beside is None:
            tenant: Any = await make_tenant(f"Acme {provider}", policy=sync_policy)
        else:
            tenant = SimpleNamespace(account_id=beside.account_id, admin=beside.admin)
        user = await make_user(tenant, f"user{len(apps)}-{provider}@acme.example")
        made = await connect(client, browser, user.headers, provider, LOGINS[provider])
        await attached.settle(runtime)
        http = httpx.AsyncClient(transport=RoutingTransport(routes))
        sdk = CalgateClient(f"http://{CALGATE_HOST}", http, clock=clock)
        await sdk.sign_in(user.email, user.password)
        apps.append(sdk)
        return Scene(
            runtime=runtime,
            world=attached,
            api=client,
            app=sdk,
            user=user,
            account_id=tenant.account_id,
            admin=tenant.admin,
            provider=provider,
            connection_id=str(made["connection_id"]),
            clock=clock,
        )

    yield make
    for sdk in apps:
        http = sdk.http
        await sdk.aclose()
        await http.aclose()
