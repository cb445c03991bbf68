"""The webhook receivers: Graph's validation handshake, and forged, unknown and replayed
notifications refused or dropped without being processed (R9)."""

from __future__ import annotations

import json

import httpx
from prometheus_client import CollectorRegistry

from calgate.api.stream import direct_streams

from .conftest import changed_messages, queued_jobs, subscriptions
from support.live import serve_app


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return value or 0.0


async def test_graph_validation_handshake_echoes_the_token_as_plain_text_R9(client):
    token = "Validation: Testing client application reachability for subscription Request-Id: x&y"
    for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
        r = await client.post(
            path, params={"validationToken": token}, headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == token
        r = await client.get(path, params={"validationToken": token})
        assert r.status_code == 200
        assert r.text == token


async def google_headers(sub: dict, *, token: str, number: int, state: str = "exists") -> dict:
    return {
        "X-Goog-Channel-ID": sub["external_id"],
        "X-Goog-Channel-Token": token,
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-ID": sub["resource_id"],
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-URI": "https://example.invalid/calendar/v3/calendars/x/events",
    }


async def secret_of(runtime, sub: dict) -> str:
    import uuid

    async with runtime.uow(readonly=True) as uow:
        secret = await runtime.vault.get(
            uow,
            account_id=uuid.UUID(str(sub["account_id"])),
            owner="subscriptions",
            owner_id=uuid.UUID(str(sub["id"])),
            field="secret",
        )
    assert secret is not None
    return secret.reveal()


async def test_forged_and_replayed_google_notifications_are_never_processed_R9(
    connected, runtime, client
):
    await connected("google")
    (sub,) = await subscriptions(runtime)
    good = await secret_of(runtime, sub)
    registry = runtime.metrics.registry
    assert await queued_jobs(runtime, "sync.connection") == 0

    forged = await google_headers(sub, token="not-the-token", number=50)
    assert (await client.post("/webhooks/google", headers=forged)).status_code == 403
    missing = await google_headers(sub, token="", number=51)
    del missing["X-Goog-Channel-Token"]
    assert (await client.post("/webhooks/google", headers=missing)).status_code == 403
    unknown = await google_headers(sub | {"external_id": "no-such-channel"}, token=good, number=52)
    assert (await client.post("/webhooks/google", headers=unknown)).status_code == 403
    malformed = await google_headers(sub, token=good, number=53)
    malformed["X-Goog-Message-Number"] = "many"
    assert (await client.post("/webhooks/google", headers=malformed)).status_code == 400
    assert await queued_jobs(runtime, "sync.connection") == 0
    refused = "calgate_webhooks_refused_total"
    assert metric(registry, refused, provider="google", reason="bad_secret") == 2
    assert metric(registry, refused, provider="google", reason="unknown_subscription") == 1
    assert metric(registry, refused, provider="google", reason="malformed") == 1

    real = await google_headers(sub, token=good, number=60)
    assert (await client.post("/webhooks/google", headers=real)).status_code == 200
    assert await queued_jobs(runtime, "sync.connection") == 1
    await runtime.job_runner().run_pending()
    assert await queued_jobs(runtime, "sync.connection") == 0
    replay = await client.post("/webhooks/google", headers=real)
    assert replay.status_code == 200  # acknowledged, so Google stops; but not processed
    assert await queued_jobs(runtime, "sync.connection") == 0
    assert metric(registry, "calgate_webhooks_duplicate_total", provider="google") == 1


async def test_forged_and_replayed_graph_notifications_are_never_processed_R9(
    connected, runtime, client
):
    await connected("microsoft")
    (sub,) = await subscriptions(runtime)
    good = await secret_of(runtime, sub)
    registry = runtime.metrics.registry

    def note(client_state: str | None, sub_id: str, etag: str = 'W/"1"') -> dict:
        item = {
            "subscriptionId": sub_id,
            "subscriptionExpirationDateTime": "2026-11-30T09:00:00Z",
            "changeType": "updated",
            "resource": "Users/u/Events/e1",
            "tenantId": "t",
            "resourceData": {"@odata.etag": etag, "id": "e1"},
        }
        if client_state is not None:
            item["clientState"] = client_state
        return item

    forged = {"value": [note("wrong", sub["external_id"]), note(None, sub["external_id"])]}
    r = await client.post("/webhooks/microsoft", json=forged)
    assert r.status_code == 202  # Graph is told "received", and nothing happens
    unknown = {"value": [note(good, "00000000-0000-0000-0000-000000000000")]}
    assert (await client.post("/webhooks/microsoft", json=unknown)).status_code == 202
    r = await client.post(
        "/webhooks/microsoft", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    # a change notification sent to the lifecycle URL is not a lifecycle event
    lifecycle = await client.post(
        "/webhooks/microsoft/lifecycle", json={"value": [note(good, sub["external_id"])]}
    )
    assert lifecycle.status_code == 202
    assert await queued_jobs(runtime, "sync.connection") == 0
    assert await queued_jobs(runtime, "subscriptions.lifecycle") == 0
    refused = "calgate_webhooks_refused_total"
    assert metric(registry, refused, provider="microsoft", reason="bad_secret") == 2
    assert metric(registry, refused, provider="microsoft", reason="unknown_subscription") == 1

    real = {"value": [note(good, sub["external_id"])]}
    assert (await client.post("/webhooks/microsoft", json=real)).status_code == 202
    assert await queued_jobs(runtime, "sync.connection") == 1
    await runtime.job_runner().run_pending()
    body = json.dumps(real)
    again = await client.post(
        "/webhooks/microsoft", content=body, headers={"Content-Type": "application/json"}
    )
    assert again.status_code == 202
    assert await queued_jobs(runtime, "sync.connection") == 0
    assert metric(registry, "calgate_webhooks_duplicate_total", provider="microsoft") == 1
    # the next version of the item is a new change
    newer = {"value": [note(good, sub["external_id"], etag='W/"2"')]}
    assert (await client.post("/webhooks/microsoft", json=newer)).status_code == 202
    assert await queued_jobs(runtime, "sync.connection") == 1


async def test_a_burst_for_one_connection_becomes_one_sync_and_one_message_R9(
    connected, runtime, client
):
    cid = await connected("google")
    base = await changed_messages(runtime, cid)  # the first (baseline) sync's
    (sub,) = await subscriptions(runtime)
    good = await secret_of(runtime, sub)
    for number in range(100, 120):
        headers = await google_headers(sub, token=good, number=number)
        assert (await client.post("/webhooks/google", headers=headers)).status_code == 200
    assert await queued_jobs(runtime, "sync.connection") == 1
    ran = await runtime.job_runner().run_pending()
    assert ran == 1
    # nothing changed at the provider: the sync finds nothing and tells nobody
    assert await changed_messages(runtime, cid) == base


async def test_the_inbox_is_purged_after_the_retention(connected, runtime, client, clock):
    await connected("google")
    (sub,) = await subscriptions(runtime)
    good = await secret_of(runtime, sub)
    for number in range(200, 205):
        headers = await google_headers(sub, token=good, number=number)
        assert (await client.post("/webhooks/google", headers=headers)).status_code == 200
    from .conftest import rows

    assert len(await rows(runtime, "SELECT id FROM webhook_inbox")) >= 5
    clock.advance(hours=runtime.settings.notification_retention_hours + 1)
    report = await runtime.push.reconcile()
    assert report.inbox_purged >= 5
    assert await rows(runtime, "SELECT id FROM webhook_inbox") == []


async def test_as_served_webhooks_skip_the_middleware_and_still_bound_the_body_R9(app, runtime):
    """`calgate serve` hands webhooks to their routes ahead of the middleware
    (`direct_streams`): the handshake and refusals answer as before, no middleware header
    is added, and a body past the limit is refused without being read to its end."""
    async with serve_app(direct_streams(app)) as url, httpx.AsyncClient(base_url=url) as http:
        r = await http.post("/webhooks/microsoft", params={"validationToken": "abc"})
        assert (r.status_code, r.text) == (200, "abc")
        assert "x-request-id" not in r.headers  # straight to the route
        headers = {
            "X-Goog-Channel-ID": "no-such-channel",
            "X-Goog-Channel-Token": "forged",
            "X-Goog-Message-Number": "1",
            "X-Goog-Resource-State": "exists",
        }
        assert (await http.post("/webhooks/google", headers=headers)).status_code == 403
        before = metric(
            runtime.metrics.registry,
            "calgate_webhooks_refused_total",
            provider="microsoft",
            reason="too_large",
        )
        huge = b'{"value": [' + b" " * 1_100_000 + b"]}"
        r = await http.post("/webhooks/microsoft", content=huge)
        assert r.status_code == 413
        after = metric(
            runtime.metrics.registry,
            "calgate_webhooks_refused_total",
            provider="microsoft",
            reason="too_large",
        )
        assert after == before + 1
        assert (await http.get("/healthz")).headers["x-request-id"]  # the rest: as before
