"""Removing an integration (R6): the secrets go in the same transaction (checked in the raw
database), the grant is revoked at the provider where it has an endpoint, the audit log and
the user's apps are told, and the next vend answers 404 with the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ..conftest import assert_problem
from .helpers import audit_entries, connection_rows, user_event_types, vault_fields
from support.connect import GOOGLE_USER, MS_USER, connect


async def raw_secret_rows(runtime, connection_id: str) -> int:
    """Rows of the vault table for this connection, read straight from the database."""
    async with runtime.engine.connect() as conn:
        n = await conn.execute(
            text("SELECT count(*) FROM vault_secrets WHERE owner_id = :i"), {"i": connection_id}
        )
        return int(n.scalar_one())


async def test_admin_removal_deletes_the_secrets_and_revokes_at_google_R6(
    backend, client, browser, alice, runtime, sandbox
):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    cid = made["connection_id"]
    assert await raw_secret_rows(runtime, cid) == 2
    grants_before = (
        await sandbox.control.get(f"/_sandbox/google/users/{GOOGLE_USER}/grants")
    ).json()
    assert [g["dead"] for g in grants_before] == [None]

    r = await client.delete(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections/{cid}",
        headers=alice.tenant.admin,
    )
    assert r.status_code == 204, r.text

    assert await raw_secret_rows(runtime, cid) == 0
    row = (await connection_rows(runtime))[0]
    assert row["status"] == "removed"
    assert row["subject"] is None
    assert row["account_email"] is None
    assert (await sandbox.counters("google")).get("revoke") == 1
    grants = (await sandbox.control.get(f"/_sandbox/google/users/{GOOGLE_USER}/grants")).json()
    assert [g["dead"] for g in grants] == ["revoked"]
    entries = await audit_entries(runtime, alice.tenant.account_id)
    removed = next(e for e in entries if e.action == "connection.removed")
    assert removed.details["by"] == "admin"
    assert removed.details["secrets_deleted"] == 2
    assert removed.actor.startswith("admin-key:")
    revocation = next(e for e in entries if e.action == "connection.provider_revocation")
    assert revocation.details["result"] == "revoked"
    assert await user_event_types(runtime) == ["connection.connected", "connection.removed"]

    body = assert_problem(await client.get("/v1/me/credentials", headers=alice.headers), 404)
    assert "removed by an administrator" in body["detail"]
    assert body["removed"][0]["connection_id"] == cid
    assert (await client.get("/v1/me/connections", headers=alice.headers)).json() == []


async def test_microsoft_has_no_revocation_endpoint_and_the_audit_says_so_R6(
    client, browser, alice, runtime, sandbox
):
    made = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    r = await client.delete(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections/"
        f"{made['connection_id']}",
        headers=alice.tenant.admin,
    )
    assert r.status_code == 204
    assert await vault_fields(runtime, "connections", made["connection_id"]) == set()
    entries = await audit_entries(runtime, alice.tenant.account_id)
    result = next(e for e in entries if e.action == "connection.provider_revocation")
    assert result.details["result"] == "not_available"


async def test_a_user_removes_their_own_connection(client, browser, alice, runtime, sandbox):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    r = await client.delete(f"/v1/me/connections/{made['connection_id']}", headers=alice.headers)
    assert r.status_code == 204
    assert await raw_secret_rows(runtime, made["connection_id"]) == 0
    body = assert_problem(await client.get("/v1/me/credentials", headers=alice.headers), 404)
    assert "removed by you" in body["detail"]
    again = await client.delete(
        f"/v1/me/connections/{made['connection_id']}", headers=alice.headers
    )
    assert_problem(again, 404)


async def test_removal_stands_when_the_provider_revocation_fails_R6(
    client, browser, alice, runtime, sandbox
):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    await sandbox.control.post(
        "/_sandbox/faults",
        json={"kind": "status", "provider": "google", "path_prefix": "/google/revoke",
              "status": 500, "count": 5},
    )  # fmt: skip
    r = await client.delete(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections/"
        f"{made['connection_id']}",
        headers=alice.tenant.admin,
    )
    assert r.status_code == 204
    assert await raw_secret_rows(runtime, made["connection_id"]) == 0
    entries = await audit_entries(runtime, alice.tenant.account_id)
    result = next(e for e in entries if e.action == "connection.provider_revocation")
    assert result.details["result"] == "failed"


async def test_a_removed_connection_can_be_connected_again(client, browser, alice, sandbox):
    made = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    await client.delete(f"/v1/me/connections/{made['connection_id']}", headers=alice.headers)
    fresh = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    assert fresh["status"] == "connected"
    assert fresh["connection_id"] != made["connection_id"]
    creds = (await client.get("/v1/me/credentials", headers=alice.headers)).json()
    assert [c["connection_id"] for c in creds["connections"]] == [fresh["connection_id"]]


@pytest.mark.parametrize("who", ["other_user", "other_admin"])
async def test_nobody_else_removes_a_connection(
    client, browser, alice, make_user, make_tenant, runtime, sandbox, who
):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    if who == "other_user":
        bob = await make_user(alice.tenant, "bob@acme.example")
        r = await client.delete(f"/v1/me/connections/{made['connection_id']}", headers=bob.headers)
    else:
        other = await make_tenant("Other")
        r = await client.delete(
            f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections/"
            f"{made['connection_id']}",
            headers=other.admin,
        )
    assert_problem(r, 404)
    assert await raw_secret_rows(runtime, made["connection_id"]) == 2


async def test_admins_list_a_users_connections(client, browser, alice, sandbox):
    await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    r = await client.get(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections",
        headers=alice.tenant.admin,
    )
    assert r.status_code == 200
    [item] = r.json()
    assert (item["provider"], item["status"], item["account_email"]) == (
        "google",
        "active",
        GOOGLE_USER,
    )
    assert "access_token" not in item


async def test_deleting_a_user_deletes_their_tokens_and_revokes_them_R6(
    client, browser, alice, runtime, sandbox
):
    google = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    ms = await connect(client, browser, alice.headers, "microsoft", MS_USER)
    r = await client.delete(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}", headers=alice.tenant.admin
    )
    assert r.status_code == 204
    for made in (google, ms):
        assert await raw_secret_rows(runtime, made["connection_id"]) == 0
    assert await connection_rows(runtime) == []
    assert (await sandbox.counters("google")).get("revoke") == 1
    removed = [
        e.details["by"]
        for e in await audit_entries(runtime, alice.tenant.account_id)
        if e.action == "connection.removed"
    ]
    assert removed == ["user_deleted", "user_deleted"]
