"""An account's own app registrations: the secret goes to the vault (never answered back),
the change is audited, and users of that account connect through that app."""

from __future__ import annotations

from ..conftest import assert_problem
from .helpers import audit_entries, vault_fields
from support.canary import canary
from support.connect import CALLBACK, GOOGLE_USER, connect


async def test_an_account_connects_through_its_own_google_app(
    client, browser, alice, runtime, sandbox
):
    secret = canary("client-secret")
    r = await sandbox.control.post(
        "/_sandbox/google/clients",
        json={"client_id": "acme-app.apps.googleusercontent.com", "client_secret": secret,
              "redirect_uris": [CALLBACK]},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.put(
        f"/v1/accounts/{alice.tenant.account_id}/providers/google",
        json={"client_id": "acme-app.apps.googleusercontent.com", "client_secret": secret},
        headers=alice.tenant.admin,
    )
    assert r.status_code == 200, r.text
    assert secret not in r.text
    assert r.json()["source"] == "account"

    listed = (
        await client.get(
            f"/v1/accounts/{alice.tenant.account_id}/providers", headers=alice.tenant.admin
        )
    ).json()
    assert {a["provider"]: a["source"] for a in listed} == {
        "google": "account",
        "microsoft": "deployment",
    }
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        row = (await conn.execute(text("SELECT id FROM provider_apps"))).scalar_one()
    app_id = str(row) if "-" in str(row) else str(__import__("uuid").UUID(str(row)))
    assert await vault_fields(runtime, "provider_apps", app_id) == {"client_secret"}

    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    grants = (await sandbox.control.get(f"/_sandbox/google/users/{GOOGLE_USER}/grants")).json()
    assert [g["client_id"] for g in grants] == ["acme-app.apps.googleusercontent.com"]
    creds = (await client.get("/v1/me/credentials", headers=alice.headers)).json()
    assert creds["connections"][0]["connection_id"] == made["connection_id"]

    actions = [e.action for e in await audit_entries(runtime, alice.tenant.account_id)]
    assert "provider_app.created" in actions

    r = await client.delete(
        f"/v1/accounts/{alice.tenant.account_id}/providers/google", headers=alice.tenant.admin
    )
    assert r.status_code == 204
    assert await vault_fields(runtime, "provider_apps", app_id) == set()
    # Its connection was made with the account's app: refreshing through another is refused
    # (refresh tokens are bound to their client), so it must be renewed.
    r = await client.get(
        "/v1/me/credentials", params={"force_refresh": "true"}, headers=alice.headers
    )
    assert "app registration changed" in assert_problem(r, 409)["detail"]


async def test_registration_input_is_checked(client, alice, sandbox):
    base = f"/v1/accounts/{alice.tenant.account_id}/providers"
    r = await client.put(
        f"{base}/google",
        json={"client_id": "x", "client_secret": "y", "tenant": "contoso"},
        headers=alice.tenant.admin,
    )
    assert_problem(r, 422)
    r = await client.put(
        f"{base}/yahoo", json={"client_id": "x", "client_secret": "y"}, headers=alice.tenant.admin
    )
    assert_problem(r, 404)
    r = await client.delete(f"{base}/microsoft", headers=alice.tenant.admin)
    assert "no Microsoft 365 app registration of its own" in assert_problem(r, 404)["detail"]
    r = await client.put(
        f"{base}/google", json={"client_id": "x", "client_secret": "y"}, headers=alice.headers
    )
    assert_problem(r, 403)
