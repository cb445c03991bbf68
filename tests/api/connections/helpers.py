"""Helpers of the connection API tests: the flow step by step, and raw database checks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from calgate.bootstrap import Runtime
from calgate.services.audit import account_chain


async def open_flow(browser: httpx.AsyncClient, authorization_url: str) -> str:
    """The browser opens calgate's start URL and the provider's consent page (the sandbox
    consents at once for the login hint); returns the callback URL it is sent to, unopened."""
    r = await browser.get(authorization_url, follow_redirects=False)
    assert r.status_code == 302, r.text
    provider_url = r.headers["location"]
    r = await browser.get(provider_url, follow_redirects=False)
    assert r.status_code == 302, r.text
    callback = r.headers["location"]
    assert "/v1/oauth/callback?" in callback
    return str(callback)


async def vault_fields(runtime: Runtime, owner: str, owner_id: str) -> set[str]:
    """Which secrets the vault holds for a row, read from the raw table."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT field FROM vault_secrets WHERE owner = :o AND owner_id = :i"),
            {"o": owner, "i": owner_id},
        )
        return {r[0] for r in rows}


async def connection_rows(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM connections ORDER BY created_at"))
        return [dict(r._mapping) for r in rows]


async def state_rows(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM oauth_states"))).scalar_one())


async def audit_entries(runtime: Runtime, account_id: str) -> list[Any]:
    async with runtime.uow(readonly=True) as uow:
        return list(await uow.audit.list(account_chain(uuid.UUID(account_id)), limit=1000))


async def audit_actions(runtime: Runtime, account_id: str) -> list[str]:
    return [e.action for e in await audit_entries(runtime, account_id)]


async def user_event_types(runtime: Runtime) -> list[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT type FROM user_events ORDER BY id"))
        return [r[0] for r in rows]
