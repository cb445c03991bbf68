"""Subscribing after connect, a change made at the provider reaching the user's apps, and
stopping on disconnect (R9)."""

from __future__ import annotations

import uuid

from calgate.sync.service import COALESCE_WINDOW

from .conftest import changed_messages, execute, rows, subscriptions
from support.connect import GOOGLE_USER, MS_USER


async def add_google_event(world, summary: str) -> None:
    """An event tomorrow morning in alice's Google calendar, made at the provider."""
    r = await world.control.post(
        f"/_sandbox/google/calendars/{GOOGLE_USER}/events",
        json={
            "summary": summary,
            "start": {"dateTime": "2026-11-24T10:00:00Z"},
            "end": {"dateTime": "2026-11-24T11:00:00Z"},
        },
    )
    assert r.status_code == 201, r.text


async def test_google_connect_subscribes_with_a_vaulted_secret_R9(connected, runtime, world):
    cid = await connected("google")
    subs = await subscriptions(runtime)
    assert len(subs) == 1
    sub = subs[0]
    assert sub["state"] == "active"
    assert sub["provider"] == "google"
    channels = (await world.control.get("/_sandbox/google/channels")).json()
    assert [c["id"] for c in channels] == [sub["external_id"]]
    assert channels[0]["address"] == "http://testserver/webhooks/google"
    # the first (sync) message was recognised: stored, not refused
    assert sub["last_notification_at"] is not None
    async with runtime.uow(readonly=True) as uow:
        secret = await runtime.vault.get(
            uow,
            account_id=uuid.UUID(str(sub["account_id"])),
            owner="subscriptions",
            owner_id=uuid.UUID(str(sub["id"])),
            field="secret",
        )
    assert secret is not None
    assert secret.reveal() not in str(sub)
    state = await rows(runtime, "SELECT * FROM sync_states")
    assert len(state) == 1
    assert state[0]["cursor"]
    assert str(uuid.UUID(str(state[0]["connection_id"]))) == cid


async def test_a_change_at_google_reaches_the_apps_R9(connected, runtime, world, clock):
    cid = await connected("google")
    # The first (baseline) listing tells the apps once: they may have fetched before it.
    assert await changed_messages(runtime, cid) == 1
    await add_google_event(world, "Planning")
    clock.advance(seconds=COALESCE_WINDOW.total_seconds())  # past the baseline's message
    await world.settle(runtime)
    assert await changed_messages(runtime, cid) == 2
    delivered = [d for d in await world.deliveries("google") if d["kind"] == "watch.exists"]
    assert [d["last_status"] for d in delivered] == [200]


async def test_a_change_absorbed_by_the_baseline_still_reaches_the_apps_R9(
    connected, runtime, world
):
    """A change made while the first (baseline) sync lists the calendar lands in that
    listing; its webhook's run then finds nothing new. Apps may have fetched before it, so
    the baseline itself tells them."""
    cid = await connected("google")
    await execute(runtime, "DELETE FROM user_events")
    await execute(runtime, "UPDATE sync_states SET cursor = NULL, last_success_at = NULL")
    await add_google_event(world, "Planning")
    outcome = await runtime.push.sync.run(uuid.UUID(cid), reason="subscribed")
    assert outcome.outcome == "full"
    assert await changed_messages(runtime, cid) == 1
    outcome = await runtime.push.sync.run(uuid.UUID(cid), reason="webhook")
    assert outcome.outcome == "unchanged"  # the baseline had it already


async def test_a_sweep_during_the_first_sync_starts_no_second_one_R9(connected, runtime):
    """The reconciliation sweep enqueues the syncs that are due; a connection whose first
    sync is running is not due (a second full listing beside it would list the calendar
    again and announce it twice)."""
    cid = await connected("google")
    await execute(runtime, "DELETE FROM sync_states")
    await execute(runtime, "DELETE FROM jobs WHERE kind = 'sync.connection'")
    sweeps = []

    class SweepMeanwhile:
        name = "sweep-meanwhile"

        async def on_changes(self, ctx, changes):
            sweeps.append(await runtime.push.reconcile())

    runtime.push.sync.consumers.register(SweepMeanwhile())
    outcome = await runtime.push.sync.run(uuid.UUID(cid), reason="subscribed")
    assert outcome.outcome == "full"
    assert [sweep.syncs for sweep in sweeps] == [0]
    queued = await rows(runtime, "SELECT id FROM jobs WHERE kind = 'sync.connection'")
    assert queued == []


async def test_a_change_at_microsoft_reaches_the_apps_R9(connected, runtime, world):
    cid = await connected("microsoft")
    subs = await subscriptions(runtime)
    assert [s["state"] for s in subs] == ["active"]
    graph = (await world.control.get("/_sandbox/microsoft/subscriptions")).json()
    assert [g["id"] for g in graph] == [subs[0]["external_id"]]
    assert graph[0]["lifecycleNotificationUrl"] == "http://testserver/webhooks/microsoft/lifecycle"
    r = await world.control.post(
        f"/_sandbox/microsoft/users/{MS_USER}/events",
        json={
            "subject": "Planning",
            "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "UTC"},
        },
    )
    assert r.status_code == 201, r.text
    await world.settle(runtime)
    assert await changed_messages(runtime, cid) == 1
    notes = [d for d in await world.deliveries("microsoft") if d["kind"] == "notification"]
    assert [d["last_status"] for d in notes] == [202]


async def test_removal_stops_the_subscription_here_and_at_the_provider_R9(
    connected, runtime, world, client, alice
):
    google = await connected("google")
    microsoft = await connected("microsoft")
    assert len(await subscriptions(runtime)) == 2
    for cid in (google, microsoft):
        r = await client.delete(
            f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections/{cid}",
            headers=alice.tenant.admin,
        )
        assert r.status_code == 204, r.text
    assert await subscriptions(runtime) == []
    secrets = await rows(runtime, "SELECT * FROM vault_secrets WHERE owner = 'subscriptions'")
    assert secrets == []
    assert (await world.control.get("/_sandbox/google/channels")).json() == []
    assert (await world.control.get("/_sandbox/microsoft/subscriptions")).json() == []


async def test_admins_see_subscription_and_sync_state_R9(connected, runtime, client, alice):
    cid = await connected("google")
    r = await client.get(
        f"/v1/accounts/{alice.tenant.account_id}/users/{alice.user_id}/connections",
        headers=alice.tenant.admin,
    )
    assert r.status_code == 200, r.text
    (listed,) = r.json()
    assert listed["id"].replace("-", "") == cid.replace("-", "")
    status = listed["notifications"]
    assert status["subscription_state"] == "active"
    assert status["subscription_expires_at"] > status["subscription_renews_at"]
    assert status["last_notification_at"] is not None  # the channel's first message
    assert status["last_success_at"] is not None
    assert status["sync_error"] is None
    assert status["next_check_at"] > status["last_success_at"]
