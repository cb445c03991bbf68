"""Two ``calgate serve`` processes on one PostgreSQL database, over real HTTP, with the
provider sandbox in a process of its own: single-flight refresh (100 concurrent vends of one
expired token, exactly one refresh at the provider), and an admin's removal through one
process stopping vends through the other at once (R6), heard over the Redis bus."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Cli, connect_google, free_port, sign_up
from support.canary import MARKER, canary
from support.connect import browser_history_hidden
from support.databases import truncate_all
from support.sandbox_process import spawn_sandbox

pytestmark = [pytest.mark.pg, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _browser_history() -> Iterator[None]:
    with browser_history_hidden():
        yield


async def test_100_concurrent_vends_across_two_processes_refresh_once(
    cli: Cli, tmp_path: Path, pg_database: str
) -> None:
    await truncate_all(pg_database)
    ports = free_port(), free_port()
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    operator_key = canary("operator-key")
    env = {
        "CALGATE_DATABASE_URL": pg_database,
        "CALGATE_OPERATOR_KEY": operator_key,
        "CALGATE_SECRET_KEY": canary("server-secret"),
        "CALGATE_PUBLIC_URL": bases[0],
    }
    assert cli.run("migrate", **env).returncode == 0
    callback = f"{bases[0]}/v1/oauth/callback"
    with spawn_sandbox(tmp_path, port=free_port(), marker=MARKER, redirects=(callback,)) as sb:
        env["CALGATE_SANDBOX_URL"] = sb.url
        # One master key file for both processes (the vault's key).
        # --no-jobs: only the vends below may refresh (no subscription job in between).
        a = cli.start("serve", "--port", str(ports[0]), "--no-jobs", **env)
        b = cli.start("serve", "--port", str(ports[1]), "--no-jobs", **env)
        async with httpx.AsyncClient(timeout=60, follow_redirects=True) as http:
            alice = await sign_up(
                http, admin_url=bases[0], session_url=bases[1], operator_key=operator_key
            )
            auth = alice.auth

            await http.patch(f"{sb.url}/_sandbox/google/settings", json={"access_token_ttl": 1})
            await connect_google(http, bases[0], alice)
            await http.patch(f"{sb.url}/_sandbox/google/settings", json={"access_token_ttl": 3600})
            await http.delete(f"{sb.url}/_sandbox/counters")

            async def vend(i: int) -> str:
                r = await http.get(f"{bases[i % 2]}/v1/me/credentials", headers=auth)
                assert r.status_code == 200, r.text
                return str(r.json()["connections"][0]["access_token"])

            tokens = await asyncio.gather(*(vend(i) for i in range(100)))
            counters = (
                await http.get(f"{sb.url}/_sandbox/counters", params={"provider": "google"})
            ).json()
        assert len(set(tokens)) == 1
        assert counters.get("token.refresh") == 1
        cli.stop(a)
        cli.stop(b)
    cli.guard.check_text("sandbox log", sb.log_path.read_text())


async def test_removal_through_one_process_stops_vending_through_the_other_at_once_R6(
    cli: Cli, tmp_path: Path, pg_database: str, redis_url: str, bus_prefix: str
) -> None:
    """B keeps its view of alice for 30 s (CALGATE_VEND_CACHE_SECONDS=30, the maximum), so only
    the ``connection.removed`` message over the bus can make B stop vending right away."""
    await truncate_all(pg_database)
    ports = free_port(), free_port()
    a_url, b_url = (f"http://127.0.0.1:{p}" for p in ports)
    operator_key = canary("operator-key")
    env = {
        "CALGATE_DATABASE_URL": pg_database,
        "CALGATE_BUS_URL": redis_url,
        "CALGATE_BUS_PREFIX": bus_prefix,
        "CALGATE_VEND_CACHE_SECONDS": "30",
        "CALGATE_OPERATOR_KEY": operator_key,
        "CALGATE_SECRET_KEY": canary("server-secret"),
        "CALGATE_PUBLIC_URL": a_url,
    }
    assert cli.run("migrate", **env).returncode == 0
    with spawn_sandbox(
        tmp_path, port=free_port(), marker=MARKER, redirects=(f"{a_url}/v1/oauth/callback",)
    ) as sb:
        env["CALGATE_SANDBOX_URL"] = sb.url
        a = cli.start("serve", "--port", str(ports[0]), "--no-jobs", **env)
        b = cli.start("serve", "--port", str(ports[1]), "--no-jobs", **env)
        async with httpx.AsyncClient(timeout=60, follow_redirects=True) as http:
            alice = await sign_up(
                http, admin_url=a_url, session_url=b_url, operator_key=operator_key
            )
            auth = alice.auth
            await connect_google(http, a_url, alice)

            r = await http.get(f"{b_url}/v1/me/credentials", headers=auth)
            assert r.status_code == 200, r.text  # B now holds alice's view
            connection = r.json()["connections"][0]["connection_id"]

            r = await http.delete(
                f"{a_url}/v1/accounts/{alice.account}/users/{alice.user}/connections/{connection}",
                headers={"Authorization": f"Bearer {operator_key}"},
            )
            assert r.status_code in (200, 204), r.text
            # The message crosses Redis in milliseconds; allow a loaded machine a few seconds,
            # far below the 30 s that B's view would otherwise last.
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                r = await http.get(f"{b_url}/v1/me/credentials", headers=auth)
                if r.status_code != 200 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert r.status_code == 404, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["removed"][0]["connection_id"] == connection
        cli.stop(a)
        cli.stop(b)
    cli.guard.check_text("sandbox log", sb.log_path.read_text())
