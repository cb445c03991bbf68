"""Graph change notifications as the service sends them, provider-protocols §3.2–3.4: the
validation handshake, change notifications (3 s deadline, retried by the dispatcher), lifecycle
events, expiry and reauthorization."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft.calendar import graph_timestamp
from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.state import MicrosoftState, StoredEvent, Subscription, User

__all__ = ["Notifier"]

log = logging.getLogger(__name__)

DELIVERY_DEADLINE_S = 3.0  # §3.3


class Notifier:
    def __init__(self, core: SandboxCore, state: MicrosoftState) -> None:
        self.core = core
        self.state = state

    # ---- change notifications ---------------------------------------------------------
    def event_changed(self, user: User, event: StoredEvent, change_type: str) -> None:
        etag = f'W/"{event.data.get("changeKey", "")}"'
        self.resource_changed(user, "events", event.id, etag, change_type)

    def resource_changed(
        self, user: User, kind: str, item_id: str, etag: str, change_type: str
    ) -> None:
        self.sweep()
        segment, odata_type = (
            ("Events", "#Microsoft.Graph.Event")
            if kind == "events"
            else ("Contacts", "#Microsoft.Graph.Contact")
        )
        resource = f"Users/{user.id}/{segment}/{item_id}"
        for sub in list(self.state.subscriptions.values()):
            if sub.user_id != user.id or sub.kind != kind or change_type not in sub.change_types:
                continue
            if sub.needs_reauth:
                self.core.count("microsoft", "notifications.paused")
                continue
            item = {
                "id": secrets.token_urlsafe(12),
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_timestamp(sub.expires_at),
                "clientState": sub.client_state,
                "changeType": change_type,
                "resource": resource,
                "tenantId": user.tenant_id,
                "resourceData": {
                    "@odata.type": odata_type,
                    "@odata.id": resource,
                    "@odata.etag": etag,
                    "id": item_id,
                },
            }
            self._send(sub.notification_url, {"value": [item]}, "notification")
            self.core.count("microsoft", "notifications.sent")

    # ---- lifecycle -----------------------------------------------------------------------
    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Send ``reauthorizationRequired`` / ``subscriptionRemoved`` / ``missed`` (§3.4);
        False when the subscription has no lifecycleNotificationUrl."""
        if not sub.lifecycle_url:
            return False
        tenant_id = self.state.users[sub.user_id].tenant_id
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_timestamp(sub.expires_at),
            "tenantId": tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        self._send(sub.lifecycle_url, {"value": [item]}, f"lifecycle.{event}")
        self.core.count("microsoft", f"lifecycle.{event}")
        return True

    def sweep(self) -> None:
        """Drop expired subscriptions (they stop notifying) and warn those close to expiry."""
        now = self.core.clock.now()
        window = timedelta(minutes=self.state.settings.reauth_window_minutes)
        for sub in list(self.state.subscriptions.values()):
            if sub.expires_at <= now:
                del self.state.subscriptions[sub.id]
                self.core.count("microsoft", "subscriptions.expired")
                log.info("subscription %s expired", sub.id)
            elif sub.expires_at - now <= window and sub.reauth_sent_for != sub.expires_at:
                sub.reauth_sent_for = sub.expires_at
                self.lifecycle(sub, "reauthorizationRequired")

    def grant_revoked(self, user: User, client_id: str | None = None) -> int:
        """A revoked grant pauses the user's delegated subscriptions until reauthorized."""
        hit = 0
        for sub in self.state.subscriptions.values():
            if (
                sub.delegated
                and sub.creator_id == user.id
                and client_id in (None, sub.application_id)
            ):
                sub.needs_reauth = True
                self.lifecycle(sub, "reauthorizationRequired")
                hit += 1
        return hit

    # ---- validation handshake ---------------------------------------------------------
    async def validate(self, url: str) -> None:
        """POST ``url?validationToken=…``; the receiver must echo it as text/plain, 200, in
        10 s (§3.2). Raises the Graph 400 otherwise."""
        self.core.count("microsoft", "subscriptions.validation")
        webhooks = self.core.webhooks
        if webhooks is None:
            raise RuntimeError("the sandbox has no webhook dispatcher")
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()}"
        )
        target = httpx.URL(url).copy_merge_params({"validationToken": token})
        failed = GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must "
            "respond with 200 OK to validation request.",
        )
        deadline = self.state.settings.validation_timeout_seconds
        try:
            async with asyncio.timeout(deadline):  # wall clock, whatever the transport
                response = await webhooks.client.post(
                    target,
                    content=b"",
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                    timeout=deadline,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise GraphError(
                400, "InvalidRequest", "Subscription validation request timed out."
            ) from exc
        except httpx.HTTPError as exc:
            raise failed from exc
        content_type = response.headers.get("content-type", "")
        if (
            response.status_code != 200
            or not content_type.lower().startswith("text/plain")
            or response.text != token
        ):
            self.core.count("microsoft", "subscriptions.validation_failed")
            raise failed

    def _send(self, url: str, body: dict[str, Any], kind: str) -> None:
        webhooks = self.core.webhooks
        if webhooks is None:
            log.debug("no webhook dispatcher; %s not sent", kind)
            return
        webhooks.enqueue("microsoft", url, kind=kind, json_body=body, timeout=DELIVERY_DEADLINE_S)
