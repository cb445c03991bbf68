"""Graph change-notification subscriptions (provider-protocols §3): validation handshake,
notifications, lifecycle events, expiry and renewal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from calgate.sandbox.app import create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft import MicrosoftEmulator

from .conftest import ALICE, BOB, RECEIVER, ROOM, T0, GraphReceiver, MsWorld
from .test_graph_events import assert_graph_error, event_body
from support.servers import serve_in_thread

NOTIFY = f"{RECEIVER}/notify?tenant=contoso"
LIFECYCLE = f"{RECEIVER}/lifecycle"


def sub_body(resource: str = "me/events", **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": NOTIFY,
        "lifecycleNotificationUrl": LIFECYCLE,
        "resource": resource,
        "expirationDateTime": (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z"),
        "clientState": "client-state-1",
        **extra,
    }


async def subscribe(world: MsWorld, token: str, **extra: Any) -> dict[str, Any]:
    r = await world.graph("POST", "/subscriptions", token, json=sub_body(**extra))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_performs_validation_handshake(world: MsWorld) -> None:
    """provider-protocols §3.2: POST {notificationUrl}?validationToken=… (existing query
    parameters kept), also for lifecycleNotificationUrl; the echo creates the subscription."""
    token = await world.user_token(ALICE, "Calendars.Read")
    sub = await subscribe(world, token)
    assert len(world.receiver.validations) == 2
    notify, lifecycle = world.receiver.validations
    assert notify.startswith("/notify?")
    assert "tenant=contoso" in notify
    assert "validationToken=" in notify
    assert lifecycle.startswith("/lifecycle?validationToken=")
    assert sub["clientState"] == "client-state-1"
    assert sub["resource"] == "me/events"
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["applicationId"] == world.client_id
    listed = (await world.graph("GET", "/subscriptions", token)).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert world.core.counters_for("microsoft")["subscriptions.create"] == 1


async def test_failed_handshake_is_400_and_creates_nothing(world: MsWorld) -> None:
    """provider-protocols §3.2: anything but a 200 text/plain echo → 400 ValidationError; no
    answer in time → 400 InvalidRequest "…timed out."."""
    token = await world.user_token(ALICE, "Calendars.Read")
    for mode in ("json", "status"):
        world.receiver.mode = mode
        r = await world.graph("POST", "/subscriptions", token, json=sub_body())
        assert_graph_error(r, 400, "ValidationError")
    world.receiver.mode, world.receiver.delay = "slow", 0.5
    await world.control("PATCH", "/settings", json={"validation_timeout_seconds": 0.1})
    r = await world.graph("POST", "/subscriptions", token, json=sub_body())
    assert_graph_error(r, 400, "InvalidRequest")
    assert "timed out" in r.json()["error"]["message"]
    assert (await world.graph("GET", "/subscriptions", token)).json()["value"] == []


async def test_expiration_is_clamped_to_the_configured_maximum(world: MsWorld) -> None:
    """provider-protocols §3.1: expiry past the maximum (default 10,080 minutes) is clamped and
    the clamped value returned; legacy services reject with 400 ExtensionError (4,230)."""
    token = await world.user_token(ALICE, "Calendars.Read")
    far = (T0 + timedelta(days=30)).isoformat()
    sub = await subscribe(world, token, expirationDateTime=far)
    assert sub["expirationDateTime"].startswith("2026-11-30T09:00:00")
    await world.control(
        "PATCH", "/settings", json={"max_subscription_minutes": 4230, "on_excess_expiry": "reject"}
    )
    r = await world.graph("POST", "/subscriptions", token, json=sub_body(expirationDateTime=far))
    assert_graph_error(r, 400, "ExtensionError")
    assert "4230 minutes" in r.json()["error"]["message"]
    past = (T0 - timedelta(minutes=1)).isoformat()
    r = await world.graph("POST", "/subscriptions", token, json=sub_body(expirationDateTime=past))
    assert r.status_code == 400


async def test_changes_notify_with_client_state(world: MsWorld) -> None:
    """provider-protocols §3.3: created/updated/deleted notifications carry subscriptionId,
    clientState, changeType, resource, resourceData{@odata.type,@odata.id,id},
    subscriptionExpirationDateTime and tenantId; changes made in Outlook (control API) too."""
    token = await world.user_token(ALICE, "Calendars.ReadWrite")
    sub = await subscribe(world, token)
    created = (await world.graph("POST", "/me/events", token, json=event_body())).json()
    await world.control("PATCH", f"/users/{ALICE}/events/{created['id']}", json={"subject": "x"})
    await world.control("DELETE", f"/users/{ALICE}/events/{created['id']}")
    await world.graph(
        "POST", f"/users/{BOB}/events", await world.user_token(BOB), json=event_body()
    )  # another mailbox: not notified
    await world.drain()
    got = world.receiver.notifications
    assert [n["changeType"] for n in got] == ["created", "updated", "deleted"]
    first = got[0]
    resource = f"Users/{world.users[ALICE]}/Events/{created['id']}"
    assert first["subscriptionId"] == sub["id"]
    assert first["clientState"] == "client-state-1"
    assert first["resource"] == resource
    assert first["tenantId"] == world.tenant_id
    assert first["subscriptionExpirationDateTime"] == sub["expirationDateTime"]
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert first["resourceData"]["@odata.id"] == resource
    assert first["resourceData"]["id"] == created["id"]
    deliveries = world.core.webhooks.history("microsoft") if world.core.webhooks else []
    assert {d.timeout for d in deliveries if d.kind == "notification"} == {3.0}


async def test_change_types_filter_notifications(world: MsWorld) -> None:
    """provider-protocols §3.1: only the subscribed change types are sent."""
    token = await world.user_token(ALICE, "Calendars.ReadWrite")
    await subscribe(world, token, changeType="deleted")
    created = (await world.graph("POST", "/me/events", token, json=event_body())).json()
    await world.graph("DELETE", f"/me/events/{created['id']}", token)
    await world.drain()
    assert [n["changeType"] for n in world.receiver.notifications] == ["deleted"]


async def test_reauthorization_required_before_expiry_then_expired_stops(world: MsWorld) -> None:
    """provider-protocols §3.4: reauthorizationRequired near expiry; an expired subscription
    stops notifying and disappears."""
    token = await world.user_token(ALICE, "Calendars.ReadWrite")
    sub = await subscribe(world, token)
    world.core.clock.advance(timedelta(days=2, minutes=-30).total_seconds())
    await world.http.post("/_sandbox/microsoft/subscriptions/sweep")
    await world.drain()
    assert [e["lifecycleEvent"] for e in world.receiver.lifecycle] == ["reauthorizationRequired"]
    assert world.receiver.lifecycle[0]["subscriptionId"] == sub["id"]
    assert world.receiver.lifecycle[0]["clientState"] == "client-state-1"
    world.core.clock.advance(31 * 60)
    fresh = await world.user_token(ALICE, "Calendars.ReadWrite")
    await world.control("POST", f"/users/{ALICE}/events", json=event_body())
    await world.drain()
    assert world.receiver.notifications == []
    assert (await world.graph("GET", "/subscriptions", fresh)).json()["value"] == []


async def test_renew_extends_and_lifecycle_url_is_fixed_at_creation(world: MsWorld) -> None:
    """provider-protocols §3.1: PATCH renews (clamped); lifecycleNotificationUrl cannot be
    added later; DELETE 204 stops notifications."""
    token = await world.user_token(ALICE, "Calendars.ReadWrite")
    sub = await subscribe(world, token, lifecycleNotificationUrl=None)
    new_expiry = (T0 + timedelta(days=6)).isoformat()
    r = await world.graph(
        "PATCH", f"/subscriptions/{sub['id']}", token, json={"expirationDateTime": new_expiry}
    )
    assert r.status_code == 200
    assert r.json()["expirationDateTime"].startswith("2026-11-29T09:00:00")
    add_lifecycle = await world.graph(
        "PATCH", f"/subscriptions/{sub['id']}", token, json={"lifecycleNotificationUrl": LIFECYCLE}
    )
    assert add_lifecycle.status_code == 400
    assert (await world.graph("DELETE", f"/subscriptions/{sub['id']}", token)).status_code == 204
    await world.graph("POST", "/me/events", token, json=event_body())
    await world.drain()
    assert world.receiver.notifications == []
    gone = await world.graph("GET", f"/subscriptions/{sub['id']}", token)
    assert gone.status_code == 404


async def test_revoked_grant_sends_reauthorization_and_pauses(world: MsWorld) -> None:
    """provider-protocols §3.4, §1.3: revoking the grant sends reauthorizationRequired and
    notifications pause until the app reauthorizes."""
    token = await world.user_token(ALICE, "Calendars.ReadWrite")
    sub = await subscribe(world, token)
    await world.control("POST", f"/users/{ALICE}/revoke", json={})
    await world.control("POST", f"/users/{ALICE}/events", json=event_body("paused"))
    await world.drain()
    assert [e["lifecycleEvent"] for e in world.receiver.lifecycle] == ["reauthorizationRequired"]
    assert world.receiver.notifications == []
    fresh = await world.user_token(ALICE, "Calendars.ReadWrite")
    r = await world.graph("POST", f"/subscriptions/{sub['id']}/reauthorize", fresh)
    assert r.status_code == 204
    await world.control("POST", f"/users/{ALICE}/events", json=event_body("flowing"))
    await world.drain()
    assert [n["changeType"] for n in world.receiver.notifications] == ["created"]


async def test_control_remove_and_missed_lifecycle_events(world: MsWorld) -> None:
    """provider-protocols §3.4: subscriptionRemoved (the subscription is gone) and missed."""
    token = await world.user_token(ALICE, "Calendars.Read")
    sub = await subscribe(world, token)
    await world.control("POST", f"/subscriptions/{sub['id']}/missed")
    await world.control("POST", f"/subscriptions/{sub['id']}/remove")
    await world.drain()
    events = [(e["lifecycleEvent"], e["subscriptionId"]) for e in world.receiver.lifecycle]
    assert events == [("missed", sub["id"]), ("subscriptionRemoved", sub["id"])]
    assert all(e["tenantId"] == world.tenant_id for e in world.receiver.lifecycle)
    assert (await world.graph("GET", f"/subscriptions/{sub['id']}", token)).status_code == 404


async def test_app_only_subscription_on_a_room_mailbox(world: MsWorld) -> None:
    """provider-protocols §1.4, §3.1: application permissions subscribe to users/{room}/events;
    a resource outside the supported set is 400, a token without permission 403."""
    app = await world.app_token()
    r = await world.graph(
        "POST", "/subscriptions", app, json=sub_body(f"users/{world.users[ROOM]}/events")
    )
    assert r.status_code == 201, r.text
    await world.control("POST", f"/users/{ROOM}/events", json=event_body("Booked"))
    await world.drain()
    assert world.receiver.notifications[0]["resource"].startswith(f"Users/{world.users[ROOM]}/")
    bad = await world.graph("POST", "/subscriptions", app, json=sub_body("users/x/messagesz"))
    assert bad.status_code == 400
    no_scope = await world.user_token(ALICE, "User.Read")
    denied = await world.graph("POST", "/subscriptions", no_scope, json=sub_body())
    assert denied.status_code == 403


async def test_webhooks_over_real_http(core: SandboxCore) -> None:
    """provider-protocols §3.2–3.3 end to end over sockets: the receiver runs on a loopback
    port, the sandbox posts the handshake and the notification to it."""
    receiver = GraphReceiver()
    emulator = MicrosoftEmulator(core)  # default seed: contoso.example
    with serve_in_thread(receiver.app) as receiver_url:
        app = create_sandbox_app([emulator], core=core)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sandbox.test"
            ) as http,
        ):
            described = (await http.get("/_sandbox/describe")).json()["microsoft"]
            client = described["clients"][0]
            tenant = described["tenants"][0]["id"]
            r = await http.post(
                f"/microsoft/{tenant}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client["client_id"],
                    "client_secret": client["client_secret"],
                    "scope": "https://graph.microsoft.com/.default",
                },
            )
            token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            body = sub_body(
                "users/bob@contoso.example/events",
                notificationUrl=f"{receiver_url}/notify",
                lifecycleNotificationUrl=f"{receiver_url}/lifecycle",
            )
            created = await http.post(
                "/microsoft/graph/v1.0/subscriptions", json=body, headers=headers
            )
            assert created.status_code == 201, created.text
            await http.post(
                "/_sandbox/microsoft/users/bob@contoso.example/events",
                json=event_body("Over the wire"),
            )
            assert core.webhooks is not None
            await core.webhooks.drain()
    assert len(receiver.validations) == 2
    [note] = receiver.notifications
    assert note["changeType"] == "created"
    assert note["clientState"] == "client-state-1"
