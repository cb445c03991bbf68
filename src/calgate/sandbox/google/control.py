"""The Google emulator's control API, mounted at ``/_sandbox/google``: users, OAuth clients,
service accounts, rooms, contacts, events changed *as the user would* (bumping sync state and
firing push channels), admin revocation, channels and tunable limits. See docs/sandbox.md."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import fields
from datetime import timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from calgate.sandbox.datagen import generate
from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.errors import ApiError
from calgate.sandbox.google.events import EventStore
from calgate.sandbox.google.mapping import (
    add_service_account,
    seed_dataset,
    seed_events,
    seed_user,
)
from calgate.sandbox.google.state import Calendar, Contact, OAuthClient
from calgate.sandbox.google.tokens import TokenService
from calgate.sandbox.google.watch import Channels
from calgate.sandbox.model import SeedEvent, SeedUser

__all__ = ["control_router"]

_SEED_EVENTS = TypeAdapter(list[SeedEvent])
T = TypeVar("T")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    display_name: str = ""
    time_zone: str = "Europe/Berlin"


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    consent: Literal["approve", "deny"] | None = None
    display_name: str | None = None


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uris: list[str] = Field(min_length=1)
    mode: Literal["testing", "production"] = "production"
    name: str = "sandbox client"


class ClientPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["testing", "production"] | None = None
    redirect_uris: list[str] | None = None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str | None = None


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str
    email: EmailStr


class ServiceAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$")
    delegated_scopes: list[str] | None = None


class DelegationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[str]


class SeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: int = Field(default=3, ge=1, le=10_000)
    events_per_user: int = Field(default=10, ge=0, le=100_000)
    rooms: int = Field(default=3, ge=0, le=1000)
    days: int = Field(default=28, ge=1, le=3650)
    seed: int = 0


def _missing(what: str) -> HTTPException:
    return HTTPException(404, f"no such {what}")


def control_router(context: GoogleContext) -> APIRouter:
    router = APIRouter(tags=["sandbox: google"])
    state = context.state

    def calendar(calendar_id: str) -> Calendar:
        cal = state.calendars.get(calendar_id.lower())
        if cal is None:
            raise _missing("calendar")
        return cal

    @router.get("/state")
    async def summary() -> dict[str, Any]:
        return {
            "users": len(state.users),
            "calendars": len(state.calendars),
            "events": sum(len(c.events) for c in state.calendars.values()),
            "clients": len(state.clients),
            "grants": sum(1 for g in state.grants.values() if not g.dead),
            "channels": len(state.channels),
        }

    # users ---------------------------------------------------------------------------------
    @router.get("/users")
    async def list_users() -> list[dict[str, Any]]:
        return [
            {"email": u.email, "display_name": u.display_name, "time_zone": u.time_zone,
             "consent": u.consent}
            for u in state.users.values()
        ]  # fmt: skip

    @router.post("/users", status_code=201)
    async def create_user(body: UserIn) -> dict[str, Any]:
        email = str(body.email).lower()
        if email in state.users:
            raise HTTPException(409, "user exists")
        seed_user(context, SeedUser(email, body.display_name or email, body.time_zone))
        return {"email": email, "calendar_id": email}

    @router.patch("/users/{email}")
    async def patch_user(email: str, body: UserPatch) -> dict[str, Any]:
        user = state.users.get(email.lower())
        if user is None:
            raise _missing("user")
        if body.consent is not None:
            user.consent = body.consent
        if body.display_name is not None:
            user.display_name = body.display_name
        return {"email": user.email, "consent": user.consent}

    @router.post("/users/{email}/revoke")
    async def admin_revoke(email: str, body: RevokeIn | None = None) -> dict[str, int]:
        """Admin (or user) removes the app's access: refresh tokens answer invalid_grant,
        access tokens 401."""
        if email.lower() not in state.users:
            raise _missing("user")
        client_id = body.client_id if body else None
        return {"revoked": TokenService(context).admin_revoke(email.lower(), client_id)}

    @router.get("/users/{email}/grants")
    async def grants(email: str) -> list[dict[str, Any]]:
        tokens = TokenService(context)
        out = []
        for g in state.grants.values():
            if g.user_email == email.lower():
                tokens.alive(g)
                out.append(g.summary())
        return out

    @router.post("/users/{email}/contacts", status_code=201)
    async def add_contact(email: str, body: ContactIn) -> dict[str, str]:
        if email.lower() not in state.users:
            raise _missing("user")
        contacts = state.contacts[email.lower()]
        name = f"people/c{2000 + len(contacts)}"
        contacts.append(Contact(name, body.display_name, str(body.email), f"%E{len(contacts)}"))
        return {"resourceName": name}

    # OAuth clients and service accounts ----------------------------------------------------
    @router.get("/clients")
    async def list_clients() -> list[dict[str, Any]]:
        return [c.public() for c in state.clients.values()]

    @router.post("/clients", status_code=201)
    async def create_client(body: ClientIn) -> dict[str, Any]:
        client_id = (
            body.client_id or f"{secrets.randbelow(10**12):012d}-sandbox.apps.googleusercontent.com"
        )
        if client_id in state.clients:
            raise HTTPException(409, "client exists")
        client = OAuthClient(
            client_id,
            body.client_secret or f"GOCSPX-sandbox-{secrets.token_urlsafe(18)}",
            list(body.redirect_uris),
            body.mode,
            body.name,
        )
        state.clients[client_id] = client
        return {**client.public(), "client_secret": client.client_secret}

    @router.patch("/clients/{client_id}")
    async def patch_client(client_id: str, body: ClientPatch) -> dict[str, Any]:
        client = state.clients.get(client_id)
        if client is None:
            raise _missing("client")
        if body.mode is not None:
            client.mode = body.mode
        if body.redirect_uris is not None:
            client.redirect_uris = list(body.redirect_uris)
        return client.public()

    @router.get("/service-accounts")
    async def list_service_accounts() -> list[dict[str, Any]]:
        return [
            {"client_email": sa.email, "client_id": sa.client_id,
             "delegated_scopes": sorted(sa.delegated_scopes)}
            for sa in state.service_accounts.values()
        ]  # fmt: skip

    @router.post("/service-accounts", status_code=201)
    async def create_service_account(body: ServiceAccountIn) -> dict[str, Any]:
        """A service account with a fresh key pair; delegated for calendar scopes unless
        ``delegated_scopes`` says otherwise."""
        if body.email in state.service_accounts:
            raise HTTPException(409, "service account exists")
        scopes = set(body.delegated_scopes) if body.delegated_scopes is not None else None
        sa = add_service_account(context, body.email, scopes)
        return {"client_email": sa.email, "client_id": sa.client_id}

    @router.get("/service-accounts/{email}/key")
    async def key_file(email: str, request: Request) -> dict[str, Any]:
        """The JSON key file google-auth reads (fake sandbox key, generated at start)."""
        sa = state.service_accounts.get(email)
        if sa is None:
            raise _missing("service account")
        base = str(request.base_url).rstrip("/")
        return {
            "type": "service_account",
            "project_id": sa.project_id,
            "private_key_id": sa.key_id,
            "private_key": sa.key.as_pem(private=True).decode(),
            "client_email": sa.email,
            "client_id": sa.client_id,
            "auth_uri": f"{base}/google/o/oauth2/v2/auth",
            "token_uri": f"{base}/google/token",
        }

    @router.put("/service-accounts/{email}/delegation")
    async def delegation(email: str, body: DelegationIn) -> dict[str, Any]:
        """Domain-wide delegation: the scopes the admin authorised for this client id."""
        sa = state.service_accounts.get(email)
        if sa is None:
            raise _missing("service account")
        sa.delegated_scopes = set(body.scopes)
        return {"client_id": sa.client_id, "delegated_scopes": sorted(sa.delegated_scopes)}

    @router.post("/rooms", status_code=201)
    async def create_room(body: UserIn) -> dict[str, str]:
        cal = seed_user(
            context,
            SeedUser(str(body.email), body.display_name or str(body.email), body.time_zone),
            room=True,
        )
        return {"calendar_id": cal.id}

    # events, as the user would change them --------------------------------------------------
    @router.get("/calendars/{calendar_id}/events")
    async def raw_events(calendar_id: str) -> list[dict[str, Any]]:
        """Everything stored, tombstones included, in storage order (debugging aid)."""
        return [s.resource for s in calendar(calendar_id).events.values()]

    @router.post("/calendars/{calendar_id}/events", status_code=201)
    async def user_insert(calendar_id: str, request: Request) -> dict[str, Any]:
        cal = calendar(calendar_id)
        body = _json(await request.body())
        return _as_user(lambda: EventStore(context, cal, cal.owner).insert(
            body, conference_version=1))  # fmt: skip

    @router.patch("/calendars/{calendar_id}/events/{event_id}")
    async def user_patch(calendar_id: str, event_id: str, request: Request) -> dict[str, Any]:
        cal = calendar(calendar_id)
        body = _json(await request.body())
        return _as_user(lambda: EventStore(context, cal, cal.owner).patch(
            event_id, body, if_match=None, conference_version=1))  # fmt: skip

    @router.delete("/calendars/{calendar_id}/events/{event_id}", status_code=204)
    async def user_delete(calendar_id: str, event_id: str) -> None:
        cal = calendar(calendar_id)
        _as_user(lambda: EventStore(context, cal, cal.owner).delete(event_id))

    @router.post("/calendars/{calendar_id}/seed", status_code=201)
    async def seed_calendar(calendar_id: str, request: Request) -> dict[str, Any]:
        """Insert provider-neutral SeedEvents (JSON) into one calendar."""
        events = _SEED_EVENTS.validate_python(_json(await request.body()))
        return {"ids": seed_events(context, calendar(calendar_id), events)}

    @router.post("/calendars/{calendar_id}/invalidate-sync-tokens")
    async def invalidate(calendar_id: str) -> dict[str, int]:
        """Every sync token issued so far now answers 410 fullSyncRequired."""
        cal = calendar(calendar_id)
        cal.sync_epoch += 1
        return {"sync_epoch": cal.sync_epoch}

    @router.post("/seed", status_code=201)
    async def seed(body: SeedIn) -> dict[str, Any]:
        """Generate users × events with :func:`calgate.sandbox.datagen.generate`."""
        data = generate(
            body.users, body.events_per_user, seed=body.seed, rooms=body.rooms, days=body.days,
            start=context.now().replace(hour=0, minute=0, second=0, microsecond=0),
        )  # fmt: skip
        return {"users": [u.email for u in data.users], "events": seed_dataset(context, data)}

    # channels ------------------------------------------------------------------------------
    @router.get("/channels")
    async def channels() -> list[dict[str, Any]]:
        return [c.summary() for c in state.channels.values()]

    @router.delete("/channels/{channel_id}", status_code=204)
    async def remove_channel(channel_id: str) -> None:
        """The provider drops a channel without telling the subscriber."""
        if state.channels.pop(channel_id, None) is None:
            raise _missing("channel")

    @router.post("/channels/{channel_id}/expire")
    async def expire_channel(channel_id: str) -> dict[str, str]:
        if not Channels(context).expire(channel_id):
            raise _missing("channel")
        return {"status": "expired"}

    # settings ------------------------------------------------------------------------------
    @router.get("/settings")
    async def get_settings() -> dict[str, Any]:
        return _settings_view(context)

    @router.patch("/settings")
    async def patch_settings(
        body: dict[str, Any], reset_quota: bool = Query(False)
    ) -> dict[str, Any]:
        """Durations in seconds, e.g. ``{"access_token_ttl": 60, "refresh_cap": 3}``."""
        known = {f.name: f for f in fields(context.settings)}
        for name, value in body.items():
            if name not in known:
                raise HTTPException(422, f"unknown setting {name}")
            current = getattr(context.settings, name)
            try:
                if isinstance(current, timedelta):
                    value = timedelta(seconds=float(value))
                elif isinstance(current, bool):
                    value = bool(value)
                else:
                    value = int(value)
            except (TypeError, ValueError) as exc:
                raise HTTPException(422, f"bad value for {name}") from exc
            setattr(context.settings, name, value)
        if reset_quota:
            context.quota_window.clear()
        return _settings_view(context)

    return router


def _settings_view(context: GoogleContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(context.settings):
        value = getattr(context.settings, f.name)
        out[f.name] = value.total_seconds() if isinstance(value, timedelta) else value
    return out


def _json(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise HTTPException(422, "body is not JSON") from exc


def _as_user(action: Callable[[], T]) -> T:
    try:
        return action()
    except ApiError as exc:
        raise HTTPException(exc.code, exc.body["error"]["message"]) from exc
