"""Two `calgate serve` processes on one PostgreSQL and one Redis, over real HTTP: a message
committed through a third runtime (as a webhook or worker process would) reaches a
WebSocket client of one process and an SSE client of the other, and a client resumes on the
other process with exactly what it missed."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect

from calgate.bootstrap import build_runtime
from calgate.clock import SystemClock

from support.canary import canary
from support.databases import truncate_all
from support.processes import base_env, run_calgate, spawn_serve
from support.settings import IsolatedSettings

pytestmark = [pytest.mark.pg, pytest.mark.redis, pytest.mark.slow]


async def _publish(runtime: Any, account_id: str, user_id: str, tag: str) -> None:
    async with runtime.uow() as uow:
        await runtime.hub.publish(
            uow,
            account_id=uuid.UUID(account_id),
            user_id=uuid.UUID(user_id),
            type="calendar.changed",
            data={"connection_id": tag},
        )
        await uow.commit()


async def _ws_next(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] != "heartbeat":
                return message


async def test_a_message_reaches_clients_of_other_processes(
    tmp_path, pg_database, redis_url, bus_prefix, canary_guard
):
    await truncate_all(pg_database)
    operator_key = canary("operator-key")
    secret_key = canary("server-secret")
    env = base_env(
        CALGATE_DATABASE_URL=pg_database,
        CALGATE_BUS_URL=redis_url,
        CALGATE_BUS_PREFIX=bus_prefix,
        CALGATE_OPERATOR_KEY=operator_key,
        CALGATE_SECRET_KEY=secret_key,
        CALGATE_DATA_DIR=str(tmp_path / "data"),
        CALGATE_HEARTBEAT_SECONDS="1",
        CALGATE_LOG_LEVEL="DEBUG",
    )
    run_calgate(["migrate"], env)
    settings = IsolatedSettings(
        database_url=pg_database,
        bus_url=redis_url,
        bus_prefix=bus_prefix,
        operator_key=operator_key,
        secret_key=secret_key,
        data_dir=tmp_path / "data",
    )
    runtime = await build_runtime(settings, clock=SystemClock(), auto_migrate=False)
    with (
        spawn_serve(env, tmp_path, name="a") as a,
        spawn_serve(env, tmp_path, args=["--no-jobs"], name="b") as b,
    ):
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(15, read=None)) as http:
                op = {"Authorization": f"Bearer {operator_key}"}
                r = await http.post(f"{a.url}/v1/accounts", json={"name": "Multi"}, headers=op)
                assert r.status_code == 201, r.text
                account_id = r.json()["id"]
                password = canary("password")
                r = await http.post(
                    f"{a.url}/v1/accounts/{account_id}/users",
                    json={"email": "mo@example.com", "password": password},
                    headers=op,
                )
                assert r.status_code == 201, r.text
                user_id = r.json()["id"]
                r = await http.post(
                    f"{b.url}/v1/sessions", json={"email": "mo@example.com", "password": password}
                )
                assert r.status_code == 201, r.text
                auth = {"Authorization": f"Bearer {r.json()['token']}"}

                ws_b = b.url.replace("http://", "ws://") + "/v1/me/notifications/ws"
                async with (
                    connect(ws_b, additional_headers=auth) as ws,
                    aconnect_sse(http, "GET", f"{a.url}/v1/me/notifications", headers=auth) as sse,
                ):
                    assert (await _ws_next(ws))["type"] == "stream.ready"
                    events = sse.aiter_sse()
                    await _publish(runtime, account_id, user_id, "first")
                    on_b = await _ws_next(ws)
                    assert on_b["type"] == "calendar.changed"
                    assert on_b["data"] == {"connection_id": "first"}
                    async with asyncio.timeout(15):
                        async for event in events:
                            if event.data:
                                break
                    assert event.event == "calendar.changed"
                    assert json.loads(event.data)["data"] == {"connection_id": "first"}
                    assert int(event.id) == on_b["id"]
                    last_seen = on_b["id"]

                # offline now: two more, then resume on the *other* process
                await _publish(runtime, account_id, user_id, "second")
                await _publish(runtime, account_id, user_id, "third")
                ws_a = a.url.replace("http://", "ws://") + "/v1/me/notifications/ws"
                async with connect(
                    f"{ws_a}?last_event_id={last_seen}", additional_headers=auth
                ) as ws:
                    assert (await _ws_next(ws))["type"] == "stream.ready"
                    assert (await _ws_next(ws))["data"] == {"connection_id": "second"}
                    assert (await _ws_next(ws))["data"] == {"connection_id": "third"}
                    await _publish(runtime, account_id, user_id, "live")
                    assert (await _ws_next(ws))["data"] == {"connection_id": "live"}
        finally:
            await runtime.aclose()
    # stopped with Ctrl-C: a graceful shutdown exits 130
    assert a.process.returncode == 130, a.log()[-2000:]
    assert b.process.returncode == 130, b.log()[-2000:]
    for server in (a, b):
        canary_guard.check_text(f"{server.log_path.name}", server.log())
