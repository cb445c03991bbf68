"""Accounts, user groups and users over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .conftest import assert_problem

Tenant = Any


async def test_account_lifecycle(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    r = await client.post(
        "/v1/accounts",
        json={"name": "Acme", "policy": {"calendar_access": "read"}},
        headers=operator,
    )
    assert r.status_code == 201, r.text
    account = r.json()
    assert account["name"] == "Acme"
    assert account["policy"] == {"calendar_access": "read"}
    url = f"/v1/accounts/{account['id']}"

    assert (await client.get(url, headers=operator)).json() == account
    r = await client.patch(url, json={"name": "Acme Inc"}, headers=operator)
    assert r.json()["name"] == "Acme Inc"

    assert (await client.delete(url, headers=operator)).status_code == 204
    assert_problem(await client.get(url, headers=operator), 404)
    assert_problem(await client.delete(url, headers=operator), 404)


async def test_group_lifecycle(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    base = f"/v1/accounts/{t.account_id}/groups"
    g = (await client.post(base, json={"name": "Sales"}, headers=t.admin)).json()
    assert g["account_id"] == t.account_id
    await client.post(base, json={"name": "Engineering"}, headers=t.admin)

    names = [x["name"] for x in (await client.get(base, headers=t.admin)).json()]
    assert names == ["Engineering", "Sales"]
    r = await client.patch(f"{base}/{g['id']}", json={"name": "Field Sales"}, headers=t.admin)
    assert r.json()["name"] == "Field Sales"
    assert (await client.get(f"{base}/{g['id']}", headers=t.admin)).json()["name"] == "Field Sales"
    assert (await client.delete(f"{base}/{g['id']}", headers=t.admin)).status_code == 204
    assert_problem(await client.get(f"{base}/{g['id']}", headers=t.admin), 404)


async def test_user_lifecycle(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    base = f"/v1/accounts/{t.account_id}"
    g = (await client.post(f"{base}/groups", json={"name": "Sales"}, headers=t.admin)).json()

    r = await client.post(
        f"{base}/users",
        json={"email": "Dana@Example.com", "group_id": g["id"], "external_id": "sub-1"},
        headers=t.admin,
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "dana@example.com"
    assert user["display_name"] == "Dana"  # from the address as given
    assert (user["group_id"], user["external_id"], user["has_password"]) == (
        g["id"],
        "sub-1",
        False,
    )

    r = await client.patch(
        f"{base}/users/{user['id']}",
        json={"display_name": "Dana E.", "password": "long enough"},
        headers=t.admin,
    )
    assert r.json()["display_name"] == "Dana E."
    assert r.json()["has_password"] is True
    assert "long enough" not in r.text

    listed = (
        await client.get(f"{base}/users", params={"group_id": g["id"]}, headers=t.admin)
    ).json()
    assert [u["id"] for u in listed["items"]] == [user["id"]]

    # deleting the group keeps the user, in no group
    await client.delete(f"{base}/groups/{g['id']}", headers=t.admin)
    assert (await client.get(f"{base}/users/{user['id']}", headers=t.admin)).json()[
        "group_id"
    ] is None

    assert (await client.delete(f"{base}/users/{user['id']}", headers=t.admin)).status_code == 204
    assert_problem(await client.get(f"{base}/users/{user['id']}", headers=t.admin), 404)


async def test_users_page_through(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    base = f"/v1/accounts/{t.account_id}/users"
    for n in range(5):
        await client.post(base, json={"email": f"u{n}@example.com"}, headers=t.admin)

    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"after": after} if after else {})
        page = (await client.get(base, params=params, headers=t.admin)).json()
        seen += [u["email"] for u in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == [f"u{n}@example.com" for n in range(5)]


async def test_group_of_another_account_is_invalid_input(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    a, b = await make_tenant("A"), await make_tenant("B")
    foreign = (
        await client.post(
            f"/v1/accounts/{a.account_id}/groups", json={"name": "G"}, headers=a.admin
        )
    ).json()

    for group_id in (foreign["id"], str(uuid.uuid4())):
        r = await client.post(
            f"/v1/accounts/{b.account_id}/users",
            json={"email": "x@example.com", "group_id": group_id},
            headers=b.admin,
        )
        body = assert_problem(r, 422)
        assert body["errors"][0]["field"] == "group_id"


async def test_changes_are_audited_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    base = f"/v1/accounts/{t.account_id}"
    u = (
        await client.post(f"{base}/users", json={"email": "e@example.com"}, headers=t.admin)
    ).json()
    await client.patch(
        f"{base}/users/{u['id']}", json={"password": "a new secret"}, headers=t.admin
    )
    await client.delete(f"{base}/users/{u['id']}", headers=t.admin)

    items = (await client.get(f"{base}/audit", headers=t.admin)).json()["items"]
    assert [e["action"] for e in items[-3:]] == ["user.created", "user.updated", "user.deleted"]
    assert items[-2]["details"] == {"fields": ["password"]}  # which field, never the value
    assert "a new secret" not in str(items)
