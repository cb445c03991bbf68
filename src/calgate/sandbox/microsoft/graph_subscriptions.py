"""``/subscriptions`` (provider-protocols §3.1–3.2): create with the validation handshake,
expiry clamped to the configured maximum, renew (PATCH), reauthorize, list, delete."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from starlette.responses import Response
from starlette.routing import Route

from calgate.sandbox.microsoft.calendar import graph_timestamp
from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.graph_http import Deps, GraphContext, graph_endpoint
from calgate.sandbox.microsoft.state import Subscription
from calgate.sandbox.microsoft.timezones import parse_query_datetime

__all__ = ["subscription_json", "subscription_routes"]

_RESOURCE = re.compile(
    r"^/?(?:(?P<me>me)|users/(?P<user>[^/]+))/(?:(?:calendar|calendars/[^/]+)/)?"
    r"(?P<kind>events|contacts)$",
    re.I,
)
_CHANGE_TYPES = {"created", "updated", "deleted"}
_TLS = {"v1_0", "v1_1", "v1_2", "v1_3"}


def subscription_json(ctx: GraphContext | None, sub: Subscription) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if ctx is not None:
        body["@odata.context"] = f"{ctx.graph_base}/$metadata#subscriptions/$entity"
    body.update(
        id=sub.id,
        resource=sub.resource,
        applicationId=sub.application_id,
        changeType=",".join(sub.change_types),
        clientState=sub.client_state,
        notificationUrl=sub.notification_url,
        notificationQueryOptions=None,
        lifecycleNotificationUrl=sub.lifecycle_url,
        expirationDateTime=graph_timestamp(sub.expires_at),
        creatorId=sub.creator_id,
        includeResourceData=sub.include_resource_data,
        latestSupportedTlsVersion=sub.latest_tls,
        encryptionCertificate=None,
        encryptionCertificateId=None,
        notificationUrlAppId=None,
    )
    return body


def _invalid(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def subscription_routes(deps: Deps) -> list[Route]:
    state, notifier, clock = deps.state, deps.notifier, deps.core.clock

    def expiry(raw: Any) -> datetime:
        if not isinstance(raw, str):
            raise _invalid("expirationDateTime is required.")
        try:
            value = parse_query_datetime(raw)
        except ValueError as exc:
            raise _invalid("expirationDateTime is not a valid date-time.") from exc
        now = clock.now()
        if value <= now:
            raise _invalid("Subscription expiration can only be in the future.", "ExtensionError")
        limit = state.settings.max_subscription_minutes
        if value > now + timedelta(minutes=limit):
            if state.settings.on_excess_expiry == "reject":
                raise _invalid(
                    f"Subscription expiration can only be {limit} minutes in the future.",
                    "ExtensionError",
                )
            value = now + timedelta(minutes=limit)
        return value

    def check_url(url: Any, name: str) -> str:
        if not isinstance(url, str):
            raise _invalid(f"{name} is required.")
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise _invalid(f"{name} must be an absolute URL.")
        if parsed.scheme != "https" and state.settings.require_https_notification_url:
            raise _invalid(
                f"Subscription validation request failed. {name} must be HTTPS.", "ValidationError"
            )
        return url

    def owned(ctx: GraphContext) -> Subscription:
        notifier.sweep()
        sub = state.subscriptions.get(ctx.request.path_params["subscription_id"])
        if (
            sub is None
            or sub.application_id != ctx.app.client_id
            or (ctx.caller is not None and sub.creator_id != ctx.caller.id)
        ):
            raise GraphError(404, "ResourceNotFound", "The object was not found.")
        return sub

    async def create(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "subscriptions.create")
        notifier.sweep()
        body = await ctx.json()
        changes = [c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip()]
        if not changes or set(changes) - _CHANGE_TYPES:
            raise _invalid(f"Invalid 'changeType' attribute: '{body.get('changeType')}'.")
        m = _RESOURCE.match(str(body.get("resource") or "").split("?")[0].strip())
        if m is None:
            raise _invalid(f"Resource '{body.get('resource')}' is not supported.", "ExtensionError")
        kind = m["kind"].lower()
        user = ctx.mailbox(
            None if m["me"] else m["user"], "Calendars" if kind == "events" else "Contacts"
        )
        client_state = body.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > 128
        ):
            raise _invalid("clientState must be a string of at most 128 characters.")
        if body.get("includeResourceData"):
            raise _invalid(
                "includeResourceData (rich notifications) is not emulated by the calgate sandbox."
            )
        tls = body.get("latestSupportedTlsVersion") or "v1_2"
        if tls not in _TLS:
            raise _invalid(f"Invalid latestSupportedTlsVersion '{tls}'.")
        url = check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        if lifecycle is not None:
            lifecycle = check_url(lifecycle, "lifecycleNotificationUrl")
        expires = expiry(body.get("expirationDateTime"))
        if sum(1 for s in state.subscriptions.values() if s.user_id == user.id) >= 1000:
            raise GraphError(
                403,
                "ExtensionError",
                "The maximum number of subscriptions for this mailbox has been reached.",
            )
        await notifier.validate(url)
        if lifecycle:
            await notifier.validate(lifecycle)
        sub = Subscription(
            id=str(uuid.uuid4()),
            resource=str(body["resource"]),
            user_id=user.id,
            kind="events" if kind == "events" else "contacts",
            change_types=changes,
            notification_url=url,
            lifecycle_url=lifecycle,
            client_state=client_state,
            expires_at=expires,
            application_id=ctx.app.client_id,
            creator_id=ctx.caller.id if ctx.caller else str(ctx.claims.get("oid")),
            delegated=ctx.caller is not None,
            latest_tls=tls,
        )
        state.subscriptions[sub.id] = sub
        return ctx.respond(subscription_json(ctx, sub), 201)

    async def list_subs(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "subscriptions.list")
        notifier.sweep()
        found = [
            subscription_json(None, s)
            for s in state.subscriptions.values()
            if s.application_id == ctx.app.client_id
            and (ctx.caller is None or s.creator_id == ctx.caller.id)
        ]
        return ctx.respond(
            {"@odata.context": f"{ctx.graph_base}/$metadata#subscriptions", "value": found}
        )

    async def get_sub(ctx: GraphContext) -> Response:
        return ctx.respond(subscription_json(ctx, owned(ctx)))

    async def renew(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "subscriptions.renew")
        sub = owned(ctx)
        body = await ctx.json()
        if (
            "lifecycleNotificationUrl" in body
            and body["lifecycleNotificationUrl"] != sub.lifecycle_url
        ):
            raise _invalid(
                "lifecycleNotificationUrl can only be set when the subscription is created."
            )
        if "notificationUrl" in body and body["notificationUrl"] != sub.notification_url:
            url = check_url(body["notificationUrl"], "notificationUrl")
            await notifier.validate(url)
            sub.notification_url = url
        if "expirationDateTime" in body:
            sub.expires_at = expiry(body["expirationDateTime"])
        sub.needs_reauth = False
        return ctx.respond(subscription_json(ctx, sub))

    async def reauthorize(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "subscriptions.reauthorize")
        sub = owned(ctx)
        sub.needs_reauth = False
        return ctx.respond(None, 204)

    async def delete(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "subscriptions.delete")
        sub = owned(ctx)
        del state.subscriptions[sub.id]
        return ctx.respond(None, 204)

    def ep(handler: Any) -> Any:
        return graph_endpoint(deps, handler)

    return [
        Route("/subscriptions", ep(create), methods=["POST"]),
        Route("/subscriptions", ep(list_subs), methods=["GET"]),
        Route("/subscriptions/{subscription_id}", ep(get_sub), methods=["GET"]),
        Route("/subscriptions/{subscription_id}", ep(renew), methods=["PATCH"]),
        Route("/subscriptions/{subscription_id}", ep(delete), methods=["DELETE"]),
        Route("/subscriptions/{subscription_id}/reauthorize", ep(reauthorize), methods=["POST"]),
    ]
