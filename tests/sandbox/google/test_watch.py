"""Push notifications: provider-protocols §5.3 (events.watch, headers, channels.stop) and
§10.5 (sync first, then exists with an empty body; channels expire, never renewed)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from .conftest import CAL_API, CALENDAR_READONLY, GoogleWorld

WATCH = f"{CAL_API}/calendars/primary/events/watch"
EVENT = {
    "summary": "x",
    "start": {"dateTime": "2026-11-24T10:00:00Z"},
    "end": {"dateTime": "2026-11-24T11:00:00Z"},
}


async def _watch(google: GoogleWorld, channel_id: str = "chan-1", **extra: Any) -> dict[str, Any]:
    headers = await google.bearer(scopes=(CALENDAR_READONLY,))
    body = {
        "id": channel_id,
        "type": "web_hook",
        "address": "https://hooks.example.test/google",
        **extra,
    }
    r = await google.http.post(WATCH, headers=headers, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_watch_sends_sync_then_exists_with_x_goog_headers_R9(google: GoogleWorld) -> None:
    """provider-protocols §5.3: response (kind api#channel, resourceId, resourceUri, ms
    expiration, default 7 days); notifications POSTed with an empty body and X-Goog-* headers,
    `sync` first (message 1), then `exists` after a change."""
    channel = await _watch(google, token="opaque-channel-token")
    assert channel["kind"] == "api#channel"
    assert channel["id"] == "chan-1"
    assert channel["token"] == "opaque-channel-token"
    t0 = int(google.core.clock.now().timestamp() * 1000)
    assert int(channel["expiration"]) - t0 == 604_800_000
    await google.drain()
    await google.user_insert("alice@example.com", EVENT)
    await google.drain()

    sync, exists = google.receiver.requests
    assert sync.path == "/google"
    assert sync.body == b""
    assert exists.body == b""
    for message, state, number in ((sync, "sync", "1"), (exists, "exists", "2")):
        h = message.headers
        assert h["x-goog-channel-id"] == "chan-1"
        assert h["x-goog-channel-token"] == "opaque-channel-token"
        assert h["x-goog-resource-id"] == channel["resourceId"]
        assert h["x-goog-resource-uri"] == channel["resourceUri"]
        assert h["x-goog-resource-state"] == state
        assert h["x-goog-message-number"] == number
        expiry = parsedate_to_datetime(h["x-goog-channel-expiration"])
        assert int(expiry.timestamp() * 1000) == int(channel["expiration"])
        assert h["x-goog-channel-expiration"].endswith(" GMT")
    assert "x-goog-changed" not in exists.headers
    counters = google.core.counters_for("google")
    assert counters["notifications.sync"] == 1
    assert counters["notifications.exists"] == 1


async def test_resource_id_is_stable_and_token_optional(google: GoogleWorld) -> None:
    """provider-protocols §5.3: resourceId is opaque and stable for the watched resource;
    X-Goog-Channel-Token only if a token was set; params.ttl sets the lifetime."""
    one = await _watch(google, "one")
    two = await _watch(google, "two", params={"ttl": "3600"})
    assert one["resourceId"] == two["resourceId"]
    assert int(two["expiration"]) - int(google.core.clock.now().timestamp() * 1000) == 3_600_000
    await google.drain()
    assert all("x-goog-channel-token" not in m.headers for m in google.receiver.requests)


async def test_expired_channels_are_silent_and_never_renewed(google: GoogleWorld) -> None:
    """provider-protocols §5.3 and §10.5: channels expire (default 7 days) and are never
    renewed: after expiry no notification is sent."""
    await _watch(google)
    google.advance(days=7)
    await google.user_insert("alice@example.com", EVENT)
    await google.drain()
    assert [m.headers["x-goog-resource-state"] for m in google.receiver.requests] == ["sync"]
    channels = (await google.http.get("/_sandbox/google/channels")).json()
    assert channels == []


async def test_channels_stop(google: GoogleWorld) -> None:
    """provider-protocols §5.3: POST /channels/stop {id, resourceId} → 204 empty; unknown or
    someone else's channel → 404."""
    channel = await _watch(google)
    bob = await google.bearer("bob@example.com")
    stop = {"id": channel["id"], "resourceId": channel["resourceId"]}
    r = await google.http.post(f"{CAL_API}/channels/stop", headers=bob, json=stop)
    assert r.status_code == 404
    alice = await google.bearer()
    r = await google.http.post(f"{CAL_API}/channels/stop", headers=alice, json=stop)
    assert (r.status_code, r.content) == (204, b"")
    await google.user_insert("alice@example.com", EVENT)
    await google.drain()
    assert len(google.receiver.requests) == 1  # only the sync message
    r = await google.http.post(f"{CAL_API}/channels/stop", headers=alice, json=stop)
    assert r.status_code == 404


async def test_watch_validation(google: GoogleWorld) -> None:
    """provider-protocols §5.3: id ≤ 64 chars and unique, type web_hook|webhook, address."""
    await _watch(google)
    headers = await google.bearer()
    for body in (
        {"id": "chan-1", "type": "web_hook", "address": "https://x.example/"},
        {"id": "x" * 65, "type": "web_hook", "address": "https://x.example/"},
        {"id": "ok", "type": "email", "address": "https://x.example/"},
        {"id": "ok", "type": "webhook", "address": "ftp://x.example/"},
    ):
        r = await google.http.post(WATCH, headers=headers, json=body)
        assert r.status_code == 400, body
    await google.http.patch("/_sandbox/google/settings", json={"require_https_webhooks": True})
    body = {"id": "plain", "type": "webhook", "address": "http://x.example/"}
    assert (await google.http.post(WATCH, headers=headers, json=body)).status_code == 400


async def test_receiver_5xx_is_retried_other_failures_are_not(google: GoogleWorld) -> None:
    """provider-protocols §5.3: 500/502/503/504 → retried with back-off; any other code is a
    failure, not retried."""
    google.receiver.statuses.extend([503, 200])
    await _watch(google, "retry")
    await google.drain()
    assert len(google.receiver.requests) == 2
    google.receiver.statuses.extend([404])
    await _watch(google, "gone")
    await google.drain()
    assert len(google.receiver.requests) == 3
    states = (
        {d.summary()["kind"]: d.state for d in google.core.webhooks.history("google")}
        if google.core.webhooks
        else {}
    )
    assert list(states.values())[-1] == "failed"


async def test_dropped_notifications_and_removed_channels(google: GoogleWorld) -> None:
    """provider-protocols §10.5 with fault injection (DESIGN §5): a dropped notification never
    arrives; a channel removed by the provider goes silent."""
    r = await google.http.post(
        "/_sandbox/faults", json={"kind": "drop_notifications", "provider": "google"}
    )
    assert r.status_code == 201
    await _watch(google)
    await google.drain()
    assert google.receiver.requests == []
    assert google.core.counters_for("google")["webhook.dropped"] == 1
    assert (await google.http.delete("/_sandbox/google/channels/chan-1")).status_code == 204
    await google.user_insert("alice@example.com", EVENT)
    await google.drain()
    assert google.receiver.requests == []
