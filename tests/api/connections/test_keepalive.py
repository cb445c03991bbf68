"""The keep-alive job refreshes idle grants before their refresh token lapses (Microsoft:
90 days without use), and clears expired started flows and old tombstones."""

from __future__ import annotations

from datetime import timedelta

from calgate.connections.jobs import KEEPALIVE

from .helpers import connection_rows, state_rows
from support.connect import GOOGLE_USER, MS_USER, connect, start


async def sign_in(client, user) -> dict[str, str]:
    r = await client.post(
        "/v1/sessions",
        json={"email": user.email, "password": user.password, "account_id": user.tenant.account_id},
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_keepalive_job_is_registered_and_scheduled(runtime):
    assert KEEPALIVE in runtime.job_registry.kinds
    assert any(s.kind == KEEPALIVE for s in runtime.job_registry.schedules)


async def test_idle_grants_are_kept_alive_past_the_providers_lapse(
    client, browser, alice, runtime, clock, sandbox
):
    await connect(client, browser, alice.headers, "microsoft", MS_USER)
    await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    connections = runtime.connections

    clock.advance(days=20)
    report = await connections.keep_alive()
    assert report.refreshed == 0  # not idle long enough (CALGATE_CONNECTION_KEEPALIVE_DAYS=30)

    clock.advance(days=40)  # 60 days idle
    report = await connections.keep_alive()
    assert (report.refreshed, report.failed) == (2, 0)
    assert (await sandbox.counters("microsoft")).get("token.refresh") == 1
    rows = await connection_rows(runtime)
    assert {r["token_version"] for r in rows} == {2}

    clock.advance(days=60)  # 120 days since connecting: without keep-alive it had lapsed
    headers = await sign_in(client, alice)
    r = await client.get("/v1/me/credentials", params={"force_refresh": "true"}, headers=headers)
    assert r.status_code == 200, r.text
    assert {c["status"] for c in r.json()["connections"]} == {"active"}


async def test_without_keepalive_an_idle_microsoft_grant_lapses(
    client, browser, alice, clock, sandbox
):
    """The control case for the test above: 91 idle days and Entra refuses (AADSTS700082)."""
    await connect(client, browser, alice.headers, "microsoft", MS_USER)
    clock.advance(days=91)
    headers = await sign_in(client, alice)
    r = await client.get("/v1/me/credentials", params={"force_refresh": "true"}, headers=headers)
    assert r.status_code == 409
    assert "AADSTS700082" in r.json()["detail"]


async def test_expired_flows_and_old_tombstones_are_cleared(
    client, browser, alice, runtime, clock, sandbox
):
    made = await connect(client, browser, alice.headers, "google", GOOGLE_USER)
    await client.delete(f"/v1/me/connections/{made['connection_id']}", headers=alice.headers)
    await start(client, alice.headers, "microsoft", MS_USER)
    assert await state_rows(runtime) == 1

    clock.advance(minutes=11)
    report = await runtime.connections.keep_alive()
    assert (report.states_purged, report.tombstones_purged) == (1, 0)
    assert await state_rows(runtime) == 0
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        n = await conn.execute(
            text("SELECT count(*) FROM vault_secrets WHERE owner='oauth_states'")
        )
        assert n.scalar_one() == 0

    clock.advance(timedelta(days=31))
    report = await runtime.connections.keep_alive()
    assert report.tombstones_purged == 1
    assert await connection_rows(runtime) == []
