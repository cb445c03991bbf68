"""Policies over HTTP (R7, R8, R15): PATCH semantics and the effective policy with its
explanation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from .conftest import SignedIn, assert_problem

Tenant = Any


async def _group(client: httpx.AsyncClient, t: Tenant, name: str, **policy: Any) -> str:
    body: dict[str, Any] = {"name": name}
    if policy:
        body["policy"] = policy
    r = await client.post(f"/v1/accounts/{t.account_id}/groups", json=body, headers=t.admin)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _effective(client: httpx.AsyncClient, t: Tenant, user_id: str) -> dict[str, Any]:
    r = await client.get(
        f"/v1/accounts/{t.account_id}/users/{user_id}/effective-policy", headers=t.admin
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["user_id"] == user_id
    return body


async def test_effective_policy_matrix_with_explanations_R15(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant(
        "Acme", policy={"calendar_access": "read", "allowed_providers": ["google", "microsoft"]}
    )
    sales = await _group(client, t, "Sales", calendar_access="read_write")
    ops = await _group(client, t, "Ops")
    in_sales = await make_user(t, "s@example.com", group_id=sales)
    in_ops = await make_user(t, "o@example.com", group_id=ops)
    no_group = await make_user(t, "n@example.com")

    # group override
    eff = await _effective(client, t, in_sales.user_id)
    assert eff["group_id"] == sales
    assert eff["policy"]["calendar_access"] == {
        "value": "read_write",
        "source": "group",
        "reason": "set by user group 'Sales', overriding the account",
    }
    assert eff["policy"]["allowed_providers"]["value"] == ["google", "microsoft"]
    assert eff["policy"]["allowed_providers"]["source"] == "account"
    assert "'Sales' does not set it" in eff["policy"]["allowed_providers"]["reason"]

    # group that sets nothing: account values, and it says which group was consulted
    eff = await _effective(client, t, in_ops.user_id)
    assert eff["policy"]["calendar_access"]["value"] == "read"
    assert eff["policy"]["calendar_access"]["source"] == "account"
    assert "'Ops' does not set it" in eff["policy"]["calendar_access"]["reason"]

    # user without a group: account values, then defaults
    eff = await _effective(client, t, no_group.user_id)
    assert eff["group_id"] is None
    assert eff["policy"]["calendar_access"]["source"] == "account"
    assert "no group" in eff["policy"]["calendar_access"]["reason"]
    assert eff["policy"]["bidirectional_sync"] == {
        "value": False,
        "source": "default",
        "reason": "calgate default; neither account nor group sets it",
    }
    assert eff["policy"]["contacts_access"]["value"] == "none"
    # the Google ceiling follows calendar_access=read and explains why
    assert eff["policy"]["google_calendar_access"]["value"] == "read"
    assert "limited to read by calendar_access" in eff["policy"]["google_calendar_access"]["reason"]
    assert set(eff["policy"]) == {
        "bidirectional_sync",
        "calendar_access",
        "contacts_access",
        "google_calendar_access",
        "allowed_providers",
    }


async def test_bidirectional_sync_at_group_level_R8(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant("Acme")
    eng = await _group(client, t, "Engineering", bidirectional_sync=True)
    engineer = await make_user(t, "e@example.com", group_id=eng)
    other = await make_user(t, "x@example.com")

    assert (await _effective(client, t, engineer.user_id))["policy"]["bidirectional_sync"][
        "value"
    ] is True
    assert (await _effective(client, t, other.user_id))["policy"]["bidirectional_sync"][
        "value"
    ] is False


async def test_google_ceiling_per_group_R7(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant("Acme", policy={"calendar_access": "read_write"})
    g = await _group(client, t, "Contractors", google_calendar_access="read")
    u = await make_user(t, "c@example.com", group_id=g)

    eff = (await _effective(client, t, u.user_id))["policy"]
    assert eff["calendar_access"]["value"] == "read_write"
    assert eff["google_calendar_access"] == {
        "value": "read",
        "source": "group",
        "reason": "set by user group 'Contractors', overriding the account",
    }


async def test_policy_patch_sets_keeps_and_clears_R15(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant("Acme")
    url = f"/v1/accounts/{t.account_id}/policy"

    r = await client.patch(
        url, json={"calendar_access": "read", "bidirectional_sync": False}, headers=t.admin
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"calendar_access": "read", "bidirectional_sync": False}

    # fields left out are unchanged
    r = await client.patch(url, json={"contacts_access": "read"}, headers=t.admin)
    assert r.json() == {
        "calendar_access": "read",
        "bidirectional_sync": False,
        "contacts_access": "read",
    }

    # null clears (the value inherits again)
    r = await client.patch(url, json={"calendar_access": None}, headers=t.admin)
    assert r.json() == {"bidirectional_sync": False, "contacts_access": "read"}
    assert (await client.get(url, headers=t.admin)).json() == r.json()

    # an empty provider list is a value (nothing allowed), not "unset"
    r = await client.patch(url, json={"allowed_providers": []}, headers=t.admin)
    assert r.json()["allowed_providers"] == []

    # an empty PATCH changes nothing
    r = await client.patch(url, json={}, headers=t.admin)
    assert r.json() == {
        "bidirectional_sync": False,
        "contacts_access": "read",
        "allowed_providers": [],
    }


async def test_group_policy_patch_and_clear_falls_back_to_the_account_R15(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant("Acme", policy={"contacts_access": "read"})
    g = await _group(client, t, "Sales")
    u = await make_user(t, "s@example.com", group_id=g)
    url = f"/v1/accounts/{t.account_id}/groups/{g}/policy"

    r = await client.patch(url, json={"contacts_access": "read_write"}, headers=t.admin)
    assert r.json() == {"contacts_access": "read_write"}
    assert (await _effective(client, t, u.user_id))["policy"]["contacts_access"][
        "source"
    ] == "group"

    r = await client.patch(url, json={"contacts_access": None}, headers=t.admin)
    assert r.json() == {}
    eff = (await _effective(client, t, u.user_id))["policy"]["contacts_access"]
    assert (eff["value"], eff["source"]) == ("read", "account")


async def test_moving_a_user_between_groups_changes_their_policy_R15(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant("Acme")
    readers = await _group(client, t, "Readers", calendar_access="read")
    u = await make_user(t, "m@example.com")
    user_url = f"/v1/accounts/{t.account_id}/users/{u.user_id}"

    await client.patch(user_url, json={"group_id": readers}, headers=t.admin)
    assert (await _effective(client, t, u.user_id))["policy"]["calendar_access"]["value"] == "read"

    await client.patch(user_url, json={"group_id": None}, headers=t.admin)
    eff = (await _effective(client, t, u.user_id))["policy"]["calendar_access"]
    assert (eff["value"], eff["source"]) == ("read_write", "default")


async def test_policy_changes_are_audited_with_before_and_after_R3(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant("Acme")
    await client.patch(
        f"/v1/accounts/{t.account_id}/policy", json={"calendar_access": "read"}, headers=t.admin
    )

    items = (await client.get(f"/v1/accounts/{t.account_id}/audit", headers=t.admin)).json()[
        "items"
    ]
    change = items[-1]
    assert change["action"] == "policy.changed"
    assert change["actor"].startswith("admin-key:")
    assert change["details"] == {
        "level": "account",
        "before": {},
        "after": {"calendar_access": "read"},
    }


async def test_invalid_policy_values_name_the_field(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant("Acme")
    url = f"/v1/accounts/{t.account_id}/policy"

    r = await client.patch(url, json={"calendar_access": "write"}, headers=t.admin)
    body = assert_problem(r, 422)
    assert [e["field"] for e in body["errors"]] == ["calendar_access"]

    r = await client.patch(url, json={"allowed_providers": ["google", "yahoo"]}, headers=t.admin)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["allowed_providers.1"]

    r = await client.patch(url, json={"sync": True}, headers=t.admin)
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {"field": "sync", "message": "unknown field; it is not accepted here"}
    ]
