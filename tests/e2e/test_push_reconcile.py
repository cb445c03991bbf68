"""Reconciliation over real HTTP (R9): the provider sandbox (its own process) drops every
notification; calgate (served by uvicorn on loopback, on the test's clock so that time can
be advanced) still finds the change at its next reconciliation check and tells the app,
which listens on a real WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import connect

from calgate.bootstrap import Runtime
from calgate.clock import FrozenClock

from support.canary import MARKER, canary
from support.connect import browser_history_hidden
from support.sandbox_process import SandboxProcess, spawn_sandbox
from support.settings import IsolatedSettings

pytestmark = pytest.mark.slow

GOOGLE_USER = "alice@example.com"


@pytest.fixture
def ports() -> tuple[socket.socket, int]:
    """calgate's listening socket (bound now, so its URL is known to the settings) and a
    free port for the sandbox."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        sandbox_port = int(probe.getsockname()[1])
    return sock, sandbox_port


@pytest.fixture
def base(ports: tuple[socket.socket, int]) -> str:
    return f"http://127.0.0.1:{ports[0].getsockname()[1]}"


@pytest.fixture
def sandbox(
    tmp_path: Path, ports: tuple[socket.socket, int], base: str
) -> Iterator[SandboxProcess]:
    with spawn_sandbox(
        tmp_path, port=ports[1], marker=MARKER, redirects=(f"{base}/v1/oauth/callback",)
    ) as process:
        yield process


@pytest.fixture
def settings(
    make_settings: Callable[..., IsolatedSettings], base: str, sandbox: SandboxProcess
) -> IsolatedSettings:
    return make_settings(public_url=base, sandbox_url=sandbox.url)


@pytest.fixture
async def served(app: FastAPI, ports: tuple[socket.socket, int]) -> AsyncIterator[None]:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[ports[0]]))
    while not server.started:  # uvicorn exposes no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        ports[0].close()


async def _settle(http: httpx.AsyncClient, sandbox: str, runtime: Runtime) -> None:
    for _ in range(5):
        await http.post(f"{sandbox}/_sandbox/deliveries/drain")
        if not await runtime.job_runner(concurrency=1).run_pending():
            return


async def _message(ws: Any, timeout: float) -> dict[str, Any] | None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                message: dict[str, Any] = json.loads(await ws.recv())
                if message["type"] not in ("heartbeat", "stream.ready"):
                    return message
    return None


async def test_dropped_notifications_are_caught_by_reconciliation_R9(
    served: None,
    base: str,
    sandbox: SandboxProcess,
    runtime: Runtime,
    clock: FrozenClock,
    client: httpx.AsyncClient,
    make_tenant: Any,
) -> None:
    tenant = await make_tenant("Acme")
    password = canary("password")
    async with httpx.AsyncClient(base_url=base, timeout=30, follow_redirects=True) as http:
        r = await http.post(
            f"/v1/accounts/{tenant.account_id}/users",
            json={"email": "alice@acme.example", "password": password},
            headers=tenant.admin,
        )
        assert r.status_code == 201, r.text
        session = (
            await http.post(
                "/v1/sessions", json={"email": "alice@acme.example", "password": password}
            )
        ).json()["token"]
        auth = {"Authorization": f"Bearer {session}"}
        r = await http.post(
            "/v1/me/connections/google/authorize", json={"login_hint": GOOGLE_USER}, headers=auth
        )
        with browser_history_hidden():
            done = await http.get(r.json()["authorization_url"])
        assert done.status_code == 200, done.text
        connection_id = done.json()["connection_id"]
        await _settle(http, sandbox.url, runtime)  # subscribed (over real HTTP) and synced
        assert (await http.get(f"{sandbox.url}/_sandbox/google/channels")).json()

        fault = {"kind": "drop_notifications", "provider": "google", "count": 100_000}
        assert (await http.post(f"{sandbox.url}/_sandbox/faults", json=fault)).status_code == 201
        ws_url = base.replace("http://", "ws://") + "/v1/me/notifications/ws"
        async with connect(ws_url, additional_headers=auth) as ws:
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            r = await http.post(
                f"{sandbox.url}/_sandbox/google/calendars/{GOOGLE_USER}/events",
                json={
                    "summary": canary("subject"),
                    "start": {"dateTime": start.isoformat()},
                    "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
                },
            )
            assert r.status_code == 201, r.text
            await _settle(http, sandbox.url, runtime)
            deliveries = (await http.get(f"{sandbox.url}/_sandbox/deliveries")).json()
            assert [d["state"] for d in deliveries if d["kind"] == "watch.exists"] == ["dropped"]
            assert await _message(ws, 1.0) is None  # nobody told the app

            clock.advance(minutes=runtime.settings.reconcile_minutes)
            await _settle(http, sandbox.url, runtime)
            message = await _message(ws, 10.0)
        assert message is not None
        assert message["type"] == "calendar.changed"
        assert message["data"] == {"connection_id": connection_id}
