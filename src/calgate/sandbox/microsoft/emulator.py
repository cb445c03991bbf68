"""The Microsoft emulator: Entra ID v2.0 under ``/microsoft/{tenant}/…`` and Graph v1.0 under
``/microsoft/graph/v1.0/…``, plus its control API under ``/_sandbox/microsoft``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from calgate.sandbox.core import FaultMiddleware, SandboxCore
from calgate.sandbox.microsoft.aadsts import status_aadsts_body
from calgate.sandbox.microsoft.calendar import Calendar
from calgate.sandbox.microsoft.errors import graph_error_body, status_error_body
from calgate.sandbox.microsoft.grants import TokenEndpoint
from calgate.sandbox.microsoft.graph_delta import DeltaStore, delta_routes
from calgate.sandbox.microsoft.graph_directory import add_contact, directory_routes
from calgate.sandbox.microsoft.graph_events import event_routes
from calgate.sandbox.microsoft.graph_http import Deps
from calgate.sandbox.microsoft.graph_subscriptions import subscription_routes
from calgate.sandbox.microsoft.identity import identity_routes
from calgate.sandbox.microsoft.mapping import graph_event_from_seed, seed_wall_time
from calgate.sandbox.microsoft.minting import TokenMinter
from calgate.sandbox.microsoft.notifier import Notifier
from calgate.sandbox.microsoft.state import MicrosoftState, StoredEvent, User
from calgate.sandbox.microsoft.tokens import TokenSigner
from calgate.sandbox.model import SeedEvent

__all__ = ["MicrosoftEmulator"]

SWEEP_INTERVAL_S = 1.0


class MicrosoftEmulator:
    """Microsoft identity platform + Graph. ``seed=True`` loads the default tenant, app
    registration, users and events (:mod:`calgate.sandbox.microsoft.seed`); ``signer`` shares
    a token-signing key set (RSA key generation is the slow part of starting one);
    ``token_marker`` is embedded in every refresh token, so a test's canary guard notices a
    leaked one."""

    name = "microsoft"

    def __init__(
        self,
        core: SandboxCore,
        *,
        seed: bool = True,
        signer: TokenSigner | None = None,
        token_marker: str = "",
    ) -> None:
        self.core = core
        self.state = MicrosoftState(token_marker=token_marker)
        self.signer = signer or TokenSigner()
        self.minter = TokenMinter(self.signer)
        self.notifier = Notifier(core, self.state)
        self.calendar = Calendar(core.clock, self.state.settings, self.notifier.event_changed)
        self.delta = DeltaStore()
        self.deps = Deps(core, self.state, self.signer, self.calendar, self.notifier)
        if seed:
            from calgate.sandbox.microsoft.seed import seed_default

            seed_default(self)

    # ---- Emulator protocol ------------------------------------------------------------
    def asgi_app(self) -> ASGIApp:
        deps = self.deps
        graph = Starlette(
            routes=event_routes(deps)
            + delta_routes(deps, self.delta)
            + subscription_routes(deps)
            + directory_routes(deps),
            exception_handlers={404: self._graph_404, 405: self._graph_405},
        )
        tokens = TokenEndpoint(self.core, self.state, self.minter)
        identity = Starlette(routes=identity_routes(self.core, self.state, self.signer, tokens))
        app = Starlette(
            routes=[
                Mount(
                    "/graph/v1.0",
                    app=FaultMiddleware(
                        graph, core=self.core, provider=self.name, error_body=status_error_body
                    ),
                ),
                Mount(
                    "/{tenant}",
                    app=FaultMiddleware(
                        identity, core=self.core, provider=self.name, error_body=status_aadsts_body
                    ),
                ),
            ]
        )
        return _Sweeping(app, self.notifier)

    def control_router(self) -> APIRouter:
        from calgate.sandbox.microsoft.control import control_router

        return control_router(self)

    def describe(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/") + f"/{self.name}"
        tenants = list(self.state.tenants.values())
        return {
            "authority": f"{base}/{tenants[0].id}" if tenants else None,
            "authority_common": f"{base}/common",
            "graph": f"{base}/graph/v1.0",
            "tenants": [{"id": t.id, "domain": t.domain, "name": t.display_name} for t in tenants],
            "clients": [
                {
                    "client_id": a.client_id,
                    "public_client": a.public_client,
                    **({} if a.public_client else {"client_secret": a.client_secret}),
                    "display_name": a.display_name,
                    "tenant_id": a.tenant_id,
                    "redirect_uris": a.redirect_uris,
                    "application_permissions": a.application_permissions,
                }
                for a in self.state.apps.values()
            ],
            "users": [
                {
                    "id": u.id,
                    "upn": u.upn,
                    "display_name": u.display_name,
                    "time_zone": u.time_zone,
                    "is_room": u.is_room,
                    "tenant_id": u.tenant_id,
                }
                for u in self.state.users.values()
            ],
        }

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Run while the sandbox serves: sweeps subscriptions (expiry, reauthorization)."""

        async def tick() -> None:
            while True:
                await asyncio.sleep(SWEEP_INTERVAL_S)
                self.notifier.sweep()

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- seeding ----------------------------------------------------------------------
    def seed_events(self, user: User, seeds: Iterable[SeedEvent]) -> list[StoredEvent]:
        """Create provider-neutral seed events in ``user``'s calendar, exceptions included."""
        created = []
        for seed in seeds:
            body, organizer, meeting = graph_event_from_seed(seed, self._display_name)
            event = self.calendar.create(user, body, organizer=organizer, online_meeting=meeting)
            for override in seed.overrides:
                original = seed_wall_time(override.original_start, seed.time_zone)
                if isinstance(seed.start, date) and not isinstance(seed.start, datetime):
                    original = original.replace(hour=0, minute=0, second=0)
                item_id = f"{event.id}{original:%Y%m%dT%H%M%S}"
                if override.cancelled:
                    self.calendar.delete(user, item_id)
                    continue
                changes: dict[str, Any] = {}
                zone = body["start"]["timeZone"]
                if override.start is not None:
                    changes["start"] = _wall(override.start, seed.time_zone, zone)
                if override.end is not None:
                    changes["end"] = _wall(override.end, seed.time_zone, zone)
                if override.subject is not None:
                    changes["subject"] = override.subject
                self.calendar.update(user, item_id, changes)
            created.append(event)
        return created

    def add_contact(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        return add_contact(self.deps, user, data)

    def _display_name(self, email: str) -> str | None:
        user = self.state.user(email)
        return user.display_name if user else None

    @staticmethod
    async def _graph_404(request: Request, exc: Exception) -> Response:
        segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = graph_error_body("BadRequest", f"Resource not found for the segment '{segment}'.")
        return JSONResponse(body, status_code=400)

    @staticmethod
    async def _graph_405(request: Request, exc: Exception) -> Response:
        body = graph_error_body(
            "BadRequest", "Unsupported request: the HTTP method is not allowed on this resource."
        )
        return JSONResponse(body, status_code=405)


def _wall(value: datetime | date, iana: str, zone_name: str) -> dict[str, str]:
    wall = seed_wall_time(value, iana)
    return {"dateTime": wall.isoformat(), "timeZone": zone_name}


class _Sweeping:
    """Expire and warn subscriptions before each request, so a clock jump shows at once."""

    def __init__(self, app: ASGIApp, notifier: Notifier) -> None:
        self.app = app
        self.notifier = notifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.notifier.sweep()
        await self.app(scope, receive, send)
