"""The Google emulator: OAuth 2.0, Calendar v3 (with push channels), a People API subset and a
control API, over one in-memory state, seeded with demo data by default."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from calgate.sandbox.core import FaultMiddleware, SandboxCore
from calgate.sandbox.datagen import generate
from calgate.sandbox.google import calendar, discovery, oauth, people
from calgate.sandbox.google.context import GoogleContext, GoogleSettings
from calgate.sandbox.google.control import control_router
from calgate.sandbox.google.errors import fault_body, install_error_handlers
from calgate.sandbox.google.mapping import add_service_account, seed_dataset
from calgate.sandbox.google.state import GoogleState, OAuthClient, ServiceAccount
from calgate.sandbox.google.watch import Channels

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "GoogleEmulator"]

# Obviously fake demo fixtures: printed by `calgate sandbox`, accepted only by this emulator.
DEFAULT_CLIENT_ID = "000000000000-calgate-sandbox.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "GOCSPX-sandbox-not-a-real-secret"  # noqa: S105 - demo fixture
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8080/v1/oauth/callback",
    "http://localhost:8080/v1/oauth/callback",
)
SERVICE_ACCOUNT = "calgate-rooms@calgate-sandbox.iam.gserviceaccount.com"


class GoogleEmulator:
    """``GoogleEmulator(core)``: the ``/google`` part of the sandbox.

    ``seed=False`` starts empty (tests build their own world); ``token_marker`` is embedded
    in every token the emulator issues, so a test's canary guard notices a leaked one."""

    name = "google"

    def __init__(
        self,
        core: SandboxCore,
        *,
        seed: bool = True,
        settings: GoogleSettings | None = None,
        token_marker: str = "",
        redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS,
    ) -> None:
        self.core = core
        self.state = GoogleState(token_marker=token_marker)
        self.context = GoogleContext(core, self.state, settings or GoogleSettings())
        self.context.on_change = Channels(self.context).notify
        self._app: ASGIApp | None = None
        if seed:
            self.seed_defaults(redirect_uris)

    # seeding ------------------------------------------------------------------------------
    def seed_defaults(self, redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS) -> None:
        """One OAuth client, one service account with delegation, alice@/bob@/carol@
        example.com with a few events each (this week, on the sandbox clock) and rooms."""
        self.add_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, list(redirect_uris))
        self.add_service_account(SERVICE_ACCOUNT)
        monday = self.core.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        monday -= timedelta(days=monday.weekday())
        seed_dataset(self.context, generate(3, 6, seed=42, start=monday, days=14, rooms=2))

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        *,
        mode: str = "production",
    ) -> OAuthClient:
        client = OAuthClient(
            client_id,
            client_secret,
            redirect_uris,
            "testing" if mode == "testing" else "production",
        )
        self.state.clients[client_id] = client
        return client

    def add_service_account(
        self, email: str, delegated_scopes: set[str] | None = None
    ) -> ServiceAccount:
        """A service account with a fresh RSA key pair and domain-wide delegation."""
        return add_service_account(self.context, email, delegated_scopes)

    # the Emulator protocol ---------------------------------------------------------------
    def asgi_app(self) -> ASGIApp:
        if self._app is None:
            app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
            app.state.google = self.context
            install_error_handlers(app)
            for module in (oauth, discovery, calendar, people):
                app.include_router(module.router)
            self._app = FaultMiddleware(
                app, core=self.core, provider=self.name, error_body=fault_body
            )
        return self._app

    def control_router(self) -> APIRouter:
        return control_router(self.context)

    def describe(self, base_url: str) -> dict[str, Any]:
        """What a developer needs to point a client at this emulator (no tokens, no keys)."""
        root = f"{base_url}/{self.name}"
        return {
            "base_url": root,
            "endpoints": {
                "authorization": f"{root}/o/oauth2/v2/auth",
                "token": f"{root}/token",
                "revoke": f"{root}/revoke",
                "discovery": f"{root}/discovery/v1/apis/calendar/v3/rest",
                "calendar": f"{root}/calendar/v3/",
                "people": f"{root}/people/v1/",
            },
            "clients": [
                {**c.public(), "client_secret": c.client_secret}
                for c in self.state.clients.values()
            ],
            "service_accounts": [
                {
                    "client_email": sa.email,
                    "client_id": sa.client_id,
                    "key_file": f"{base_url}/_sandbox/google/service-accounts/{sa.email}/key",
                }
                for sa in self.state.service_accounts.values()
            ],
            "users": sorted(self.state.users),
            "rooms": sorted(c.id for c in self.state.calendars.values() if c.kind == "resource"),
        }
