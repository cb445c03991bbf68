"""Refresh is single-flight per connection: 100 concurrent vends of one expired token make
exactly one provider refresh — within one process (in-process task per connection and
version) and across two runtimes sharing one database (the lease and the compare-and-swap
on ``token_version``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
from asgi_lifespan import LifespanManager

from calgate.api.app import create_app
from calgate.bootstrap import build_runtime

from support.connect import GOOGLE_USER, MS_USER, connect


async def _vend_all(clients: list[httpx.AsyncClient], headers: dict[str, str], n: int) -> set[str]:
    async def one(i: int) -> str:
        r = await clients[i % len(clients)].get("/v1/me/credentials", headers=headers)
        assert r.status_code == 200, r.text
        return str(r.json()["connections"][0]["access_token"])

    return set(await asyncio.gather(*(one(i) for i in range(n))))


async def test_100_concurrent_vends_of_an_expired_token_refresh_once(
    client, browser, alice, clock, sandbox
):
    await connect(client, browser, alice.headers, "microsoft", MS_USER)
    clock.advance(hours=2)  # the access token has expired (60–90 minutes)
    tokens = await _vend_all([client], alice.headers, 100)
    assert len(tokens) == 1
    assert (await sandbox.counters("microsoft")).get("token.refresh") == 1


async def test_two_runtimes_on_one_database_refresh_once(
    backend, settings, client, browser, alice, clock, sandbox
):
    """Two calgate runtimes (two brokers, two caches, one database) — as two processes."""
    await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    other = await build_runtime(settings, clock=clock, auto_migrate=False, http=sandbox.http)
    app = create_app(settings, runtime=other)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as second,
        ):
            assert await _vend_all([client, second], alice.headers, 10)  # warm both caches
            clock.advance(hours=1)  # expired
            tokens = await _vend_all([client, second], alice.headers, 100)
    finally:
        await other.aclose()
    assert len(tokens) == 1
    assert (await sandbox.counters("google")).get("token.refresh") == 1
