"""Graph lifecycle events (missed, reauthorizationRequired, subscriptionRemoved), renewal
before expiry over 14 simulated days with no uncovered moment, and reconciliation catching
a dropped notification (R9)."""

from __future__ import annotations

from datetime import datetime, timedelta

from calgate.sync.service import COALESCE_WINDOW

from .conftest import changed_messages, queued_jobs, subscriptions
from support.connect import GOOGLE_USER, MS_USER


async def graph_subs(world) -> list[dict]:
    result: list[dict] = (await world.control.get("/_sandbox/microsoft/subscriptions")).json()
    return result


async def test_missed_triggers_a_sync_that_finds_the_change_R9(connected, runtime, world, clock):
    cid = await connected("microsoft")
    base = await changed_messages(runtime, cid)  # the first (baseline) sync's
    (sub,) = await subscriptions(runtime)
    await world.control.post(
        "/_sandbox/faults", json={"kind": "drop_notifications", "provider": "microsoft"}
    )
    await world.control.post(
        f"/_sandbox/microsoft/users/{MS_USER}/events",
        json={
            "subject": "Dropped",
            "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "UTC"},
        },
    )
    await world.settle(runtime)
    assert await changed_messages(runtime, cid) == base
    r = await world.control.post(f"/_sandbox/microsoft/subscriptions/{sub['external_id']}/missed")
    assert r.status_code < 300, r.text
    clock.advance(seconds=COALESCE_WINDOW.total_seconds())  # past the baseline's message
    await world.settle(runtime)
    assert await changed_messages(runtime, cid) == base + 1
    registry = runtime.metrics.registry
    assert (
        registry.get_sample_value(
            "calgate_webhooks_received_total", {"provider": "microsoft", "kind": "missed"}
        )
        == 1
    )


async def test_reauthorization_required_refreshes_and_renews_R9(connected, runtime, world, clock):
    await connected("microsoft")
    (sub,) = await subscriptions(runtime)
    before = (await world.counters("microsoft")).get("token.refresh", 0)
    clock.advance(hours=1)
    r = await world.control.post(
        f"/_sandbox/microsoft/subscriptions/{sub['external_id']}/reauthorization-required"
    )
    assert r.status_code < 300, r.text
    await world.settle(runtime)
    counters = await world.counters("microsoft")
    assert counters.get("subscriptions.renew") == 1
    assert counters.get("token.refresh", 0) > before
    (after,) = await subscriptions(runtime)
    assert after["external_id"] == sub["external_id"]
    assert after["renewed_at"] is not None
    (graph,) = await graph_subs(world)
    assert graph["needsReauthorization"] is False


async def test_revoked_grant_pauses_then_reauthorization_fails_and_the_app_is_told_R9(
    connected, runtime, world
):
    cid = await connected("microsoft")
    base = await changed_messages(runtime, cid)  # the first (baseline) sync's
    r = await world.control.post(f"/_sandbox/microsoft/users/{MS_USER}/revoke", json={})
    assert r.status_code < 300, r.text
    await world.settle(runtime)
    assert await subscriptions(runtime) == []  # dropped locally: the grant is dead
    from .conftest import rows

    found = await rows(runtime, "SELECT type FROM user_events ORDER BY id")
    assert "connection.reauth_required" in [f["type"] for f in found]
    assert await changed_messages(runtime, cid) == base


async def test_subscription_removed_is_recreated_and_synced_R9(connected, runtime, world):
    await connected("microsoft")
    (old,) = await subscriptions(runtime)
    r = await world.control.post(f"/_sandbox/microsoft/subscriptions/{old['external_id']}/remove")
    assert r.status_code < 300, r.text
    await world.settle(runtime)
    (new,) = await subscriptions(runtime)
    assert new["external_id"] != old["external_id"]
    assert [g["id"] for g in await graph_subs(world)] == [new["external_id"]]
    assert await queued_jobs(runtime, "sync.connection") == 0  # the catch-up sync ran


async def test_reconciliation_catches_a_dropped_notification_R9(connected, runtime, world, clock):
    cid = await connected("google")
    base = await changed_messages(runtime, cid)  # the first (baseline) sync's
    await world.control.post(
        "/_sandbox/faults", json={"kind": "drop_notifications", "provider": "google"}
    )
    r = await world.control.post(
        f"/_sandbox/google/calendars/{GOOGLE_USER}/events",
        json={
            "summary": "Dropped",
            "start": {"dateTime": "2026-11-24T10:00:00Z"},
            "end": {"dateTime": "2026-11-24T11:00:00Z"},
        },
    )
    assert r.status_code == 201
    await world.settle(runtime)
    exists = [d for d in await world.deliveries("google") if d["kind"] == "watch.exists"]
    assert [d["state"] for d in exists] == ["dropped"]
    assert await changed_messages(runtime, cid) == base
    for _ in range(30):  # minute by minute: the sweep runs every minute
        clock.advance(minutes=1)
        await world.settle(runtime)
        if await changed_messages(runtime, cid) > base:
            break
    assert await changed_messages(runtime, cid) == base + 1
    assert clock.now() - datetime(2026, 11, 23, 9).astimezone(clock.now().tzinfo) <= timedelta(
        minutes=30
    )


async def test_renewal_over_14_days_leaves_no_uncovered_moment_R9(connected, runtime, world, clock):
    await connected("google")
    await connected("microsoft")
    start = clock.now()
    channels_seen: set[str] = set()
    graph_expiries: set[str] = set()
    step = timedelta(hours=6)
    while clock.now() - start < timedelta(days=14):
        # At every moment there is a live subscription at each provider that outlives the
        # next step: no notification can fall into a gap.
        horizon = clock.now() + step
        channels = (await world.control.get("/_sandbox/google/channels")).json()
        live = [c for c in channels if datetime.fromisoformat(c["expiration"]) > horizon]
        assert live, f"no Google channel covers {clock.now()} .. {horizon}"
        channels_seen.update(c["id"] for c in channels)
        graph = await graph_subs(world)
        covering = [
            g
            for g in graph
            if datetime.fromisoformat(g["expirationDateTime"].replace("Z", "+00:00")) > horizon
        ]
        assert covering, f"no Graph subscription covers {clock.now()} .. {horizon}"
        graph_expiries.update(g["expirationDateTime"] for g in graph)
        assert len(await subscriptions(runtime)) in (2, 3)  # Google overlap at most briefly
        clock.advance(step)
        await world.settle(runtime)
    assert len(channels_seen) >= 3  # Google: replaced at least twice (7-day channels)
    assert len(graph_expiries) >= 3  # Graph: renewed in place at least twice
    assert len(await graph_subs(world)) == 1
    assert len((await world.control.get("/_sandbox/google/channels")).json()) == 1
