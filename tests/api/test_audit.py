"""The audit log over HTTP (R3): GET /v1/accounts/{a}/audit and its verifier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text

from calgate.bootstrap import Runtime

from .conftest import assert_problem

Tenant = Any


async def _history(client: httpx.AsyncClient, t: Tenant, n: int) -> None:
    for i in range(n):
        r = await client.post(
            f"/v1/accounts/{t.account_id}/groups", json={"name": f"G{i}"}, headers=t.admin
        )
        assert r.status_code == 201


async def test_audit_lists_privileged_actions_oldest_first_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    await _history(client, t, 2)

    r = await client.get(f"/v1/accounts/{t.account_id}/audit", headers=t.admin)

    assert r.status_code == 200
    items = r.json()["items"]
    assert [e["action"] for e in items] == [
        "account.created",
        "api_key.created",
        "group.created",
        "group.created",
    ]
    assert [e["seq"] for e in items] == [1, 2, 3, 4]
    assert items[0]["actor"] == "operator"
    assert items[2]["actor"].startswith("admin-key:")
    assert items[2]["details"] == {"name": "G0", "policy": {}}
    assert all(len(e["hash"]) == 64 for e in items)
    assert r.json()["next"] is None


async def test_audit_pages(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    await _history(client, t, 3)  # 5 entries
    url = f"/v1/accounts/{t.account_id}/audit"

    first = (await client.get(url, params={"limit": 2}, headers=t.admin)).json()
    second = (
        await client.get(url, params={"limit": 2, "after": first["next"]}, headers=t.admin)
    ).json()
    last = (
        await client.get(url, params={"limit": 2, "after": second["next"]}, headers=t.admin)
    ).json()

    assert [e["seq"] for e in first["items"]] == [1, 2]
    assert [e["seq"] for e in second["items"]] == [3, 4]
    assert [e["seq"] for e in last["items"]] == [5]
    assert last["next"] is None


async def test_verify_endpoint_detects_an_edited_row_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]], runtime: Runtime
) -> None:
    t = await make_tenant()
    await _history(client, t, 2)
    url = f"/v1/accounts/{t.account_id}/audit/verify"

    ok = (await client.get(url, headers=t.admin)).json()
    assert ok == {
        "chain": f"account:{t.account_id}",
        "valid": True,
        "entries": 4,
        "first_bad_seq": None,
        "problem": None,
    }

    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE audit_events SET details = :d WHERE chain = :c AND seq = 3"),
            {"d": '{"name": "Innocent", "policy": {}}', "c": f"account:{t.account_id}"},
        )

    bad = (await client.get(url, headers=t.admin)).json()
    assert bad["valid"] is False
    assert bad["first_bad_seq"] == 3
    assert bad["problem"] == "entry 3 was altered after it was written"


async def test_verify_endpoint_detects_a_deleted_row_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]], runtime: Runtime
) -> None:
    t = await make_tenant()
    await _history(client, t, 2)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM audit_events WHERE chain = :c AND seq = 2"),
            {"c": f"account:{t.account_id}"},
        )

    bad = (await client.get(f"/v1/accounts/{t.account_id}/audit/verify", headers=t.admin)).json()
    assert (bad["valid"], bad["first_bad_seq"], bad["problem"]) == (False, 2, "entry 2 is missing")


async def test_users_may_not_read_the_audit_log(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[Any]],
) -> None:
    t = await make_tenant()
    u = await make_user(t)
    assert_problem(await client.get(f"/v1/accounts/{t.account_id}/audit", headers=u.headers), 403)
    assert_problem(
        await client.get(f"/v1/accounts/{t.account_id}/audit/verify", headers=u.headers), 403
    )


async def test_audit_of_a_deleted_account_stays_readable_by_the_operator_R3(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    operator: dict[str, str],
) -> None:
    t = await make_tenant()
    assert (
        await client.delete(f"/v1/accounts/{t.account_id}", headers=operator)
    ).status_code == 204

    items = (await client.get(f"/v1/accounts/{t.account_id}/audit", headers=operator)).json()[
        "items"
    ]
    assert items[-1]["action"] == "account.deleted"
    verify = await client.get(f"/v1/accounts/{t.account_id}/audit/verify", headers=operator)
    assert verify.json()["valid"] is True
    # the deleted account's admin key no longer works
    assert_problem(await client.get(f"/v1/accounts/{t.account_id}/audit", headers=t.admin), 401)
