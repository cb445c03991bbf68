"""Single-flight refresh across processes: two ``calgate serve`` processes on one PostgreSQL
database, 100 concurrent vends of one expired token over real HTTP, exactly one refresh at
the provider (a separate sandbox process)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Cli, free_port
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
            operator = {"Authorization": f"Bearer {operator_key}"}
            account = (
                await http.post(f"{bases[0]}/v1/accounts", json={"name": "Acme"}, headers=operator)
            ).json()["id"]
            password = canary("password")
            r = await http.post(
                f"{bases[0]}/v1/accounts/{account}/users",
                json={"email": "alice@acme.example", "password": password},
                headers=operator,
            )
            assert r.status_code == 201, r.text
            session = (
                await http.post(
                    f"{bases[1]}/v1/sessions",
                    json={"email": "alice@acme.example", "password": password},
                )
            ).json()["token"]
            auth = {"Authorization": f"Bearer {session}"}

            await http.patch(f"{sb.url}/_sandbox/google/settings", json={"access_token_ttl": 1})
            r = await http.post(
                f"{bases[0]}/v1/me/connections/google/authorize",
                json={"login_hint": "alice@example.com"},
                headers=auth,
            )
            done = await http.get(r.json()["authorization_url"])
            assert done.status_code == 200, done.text
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
