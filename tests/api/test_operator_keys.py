"""Operator key-management routes: operator key + single-use TOTP code (R3), audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from calgate.vault import Secret

from support.canary import canary

ROTATE = "/v1/operator/keys/rotate"
REWRAP = "/v1/operator/keys/rewrap"
PURGE = "/v1/operator/credentials/purge"
STATUS = "/v1/operator/keys/status"


@pytest.fixture
def otp(runtime, clock):
    """A fresh code for each call: the clock moves one TOTP step forward every time."""

    def next_code() -> dict[str, str]:
        clock.advance(seconds=30)
        return {"X-Calgate-OTP": runtime.second_factor.code_at(clock.now())}

    return next_code


async def store(runtime, account_id, n=3):
    async with runtime.uow() as uow:
        for _ in range(n):
            await runtime.vault.put(
                uow,
                account_id=uuid.UUID(account_id),
                owner="connections",
                owner_id=str(uuid.uuid4()),
                field="refresh_token",
                value=Secret(canary("refresh-token")),
            )
        await uow.commit()


async def audit_actions(client, operator, account_id=None):
    if account_id is None:
        return None
    r = await client.get(f"/v1/accounts/{account_id}/audit", headers=operator)
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["items"] if isinstance(body, dict) else body
    return [e["action"] for e in items]


@pytest.mark.parametrize("path", [ROTATE, REWRAP, PURGE])
async def test_key_routes_need_the_second_factor_R3(client, operator, path):
    body = {"all_accounts": True} if path == PURGE else {}
    r = await client.post(path, json=body, headers=operator)
    assert r.status_code == 401
    problem = r.json()
    assert problem["second_factor"] == "totp"
    assert "X-Calgate-OTP" in problem["detail"]
    r = await client.post(path, json=body, headers={**operator, "X-Calgate-OTP": "000000"})
    assert r.status_code == 401
    assert "wrong or expired" in r.json()["detail"]
    r = await client.post(path, json=body, headers={**operator, "X-Calgate-OTP": "abc"})
    assert r.status_code == 401


@pytest.mark.parametrize("path", [ROTATE, REWRAP, PURGE])
async def test_key_routes_refuse_anyone_but_the_operator_R3(
    client, make_tenant, runtime, clock, path
):
    tenant = await make_tenant("Acme")
    code = runtime.second_factor.code_at(clock.now())
    body = {"account_id": tenant.account_id} if path == PURGE else {}
    r = await client.post(path, json=body, headers={**tenant.admin, "X-Calgate-OTP": code})
    assert r.status_code == 403
    r = await client.post(path, json=body, headers={"X-Calgate-OTP": code})
    assert r.status_code == 401
    r = await client.get(STATUS, headers=tenant.admin)
    assert r.status_code == 403


async def test_a_code_is_accepted_once_R3(client, operator, runtime, clock):
    code = runtime.second_factor.code_at(clock.now())
    r = await client.post(ROTATE, json={}, headers={**operator, "X-Calgate-OTP": code})
    assert r.status_code == 200, r.text
    r = await client.post(ROTATE, json={}, headers={**operator, "X-Calgate-OTP": code})
    assert r.status_code == 401
    assert "already used" in r.json()["detail"]
    # the code of the previous step is within the drift window, but older than a used one
    earlier = runtime.second_factor.code_at(clock.now() - timedelta(seconds=30))
    r = await client.post(ROTATE, json={}, headers={**operator, "X-Calgate-OTP": earlier})
    assert r.status_code == 401
    clock.advance(seconds=30)
    fresh = runtime.second_factor.code_at(clock.now())
    r = await client.post(ROTATE, json={}, headers={**operator, "X-Calgate-OTP": fresh})
    assert r.status_code == 200
    # a code from two steps ago is expired
    stale = runtime.second_factor.code_at(clock.now() - timedelta(seconds=90))
    r = await client.post(ROTATE, json={}, headers={**operator, "X-Calgate-OTP": stale})
    assert r.status_code == 401


async def test_rotate_rewrap_and_status_R2(client, operator, runtime, make_tenant, otp):
    tenants = [await make_tenant("A"), await make_tenant("B")]
    for t in tenants:
        await store(runtime, t.account_id)
    r = await client.get(STATUS, headers=operator)
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["secrets"] == 6
    assert status["versions"][0]["encryptions"] == 6
    assert status["second_factor_configured"] is True

    r = await client.post(ROTATE, json={"kek": True}, headers={**operator, **otp()})
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["kek_rotated"] is True
    assert rotated["data_keys_rotated"] == 2
    assert rotated["kek_id"] != status["kek_id"]
    status = (await client.get(STATUS, headers=operator)).json()
    assert status["secrets_on_retired_keys"] == 6
    assert status["warnings"]

    r = await client.post(REWRAP, json={"batch_size": 4}, headers={**operator, **otp()})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "data_keys_rewrapped": 2,  # the retired ones; the new ones are under the new KEK
        "secrets_rewrapped": 6,
        "unreadable": 0,
        "batches": 3,
        "complete": True,
    }
    status = (await client.get(STATUS, headers=operator)).json()
    assert status["secrets_on_retired_keys"] == 0
    assert status["warnings"] == []
    assert status["data_keys_per_kek"] == {rotated["kek_id"]: 4}

    r = await client.post(
        ROTATE, json={"account_id": str(uuid.uuid4())}, headers={**operator, **otp()}
    )
    assert r.status_code == 404
    r = await client.post(
        ROTATE, json={"account_id": tenants[0].account_id}, headers={**operator, **otp()}
    )
    assert r.json()["data_keys_rotated"] == 1


async def test_purge_one_account_destroys_its_credentials_and_is_audited_R3(
    client, operator, runtime, make_tenant, otp
):
    victim, other = await make_tenant("Victim"), await make_tenant("Other")
    await store(runtime, victim.account_id, 3)
    await store(runtime, other.account_id, 2)
    r = await client.post(PURGE, json={}, headers={**operator, **otp()})
    assert r.status_code == 422
    r = await client.post(
        PURGE,
        json={"account_id": victim.account_id, "all_accounts": True},
        headers={**operator, **otp()},
    )
    assert r.status_code == 422
    r = await client.post(
        PURGE, json={"account_id": victim.account_id}, headers={**operator, **otp()}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"secrets_deleted": 3, "data_keys_destroyed": 1}
    status = (await client.get(STATUS, headers=operator)).json()
    assert status["secrets"] == 2
    actions = await audit_actions(client, operator, victim.account_id)
    assert "credentials.purged" in actions
    # the tenant's admin sees the purge in their own audit log
    r = await client.get(f"/v1/accounts/{victim.account_id}/audit", headers=victim.admin)
    assert r.status_code == 200

    r = await client.post(PURGE, json={"all_accounts": True}, headers={**operator, **otp()})
    assert r.json() == {"secrets_deleted": 2, "data_keys_destroyed": 1}


async def test_no_second_factor_configured_refuses_R3(make_settings, clock):
    import base64
    import os

    import httpx
    from asgi_lifespan import LifespanManager

    from calgate.api.app import create_app
    from calgate.bootstrap import build_runtime
    from calgate.vault.keys import KEY_BYTES

    settings = make_settings(
        env="production",
        master_key=base64.b64encode(os.urandom(KEY_BYTES)).decode(),
        auth_mode="local",
    )
    runtime = await build_runtime(settings, clock=clock, auto_migrate=False)
    try:
        app = create_app(settings, runtime=runtime)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver"
            ) as c,
        ):
            headers = {"Authorization": f"Bearer {settings.operator_key.get_secret_value()}"}
            r = await c.post(ROTATE, json={}, headers={**headers, "X-Calgate-OTP": "123456"})
            assert r.status_code == 403
            assert "CALGATE_OPERATOR_TOTP_SECRET" in r.json()["detail"]
            r = await c.get(STATUS, headers=headers)
            assert r.json()["second_factor_configured"] is False
    finally:
        await runtime.aclose()
