"""Two ``calgate serve`` processes on one PostgreSQL and one Redis (R9): the provider's
webhook goes into process A, the user's app is connected to process B, and B delivers the
``calendar.changed`` message (the sandbox is a third process firing real webhooks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from .conftest import Cli, connect_google, free_port, sign_up
from support.canary import MARKER, canary
from support.connect import browser_history_hidden
from support.databases import truncate_all
from support.sandbox_process import spawn_sandbox

pytestmark = [pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]

GOOGLE_USER = "alice@example.com"


@pytest.fixture(autouse=True)
def _browser_history() -> Iterator[None]:
    with browser_history_hidden():
        yield


async def _next(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] != "heartbeat":
                return dict(message)


def _received(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("calgate_webhooks_received_total{") and (
            'provider="google"' in line and 'kind="exists"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_webhook_into_one_process_reaches_an_app_on_the_other_R9(
    cli: Cli, tmp_path: Path, pg_database: str, redis_url: str, bus_prefix: str
) -> None:
    await truncate_all(pg_database)
    ports = free_port(), free_port()
    a_url, b_url = (f"http://127.0.0.1:{p}" for p in ports)
    operator_key = canary("operator-key")
    env = {
        "CALGATE_DATABASE_URL": pg_database,
        "CALGATE_BUS_URL": redis_url,
        "CALGATE_BUS_PREFIX": bus_prefix,
        "CALGATE_OPERATOR_KEY": operator_key,
        "CALGATE_SECRET_KEY": canary("server-secret"),
        "CALGATE_PUBLIC_URL": a_url,  # OAuth callback and webhooks: process A
        "CALGATE_JOBS_POLL_SECONDS": "0.2",
        "CALGATE_HEARTBEAT_SECONDS": "5",
        "CALGATE_LOG_LEVEL": "DEBUG",
    }
    assert cli.run("migrate", **env).returncode == 0
    callback = f"{a_url}/v1/oauth/callback"
    with spawn_sandbox(tmp_path, port=free_port(), marker=MARKER, redirects=(callback,)) as sb:
        env["CALGATE_SANDBOX_URL"] = sb.url
        a = cli.start("serve", "--port", str(ports[0]), **env)
        b = cli.start("serve", "--port", str(ports[1]), "--no-jobs", **env)
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as http:
            alice = await sign_up(
                http, admin_url=a_url, session_url=b_url, operator_key=operator_key
            )
            auth = alice.auth
            ws_url = b_url.replace("http://", "ws://") + "/v1/me/notifications/ws"
            async with connect(ws_url, additional_headers=auth) as ws:
                assert (await _next(ws))["type"] == "stream.ready"
                connection_id = await connect_google(http, a_url, alice, GOOGLE_USER)
                # The first (baseline) sync tells the apps too: count from its message, or
                # it could pass for the webhook's (it did, once in CI).
                baseline = await _next(ws)
                if baseline["type"] == "connection.connected":
                    baseline = await _next(ws)
                assert baseline["type"] == "calendar.changed"
                assert baseline["data"] == {"connection_id": connection_id}
                async with asyncio.timeout(30):
                    while not (await http.get(f"{sb.url}/_sandbox/google/channels")).json():
                        await asyncio.sleep(0.1)  # another process: no event to await
                    while not (await http.get(f"{sb.url}/_sandbox/deliveries")).json():
                        await asyncio.sleep(0.1)  # the channel's first (sync) message
                assert _received((await http.get(f"{a_url}/metrics")).text) == 0
                start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
                r = await http.post(
                    f"{sb.url}/_sandbox/google/calendars/{GOOGLE_USER}/events",
                    json={
                        "summary": canary("subject"),
                        "start": {"dateTime": start.isoformat()},
                        "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
                    },
                )
                assert r.status_code == 201, r.text
                message = await _next(ws)
                assert message["id"] > baseline["id"]
            assert message["type"] == "calendar.changed"
            assert message["data"] == {"connection_id": connection_id}
            assert _received((await http.get(f"{a_url}/metrics")).text) == 1
            assert _received((await http.get(f"{b_url}/metrics")).text) == 0
        cli.stop(a)
        cli.stop(b)
