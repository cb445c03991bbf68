"""``/_sandbox/microsoft/…``: drive the Microsoft emulator the way users and admins would —
create users, room mailboxes and app registrations, change events *as the user* (notifications
fire, delta state moves), revoke grants, remove subscriptions, send ``missed``, tune limits."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.graph_subscriptions import subscription_json
from calgate.sandbox.microsoft.naa import naa_router
from calgate.sandbox.microsoft.render import render_event
from calgate.sandbox.microsoft.state import AppRegistration, Subscription, User, new_guid
from calgate.sandbox.microsoft.timezones import resolve_zone
from calgate.sandbox.model import SeedAttendee, SeedEvent, SeedOccurrenceOverride

if TYPE_CHECKING:
    from calgate.sandbox.microsoft.emulator import MicrosoftEmulator

__all__ = ["control_router"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantIn(_In):
    domain: str
    display_name: str = ""
    id: str | None = None


class UserIn(_In):
    upn: str
    display_name: str
    tenant: str | None = Field(None, description="tenant id or domain; default: the first")
    time_zone: str = "UTC"
    is_room: bool = False


class UserPatch(_In):
    display_name: str | None = None
    time_zone: str | None = None
    consent: Literal["approve", "deny"] | None = None


class AppIn(_In):
    display_name: str
    tenant: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uris: list[str] = []
    spa_redirect_uris: list[str] = []
    public_client: bool = False
    multi_tenant: bool = True
    delegated_permissions: list[str] | None = None
    application_permissions: list[str] = []
    allowed_mailboxes: list[str] | None = None


class AppPatch(_In):
    redirect_uris: list[str] | None = None
    spa_redirect_uris: list[str] | None = None
    application_permissions: list[str] | None = None
    allowed_mailboxes: list[str] | None = None
    clear_allowed_mailboxes: bool = False
    secret_expired: bool | None = None


class RevokeIn(_In):
    client_id: str | None = Field(
        None,
        description="only this app's grant (app removed for "
        "the user); default: every session (revokeSignInSessions)",
    )
    reason: Literal["admin_revoke", "password_reset", "app_removed"] = "admin_revoke"


class SettingsIn(_In):
    max_subscription_minutes: int | None = Field(None, ge=1, le=100_000)
    on_excess_expiry: Literal["clamp", "reject"] | None = None
    require_https_notification_url: bool | None = None
    reauth_window_minutes: int | None = Field(None, ge=0)
    validation_timeout_seconds: float | None = Field(None, gt=0, le=60)
    requests_per_10min: int | None = Field(None, ge=1)
    concurrent_requests: int | None = Field(None, ge=1)
    retry_after_seconds: int | None = Field(None, ge=0)
    room_delete_subject: bool | None = None


class SeedAttendeeIn(_In):
    email: str
    display_name: str = ""
    is_room: bool = False
    response: str = "needsAction"


class SeedOverrideIn(_In):
    original_start: datetime
    start: datetime | None = None
    end: datetime | None = None
    cancelled: bool = False
    subject: str | None = None


class SeedEventIn(_In):
    subject: str
    start: datetime | date
    end: datetime | date
    time_zone: str = "UTC"
    body: str = ""
    location: str = ""
    organizer: str = ""
    attendees: list[SeedAttendeeIn] = []
    rrule: str | None = None
    overrides: list[SeedOverrideIn] = []
    online_meeting_url: str | None = None
    private_properties: dict[str, str] = {}

    def to_seed(self) -> SeedEvent:
        data = self.model_dump(exclude={"attendees", "overrides"})
        return SeedEvent(
            **data,
            attendees=tuple(SeedAttendee(**a.model_dump()) for a in self.attendees),
            overrides=tuple(SeedOccurrenceOverride(**o.model_dump()) for o in self.overrides),
        )


class SeedIn(_In):
    events: list[SeedEventIn]


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "upn": user.upn,
        "display_name": user.display_name,
        "time_zone": user.time_zone,
        "is_room": user.is_room,
        "tenant_id": user.tenant_id,
        "consent": user.consent,
    }


def _app_json(app: AppRegistration) -> dict[str, Any]:
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "display_name": app.display_name,
        "tenant_id": app.tenant_id,
        "redirect_uris": app.redirect_uris,
        "spa_redirect_uris": app.spa_redirect_uris,
        "public_client": app.public_client,
        "application_permissions": app.application_permissions,
        "delegated_permissions": app.delegated_permissions,
        "allowed_mailboxes": sorted(app.allowed_mailboxes)
        if app.allowed_mailboxes is not None
        else None,
    }


def control_router(em: MicrosoftEmulator) -> APIRouter:
    router = APIRouter(tags=["sandbox: microsoft"])
    state = em.state

    def user_or_404(ref: str) -> User:
        user = state.user(ref)
        if user is None:
            raise HTTPException(404, f"no user {ref!r}")
        return user

    def sub_or_404(sub_id: str) -> Subscription:
        sub = state.subscriptions.get(sub_id)
        if sub is None:
            raise HTTPException(404, f"no subscription {sub_id!r}")
        return sub

    def graph_call(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except GraphError as exc:
            raise HTTPException(exc.status, f"{exc.code}: {exc.message}") from exc

    def tenant_for(ref: str | None) -> Any:
        tenant = state.tenant(ref) if ref else next(iter(state.tenants.values()), None)
        if tenant is None:
            raise HTTPException(404, f"no tenant {ref!r}")
        return tenant

    @router.get("/state")
    async def summary() -> dict[str, Any]:
        return {
            "tenants": [t.__dict__ for t in state.tenants.values()],
            "apps": [_app_json(a) for a in state.apps.values()],
            "users": [_user_json(u) for u in state.users.values()],
            "subscriptions": len(state.subscriptions),
            "settings": state.settings.__dict__,
        }

    @router.post("/tenants", status_code=201)
    async def add_tenant(body: TenantIn) -> dict[str, Any]:
        if state.tenant(body.domain) or (body.id and state.tenant(body.id)):
            raise HTTPException(409, "tenant exists")
        return state.add_tenant(body.domain, body.display_name or body.domain, body.id).__dict__

    @router.post("/users", status_code=201)
    async def add_user(body: UserIn) -> dict[str, Any]:
        try:
            resolve_zone(body.time_zone)
            user = state.add_user(
                tenant_for(body.tenant),
                body.upn,
                body.display_name,
                time_zone=body.time_zone,
                is_room=body.is_room,
            )
        except ValueError as exc:
            raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from exc
        return _user_json(user)

    @router.patch("/users/{user}")
    async def patch_user(user: str, body: UserPatch) -> dict[str, Any]:
        found = user_or_404(user)
        if body.time_zone is not None:
            try:
                resolve_zone(body.time_zone)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(found, name, value)
        return _user_json(found)

    @router.post("/users/{user}/revoke")
    async def revoke(user: str, body: RevokeIn) -> dict[str, Any]:
        """An Entra admin revokes the user's sessions (every app) or removes one app's grant:
        refresh tokens then fail with AADSTS50173 and delegated subscriptions get
        ``reauthorizationRequired``."""
        found = user_or_404(user)
        now = em.core.clock.now()
        if body.client_id:
            grant = state.grants.get((found.id, body.client_id))
            if grant is None:
                raise HTTPException(404, "the user has no grant for that app")
            grant.revoked = True
            grant.generation += 1
        else:
            found.token_generation += 1
            found.tokens_valid_after = now
        em.core.count("microsoft", f"control.revoke.{body.reason}")
        paused = em.notifier.grant_revoked(found, body.client_id)
        return {"user": found.id, "subscriptions_paused": paused}

    @router.post("/apps", status_code=201)
    async def add_app(body: AppIn) -> dict[str, Any]:
        tenant = tenant_for(body.tenant)
        client_id = body.client_id or new_guid()
        if client_id in state.apps:
            raise HTTPException(409, "app exists")
        app = AppRegistration(
            client_id=client_id,
            client_secret=body.client_secret or f"sandbox-secret-{new_guid()}",
            display_name=body.display_name,
            tenant_id=tenant.id,
            redirect_uris=body.redirect_uris,
            spa_redirect_uris=body.spa_redirect_uris,
            public_client=body.public_client,
            multi_tenant=body.multi_tenant,
            application_permissions=body.application_permissions,
            allowed_mailboxes=(
                {m.lower() for m in body.allowed_mailboxes}
                if body.allowed_mailboxes is not None
                else None
            ),
        )
        if body.delegated_permissions is not None:
            app.delegated_permissions = body.delegated_permissions
        state.apps[client_id] = app
        return _app_json(app)

    @router.patch("/apps/{client_id}")
    async def patch_app(client_id: str, body: AppPatch) -> dict[str, Any]:
        app = state.apps.get(client_id)
        if app is None:
            raise HTTPException(404, "no such app")
        data = body.model_dump(exclude_none=True)
        if data.pop("clear_allowed_mailboxes", False):
            app.allowed_mailboxes = None
        if "allowed_mailboxes" in data:
            app.allowed_mailboxes = {m.lower() for m in data.pop("allowed_mailboxes")}
        for name, value in data.items():
            setattr(app, name, value)
        return _app_json(app)

    @router.delete("/apps/{client_id}", status_code=204)
    async def delete_app(client_id: str) -> None:
        if state.apps.pop(client_id, None) is None:
            raise HTTPException(404, "no such app")

    @router.get("/users/{user}/events")
    async def list_events(user: str) -> list[dict[str, Any]]:
        found = user_or_404(user)
        return [render_event(i, properties=lambda _p: True) for i in em.calendar.masters(found)]

    @router.post("/users/{user}/events", status_code=201)
    async def create_event(user: str, body: dict[str, Any]) -> dict[str, Any]:
        found = user_or_404(user)
        event = graph_call(em.calendar.create, found, body)
        return render_event(em.calendar.get(found, event.id), properties=lambda _p: True)

    @router.patch("/users/{user}/events/{event_id}")
    async def update_event(user: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        found = user_or_404(user)
        return render_event(graph_call(em.calendar.update, found, event_id, body))

    @router.delete("/users/{user}/events/{event_id}", status_code=204)
    async def delete_event(user: str, event_id: str) -> None:
        graph_call(em.calendar.delete, user_or_404(user), event_id)

    @router.post("/users/{user}/seed", status_code=201)
    async def seed(user: str, body: SeedIn) -> dict[str, Any]:
        found = user_or_404(user)
        try:
            created = em.seed_events(found, [e.to_seed() for e in body.events])
        except (ValueError, GraphError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"created": [e.id for e in created]}

    @router.post("/users/{user}/contacts", status_code=201)
    async def add_contact(user: str, body: dict[str, Any]) -> dict[str, Any]:
        return em.add_contact(user_or_404(user), body)

    @router.get("/subscriptions")
    async def list_subscriptions() -> list[dict[str, Any]]:
        return [
            subscription_json(None, s) | {"needsReauthorization": s.needs_reauth}
            for s in state.subscriptions.values()
        ]

    @router.post("/subscriptions/{sub_id}/remove")
    async def remove_subscription(sub_id: str) -> dict[str, Any]:
        """The service deletes the subscription and sends ``subscriptionRemoved`` (§3.4)."""
        sub = sub_or_404(sub_id)
        del state.subscriptions[sub.id]
        return {"lifecycle_sent": em.notifier.lifecycle(sub, "subscriptionRemoved")}

    @router.post("/subscriptions/{sub_id}/missed")
    async def missed(sub_id: str) -> dict[str, Any]:
        return {"lifecycle_sent": em.notifier.lifecycle(sub_or_404(sub_id), "missed")}

    @router.post("/subscriptions/{sub_id}/reauthorization-required")
    async def reauthorization_required(sub_id: str) -> dict[str, Any]:
        sub = sub_or_404(sub_id)
        return {"lifecycle_sent": em.notifier.lifecycle(sub, "reauthorizationRequired")}

    @router.post("/subscriptions/sweep")
    async def sweep() -> dict[str, int]:
        em.notifier.sweep()
        return {"active": len(state.subscriptions)}

    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return dict(state.settings.__dict__)

    @router.patch("/settings")
    async def patch_settings(body: SettingsIn) -> dict[str, Any]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(state.settings, name, value)
        return dict(state.settings.__dict__)

    @router.post("/delta/expire")
    async def expire_delta(user: str | None = None) -> dict[str, int]:
        """Evict delta tokens: their next use answers 410 Gone (§2.4)."""
        user_id = user_or_404(user).id if user else None
        return {"evicted": em.delta.expire(user_id)}

    @router.post("/keys/rotate")
    async def rotate_keys() -> dict[str, str]:
        return {"kid": em.signer.rotate()}

    router.include_router(naa_router(em))
    return router
