"""App registrations at the providers, and the connectors built from them.

A deployment configures one registration per provider (``CALGATE_GOOGLE_CLIENT_ID`` …, or
``CALGATE_SANDBOX_URL`` for the sandbox's fake apps); an account may bring its own
(``PUT /v1/accounts/{a}/providers/{provider}``), whose client secret is kept in the vault.
Provider base URLs are deployment settings only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from calgate.clock import Clock
from calgate.connections.store import ConnectionStore
from calgate.connectors.base import CalendarConnector
from calgate.connectors.google import GoogleConnector
from calgate.connectors.google.config import GoogleConfig
from calgate.connectors.microsoft import MicrosoftConnector
from calgate.connectors.microsoft.config import AUTHORITY, GRAPH_BASE_URL, MicrosoftConfig
from calgate.domain.policy import Provider
from calgate.domain.principal import Principal
from calgate.errors import Conflict, InvalidInput, NotFound
from calgate.persistence.tables import ProviderAppRow
from calgate.persistence.uow import SqlUnitOfWork
from calgate.services.audit import AuditLog
from calgate.services.tenancy import require_account_admin
from calgate.settings import Settings
from calgate.vault.base import CredentialVault, Secret

__all__ = ["APP_OWNER", "OAUTH_PROVIDERS", "AppRegistration", "ProviderApps", "supported"]

log = logging.getLogger(__name__)

OAUTH_PROVIDERS = (Provider.GOOGLE, Provider.MICROSOFT)
APP_OWNER = "provider_apps"
_NAMES = {Provider.GOOGLE: "Google Calendar", Provider.MICROSOFT: "Microsoft 365"}

# The sandbox's seeded fake apps (docs/sandbox.md), used with CALGATE_SANDBOX_URL when no
# client id is configured. Not secrets: the sandbox prints them.
SANDBOX_GOOGLE = (
    "000000000000-calgate-sandbox.apps.googleusercontent.com",
    "GOCSPX-sandbox-not-a-real-secret",
)
SANDBOX_MICROSOFT = (
    "5a4db0c5-a99c-4000-8000-000000000001",
    "sandbox-client-secret-not-a-real-secret",
)
SANDBOX_TENANT = "5a4db0c5-7e4a-4000-8000-000000000001"


@dataclass(frozen=True, slots=True)
class AppRegistration:
    """What an admin sees of a registration (never the secret)."""

    provider: Provider
    client_id: str
    source: str  # "deployment" or "account"
    redirect_uri: str
    tenant: str | None = None


def supported(provider: str) -> Provider:
    try:
        parsed = Provider(provider)
    except ValueError:
        parsed = None
    if parsed not in OAUTH_PROVIDERS:
        names = ", ".join(p.value for p in OAUTH_PROVIDERS)
        raise NotFound(f"no OAuth calendar provider {provider!r} (available: {names})")
    assert parsed is not None
    return parsed


class ProviderApps:
    def __init__(
        self,
        *,
        settings: Settings,
        http: httpx.AsyncClient,
        vault: CredentialVault,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._http = http
        self._vault = vault
        self._audit = audit
        self._clock = clock
        self._deployment: dict[Provider, CalendarConnector | None] = {}
        self._accounts: dict[tuple[uuid.UUID, Provider], tuple[Any, CalendarConnector]] = {}

    # URLs --------------------------------------------------------------------------------
    @property
    def default_redirect_uri(self) -> str:
        if self._settings.oauth_redirect_uri is not None:
            return str(self._settings.oauth_redirect_uri)
        return str(self._settings.public_url).rstrip("/") + "/v1/oauth/callback"

    def _sandbox(self, path: str) -> str | None:
        base = self._settings.sandbox_url
        return f"{str(base).rstrip('/')}/{path}" if base is not None else None

    def _url(self, value: Any) -> str | None:
        return str(value).rstrip("/") if value is not None else None

    def api_base_url(self, provider: Provider) -> str:
        """Where apps send a vended access token (deployment-wide)."""
        if provider is Provider.GOOGLE:
            return (
                self._url(self._settings.google_api_base_url)
                or self._sandbox("google/calendar/v3")
                or GoogleConfig.model_fields["api_base_url"].default
            )
        return (
            self._url(self._settings.microsoft_graph_base_url)
            or self._sandbox("microsoft/graph/v1.0")
            or GRAPH_BASE_URL
        )

    # configs -----------------------------------------------------------------------------
    def _google(self, client_id: str, secret: str) -> GoogleConnector:
        s = self._settings
        config = GoogleConfig.at(
            self._url(s.google_oauth_base_url) or self._sandbox("google"),
            self.api_base_url(Provider.GOOGLE),
            client_id=client_id,
            client_secret=secret,
        )
        return GoogleConnector(config, http=self._http)

    def _microsoft(self, client_id: str, secret: str, tenant: str) -> MicrosoftConnector:
        s = self._settings
        config = MicrosoftConfig(
            client_id=client_id,
            client_secret=SecretStr(secret),
            tenant=tenant,
            authority=self._url(s.microsoft_oauth_base_url)
            or self._sandbox("microsoft")
            or AUTHORITY,
            graph_base_url=self.api_base_url(Provider.MICROSOFT),
        )
        return MicrosoftConnector(config, http=self._http)

    def deployment_connector(self, provider: Provider) -> CalendarConnector | None:
        if provider in self._deployment:
            return self._deployment[provider]
        s = self._settings
        sandbox = s.sandbox_url is not None
        connector: CalendarConnector | None = None
        if provider is Provider.GOOGLE:
            if s.google_client_id and s.google_client_secret:
                connector = self._google(
                    s.google_client_id, s.google_client_secret.get_secret_value()
                )
            elif sandbox:
                connector = self._google(*SANDBOX_GOOGLE)
        elif provider is Provider.MICROSOFT:
            if s.microsoft_client_id and s.microsoft_client_secret:
                connector = self._microsoft(
                    s.microsoft_client_id,
                    s.microsoft_client_secret.get_secret_value(),
                    s.microsoft_tenant,
                )
            elif sandbox:
                connector = self._microsoft(*SANDBOX_MICROSOFT, tenant=SANDBOX_TENANT)
        self._deployment[provider] = connector
        return connector

    async def connector(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, provider: Provider
    ) -> tuple[CalendarConnector, str]:
        """The connector for ``account_id`` and its redirect URI: the account's own
        registration if it has one, else the deployment's."""
        row = await ConnectionStore(uow.session).app(account_id, provider.value)
        if row is not None:
            key = (account_id, provider)
            cached = self._accounts.get(key)
            if cached is not None and cached[0] == row.updated_at:
                return cached[1], row.redirect_uri or self.default_redirect_uri
            secret = await self._vault.get(
                uow, account_id=account_id, owner=APP_OWNER, owner_id=row.id, field="client_secret"
            )
            if secret is None:
                raise Conflict(f"the account's {_NAMES[provider]} app registration has no secret")
            if provider is Provider.GOOGLE:
                built: CalendarConnector = self._google(row.client_id, secret.reveal())
            else:
                built = self._microsoft(
                    row.client_id, secret.reveal(), row.tenant or self._settings.microsoft_tenant
                )
            self._accounts[key] = (row.updated_at, built)
            return built, row.redirect_uri or self.default_redirect_uri
        connector = self.deployment_connector(provider)
        if connector is None:
            upper = provider.value.upper()
            raise Conflict(
                f"{_NAMES[provider]} is not set up on this server: the operator sets "
                f"CALGATE_{upper}_CLIENT_ID and CALGATE_{upper}_CLIENT_SECRET, or an account "
                "admin registers an app with "
                f"PUT /v1/accounts/{{account}}/providers/{provider.value}"
            )
        return connector, self.default_redirect_uri

    # account registrations (admin) -------------------------------------------------------
    def _view(self, row: ProviderAppRow) -> AppRegistration:
        return AppRegistration(
            Provider(row.provider),
            row.client_id,
            "account",
            row.redirect_uri or self.default_redirect_uri,
            row.tenant,
        )

    async def list(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID
    ) -> list[AppRegistration]:
        require_account_admin(principal, account_id)
        own = {
            Provider(r.provider): self._view(r)
            for r in await ConnectionStore(uow.session).apps(account_id)
        }
        out = []
        for provider in OAUTH_PROVIDERS:
            if provider in own:
                out.append(own[provider])
                continue
            connector = self.deployment_connector(provider)
            if connector is not None:
                tenant = getattr(getattr(connector, "config", None), "tenant", None)
                out.append(
                    AppRegistration(
                        provider,
                        connector.client_id,
                        "deployment",
                        self.default_redirect_uri,
                        tenant,
                    )
                )
        return out

    async def put(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        provider: Provider,
        *,
        client_id: str,
        client_secret: Secret,
        tenant: str | None,
        redirect_uri: str | None,
    ) -> AppRegistration:
        require_account_admin(principal, account_id)
        if await uow.accounts.get(account_id) is None:
            raise NotFound(f"account {account_id} not found")
        if tenant is not None and provider is not Provider.MICROSOFT:
            raise InvalidInput("only Microsoft registrations have a tenant", field="tenant")
        store = ConnectionStore(uow.session)
        row = await store.app(account_id, provider.value)
        now = self._clock.now()
        action = "provider_app.updated"
        if row is None:
            action = "provider_app.created"
            row = ProviderAppRow(
                id=uuid.uuid4(), account_id=account_id, provider=provider.value, created_at=now
            )
        row.client_id = client_id
        row.tenant = tenant
        row.redirect_uri = redirect_uri
        row.updated_at = now
        await store.put_app(row)
        await self._vault.put(
            uow,
            account_id=account_id,
            owner=APP_OWNER,
            owner_id=row.id,
            field="client_secret",
            value=client_secret,
        )
        await self._audit.record(
            uow,
            actor=principal,
            action=action,
            target=f"provider_app:{row.id}",
            account_id=account_id,
            details={"provider": provider.value, "client_id": client_id, "tenant": tenant},
        )
        return self._view(row)

    async def delete(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, provider: Provider
    ) -> None:
        require_account_admin(principal, account_id)
        store = ConnectionStore(uow.session)
        row = await store.app(account_id, provider.value)
        if row is None:
            raise NotFound(f"this account has no {_NAMES[provider]} app registration of its own")
        await self._vault.delete(uow, account_id=account_id, owner=APP_OWNER, owner_id=row.id)
        await store.delete_app(account_id, provider.value)
        await self._audit.record(
            uow,
            actor=principal,
            action="provider_app.deleted",
            target=f"provider_app:{row.id}",
            account_id=account_id,
            details={"provider": provider.value, "client_id": row.client_id},
        )
        self._accounts.pop((account_id, provider), None)
