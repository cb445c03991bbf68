"""Account admin API keys: shown once, stored as a digest, listed without the secret,
scoped to one account, refused once revoked."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from calgate.bootstrap import Runtime
from calgate.security import apikeys

from .conftest import assert_problem

Tenant = Any


async def test_key_is_shown_once_and_listed_without_its_secret(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]], runtime: Runtime
) -> None:
    t = await make_tenant()
    url = f"/v1/accounts/{t.account_id}/api-keys"

    r = await client.post(url, json={"name": "deploy bot"}, headers=t.admin)

    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["key"]
    assert re.fullmatch(r"cgak_[A-Za-z0-9_-]{43}", secret)
    assert created["hint"] == secret[-4:]
    assert created["revoked_at"] is None

    listed = (await client.get(url, headers=t.admin)).json()
    assert [k["name"] for k in listed] == ["admin", "deploy bot"]
    assert all("key" not in k for k in listed)
    assert secret not in str(listed)

    # stored as a digest only
    async with runtime.uow(readonly=True) as uow:
        found = await uow.api_keys.find_active_by_hash(apikeys.digest(secret))
    assert found is not None
    assert found.id.hex == created["id"].replace("-", "")


async def test_database_holds_no_api_key_in_plaintext(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    settings: Any,
    runtime: Runtime,
) -> None:
    t = await make_tenant()
    secret = t.admin["Authorization"].removeprefix("Bearer ")
    await runtime.engine.dispose()  # flush SQLite's WAL to the file

    path = Path(settings.resolved_database_url.removeprefix("sqlite+aiosqlite:///"))
    raw = path.read_bytes() + (
        Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b""
    )
    assert secret.encode() not in raw
    assert apikeys.digest(secret).encode() in raw


async def test_new_key_works_and_a_revoked_key_is_refused(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    url = f"/v1/accounts/{t.account_id}/api-keys"
    created = (await client.post(url, json={"name": "temp"}, headers=t.admin)).json()
    temp = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get(f"/v1/accounts/{t.account_id}", headers=temp)).status_code == 200

    r = await client.delete(f"{url}/{created['id']}", headers=t.admin)
    assert r.status_code == 204

    body = assert_problem(await client.get(f"/v1/accounts/{t.account_id}", headers=temp), 401)
    assert "revoked" in body["detail"]
    listed = {k["id"]: k for k in (await client.get(url, headers=t.admin)).json()}
    assert listed[created["id"]]["revoked_at"] is not None
    # the other key is untouched
    assert (await client.get(f"/v1/accounts/{t.account_id}", headers=t.admin)).status_code == 200


async def test_a_key_can_revoke_itself(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    keys = (await client.get(f"/v1/accounts/{t.account_id}/api-keys", headers=t.admin)).json()
    r = await client.delete(
        f"/v1/accounts/{t.account_id}/api-keys/{keys[0]['id']}", headers=t.admin
    )
    assert r.status_code == 204
    assert_problem(await client.get(f"/v1/accounts/{t.account_id}", headers=t.admin), 401)


async def test_key_creation_and_revocation_are_audited_without_the_secret_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    url = f"/v1/accounts/{t.account_id}/api-keys"
    created = (await client.post(url, json={"name": "temp"}, headers=t.admin)).json()
    await client.delete(f"{url}/{created['id']}", headers=t.admin)

    audit = (await client.get(f"/v1/accounts/{t.account_id}/audit", headers=t.admin)).json()
    actions = [(e["action"], e["target"]) for e in audit["items"]]
    assert ("api_key.created", f"api_key:{created['id']}") in actions
    assert ("api_key.revoked", f"api_key:{created['id']}") in actions
    assert created["key"] not in str(audit)


async def test_unknown_key_id_is_404(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    r = await client.delete(
        f"/v1/accounts/{t.account_id}/api-keys/00000000-0000-0000-0000-000000000000",
        headers=t.admin,
    )
    assert_problem(r, 404)
