"""Connecting a calendar: OAuth 2.0 authorization code + PKCE S256 (RFC 7636), hardened as
RFC 9700 §2.1 and §4.5–4.7 ask.

1. ``start`` (the signed-in user's app, ``POST /v1/me/connections/{provider}/authorize``):
   a random ``state`` (stored only as its SHA-256, bound to the user and their session, TTL
   at most 10 minutes) and a PKCE verifier (in the vault). The app gets calgate's own
   ``/v1/oauth/start`` URL to open in a browser.
2. ``open`` (that browser, ``GET /v1/oauth/start``): binds the flow, once, to the browser
   with an HttpOnly cookie, then redirects to the provider with the S256 challenge and the
   exact redirect URI.
3. ``complete`` (the provider's redirect, ``GET /v1/oauth/callback``): the state is consumed
   first (single use, even when what follows fails), must be unexpired and must come back
   in the browser that opened it; only then is the code redeemed, with the verifier and the
   same redirect URI. Denied consent, a reused/expired/foreign state or a code the provider
   refuses end here with nothing stored.

No provider call happens inside a database transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError

from calgate.clock import Clock
from calgate.connections.apps import ProviderApps, supported
from calgate.connections.store import ConnectionStore
from calgate.connectors.base import CalendarConnector, ProviderAccount, TokenGrant
from calgate.connectors.errors import ClientRejected, ConnectorError, InvalidGrant
from calgate.connectors.oauth import code_challenge, new_pkce_pair
from calgate.domain.connections import (
    Connection,
    ConnectionStatus,
    Permissions,
    allowed_permissions,
)
from calgate.domain.policy import Access, EffectivePolicy, PolicyOverrides, Provider, resolve
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Forbidden, InvalidInput, PolicyDenied, Unauthenticated
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.services.audit import AuditLog
from calgate.settings import Settings
from calgate.vault.base import CredentialVault, Secret

__all__ = [
    "CONNECTION_OWNER",
    "STATE_OWNER",
    "BrowserStart",
    "ConnectRefused",
    "Connected",
    "OAuthFlows",
    "StartedFlow",
    "cookie_name",
    "effective_policy",
    "state_hash",
]

log = logging.getLogger(__name__)

STATE_OWNER = "oauth_states"
CONNECTION_OWNER = "connections"


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def cookie_name(hashed_state: str) -> str:
    """One cookie per started flow, so two flows in one browser do not clash."""
    return f"calgate_oauth_{hashed_state[:16]}"


def effective_policy(
    account: Mapping[str, object], group: Mapping[str, object] | None, group_name: str | None
) -> EffectivePolicy:
    return resolve(
        PolicyOverrides.from_dict(dict(account)),
        PolicyOverrides.from_dict(dict(group)) if group is not None else None,
        group_name=group_name,
    )


class ConnectRefused(InvalidInput):
    """A connection attempt that must not complete. ``reason`` is a short code for pages
    and tests (``unknown_state``, ``expired_state``, ``foreign_browser``, ``denied``,
    ``code_rejected``, ``not_granted``, ``provider_error``, ``misconfigured``)."""

    def __init__(self, detail: str, *, reason: str, field: str = "state") -> None:
        super().__init__(detail, field=field)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StartedFlow:
    authorization_url: str
    provider: Provider
    scopes: tuple[str, ...]
    permissions: Permissions
    expires_at: datetime


@dataclass(frozen=True, slots=True, repr=False)
class BrowserStart:
    provider_url: str
    cookie_name: str
    cookie_value: str
    max_age: int
    secure: bool

    def __repr__(self) -> str:
        return f"BrowserStart(cookie={self.cookie_name})"


@dataclass(frozen=True, slots=True)
class Connected:
    connection: Connection
    reconnected: bool


class OAuthFlows:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        apps: ProviderApps,
        vault: CredentialVault,
        audit: AuditLog,
        clock: Clock,
        settings: Settings,
    ) -> None:
        self._uow = uow
        self._apps = apps
        self._vault = vault
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self.listeners: list[Callable[[uuid.UUID], None]] = []  # told a user connected
        # Run inside the connect transaction (e.g. subscribing to change notifications).
        self.hooks: list[Callable[[SqlUnitOfWork, Connection], Awaitable[None]]] = []

    @property
    def _public(self) -> str:
        return str(self._settings.public_url).rstrip("/")

    # 1. start ----------------------------------------------------------------------------
    async def start(
        self, principal: Principal, provider_name: str, *, login_hint: str | None = None
    ) -> StartedFlow:
        if principal.kind is not PrincipalKind.USER:
            raise Forbidden("connecting a calendar is for signed-in users")
        assert principal.account_id is not None
        assert principal.user_id is not None
        provider = supported(provider_name)
        now = self._clock.now()
        ttl = timedelta(seconds=self._settings.oauth_state_ttl_seconds)
        state = secrets.token_urlsafe(32)
        verifier, _ = new_pkce_pair()
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            view = await store.user_view(principal.account_id, principal.user_id)
            if view is None:
                raise Unauthenticated("the user of this session no longer exists")
            policy = effective_policy(view.account_policy, view.group_policy, view.group_name)
            if not policy.allows_provider(provider):
                raise PolicyDenied(
                    f"your account's policy does not allow {provider.value} calendars",
                    policy="allowed_providers",
                )
            connector, redirect_uri = await self._apps.connector(
                uow, principal.account_id, provider
            )
            allowed = allowed_permissions(policy, provider)
            scopes = connector.scopes_for(allowed.calendar or Access.READ, allowed.contacts)
            hashed = state_hash(state)
            await store.add_state(
                state_hash=hashed,
                account_id=principal.account_id,
                user_id=principal.user_id,
                session_id=(principal.session_id or "")[:64],
                provider=provider.value,
                redirect_uri=redirect_uri,
                scopes=list(scopes),
                login_hint=login_hint,
                browser_hash=None,
                created_at=now,
                expires_at=now + ttl,
            )
            await self._vault.put(
                uow,
                account_id=principal.account_id,
                owner=STATE_OWNER,
                owner_id=hashed,
                field="code_verifier",
                value=verifier,
            )
            await uow.commit()
        url = f"{self._public}/v1/oauth/start?{urlencode({'state': state})}"
        return StartedFlow(url, provider, tuple(scopes), allowed, now + ttl)

    # 2. open -----------------------------------------------------------------------------
    async def open(self, state: str) -> BrowserStart:
        hashed = state_hash(state)
        binding = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            if not await store.bind_browser(hashed, state_hash(binding), now):
                raise ConnectRefused(
                    "this connection link was already opened, has expired or is unknown: "
                    "start connecting again from your app",
                    reason="unknown_state",
                )
            row = await store.get_state(hashed)
            assert row is not None
            verifier = await self._vault.get(
                uow,
                account_id=row.account_id,
                owner=STATE_OWNER,
                owner_id=hashed,
                field="code_verifier",
            )
            if verifier is None:
                raise ConnectRefused(
                    "this connection attempt is incomplete", reason="unknown_state"
                )
            connector, _ = await self._apps.connector(uow, row.account_id, Provider(row.provider))
            await uow.commit()
        url = connector.authorization_url(
            state=state,
            code_challenge=code_challenge(verifier),
            redirect_uri=row.redirect_uri,
            scopes=list(row.scopes),
            login_hint=row.login_hint,
        )
        max_age = max(1, int((row.expires_at - now).total_seconds()))
        secure = self._public.startswith("https://")
        return BrowserStart(url, cookie_name(hashed), binding, max_age, secure)

    # 3. complete -------------------------------------------------------------------------
    async def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        cookies: Mapping[str, str],
    ) -> Connected:
        if not state:
            raise ConnectRefused("the provider's answer carries no state", reason="unknown_state")
        hashed = state_hash(state)
        now = self._clock.now()
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            row = await store.take_state(hashed)
            if row is None:
                await uow.rollback()
                raise ConnectRefused(
                    "this connection attempt is unknown or was already completed: start "
                    "connecting again from your app",
                    reason="unknown_state",
                )
            verifier = await self._vault.get(
                uow,
                account_id=row.account_id,
                owner=STATE_OWNER,
                owner_id=hashed,
                field="code_verifier",
            )
            await self._vault.delete(
                uow, account_id=row.account_id, owner=STATE_OWNER, owner_id=hashed
            )
            await uow.commit()  # the state is spent whatever happens next
        presented = cookies.get(cookie_name(hashed), "")
        if row.expires_at <= now:
            raise ConnectRefused(
                "this connection attempt took longer than "
                f"{self._settings.oauth_state_ttl_seconds // 60} minutes and has expired: "
                "start connecting again from your app",
                reason="expired_state",
            )
        if row.browser_hash is None or not hmac.compare_digest(
            state_hash(presented), row.browser_hash
        ):
            raise ConnectRefused(
                "this connection attempt was started in another browser or session: finish "
                "it in the browser your app opened",
                reason="foreign_browser",
            )
        if error:
            if error == "access_denied":
                raise ConnectRefused(
                    "you did not allow calgate to access your calendar; nothing was connected",
                    reason="denied",
                    field="error",
                )
            raise ConnectRefused(
                f"the provider ended the sign-in with {error[:60]!r}; nothing was connected",
                reason="provider_error",
                field="error",
            )
        if not code or verifier is None:
            raise ConnectRefused(
                "the provider's answer carries no code", reason="code_rejected", field="code"
            )
        provider = Provider(row.provider)
        principal = Principal(PrincipalKind.USER, account_id=row.account_id, user_id=row.user_id)
        async with self._uow(readonly=True) as uow:
            connector, _ = await self._apps.connector(uow, row.account_id, provider)
        grant, account = await self._redeem(connector, code, verifier, row.redirect_uri)
        permissions = connector.permissions(grant.scopes)
        if permissions.calendar is None:
            raise ConnectRefused(
                "calendar access was not granted: connect again and allow calendar access",
                reason="not_granted",
                field="scope",
            )
        for attempt in range(2):
            try:
                return await self._store(principal, provider, connector, grant, account)
            except IntegrityError:  # the same account connected concurrently: reconnect it
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _redeem(
        self, connector: CalendarConnector, code: str, verifier: Secret, redirect_uri: str
    ) -> tuple[TokenGrant, ProviderAccount]:
        try:
            grant = await connector.exchange_code(
                code=code, code_verifier=verifier, redirect_uri=redirect_uri
            )
            if grant.refresh_token is None:
                raise ConnectRefused(
                    "the provider granted no offline access (no refresh token): connect again",
                    reason="not_granted",
                    field="scope",
                )
            return grant, await connector.identify(grant)
        except InvalidGrant as exc:
            raise ConnectRefused(
                "the provider refused the authorization code (already used, expired, or not "
                f"issued to this sign-in: {exc.reason}); nothing was connected",
                reason="code_rejected",
                field="code",
            ) from exc
        except ClientRejected as exc:
            log.error("oauth callback: %s", exc.detail)
            raise ConnectRefused(
                f"{exc.detail}; nothing was connected", reason="misconfigured", field="code"
            ) from exc
        except ConnectorError as exc:
            raise ConnectRefused(
                f"the provider could not complete the sign-in ({exc.detail})",
                reason="provider_error",
                field="code",
            ) from exc

    async def _store(
        self,
        principal: Principal,
        provider: Provider,
        connector: CalendarConnector,
        grant: TokenGrant,
        account: ProviderAccount,
    ) -> Connected:
        assert principal.account_id is not None
        assert principal.user_id is not None
        assert grant.refresh_token is not None
        now = self._clock.now()
        values = {
            "account_email": account.email,
            "client_id": connector.client_id,
            "scopes": sorted(grant.scopes),
            "token_scopes": sorted(grant.scopes),
            "status": ConnectionStatus.ACTIVE.value,
            "access_expires_at": now + timedelta(seconds=grant.expires_in),
            "refresh_expires_at": (
                now + timedelta(seconds=grant.refresh_expires_in)
                if grant.refresh_expires_in
                else None
            ),
            "lease_owner": None,
            "lease_until": None,
            "last_refreshed_at": now,
            "reauth_reason": None,
            "updated_at": now,
        }
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            existing = await store.find_live(
                principal.user_id, provider.value, account.subject, lock=True
            )
            if existing is not None:
                connection_id = existing.id
                await store.update(
                    connection_id, token_version=existing.token_version + 1, **values
                )
            else:
                connection_id = uuid.uuid4()
                await store.add(
                    id=connection_id,
                    account_id=principal.account_id,
                    user_id=principal.user_id,
                    provider=provider.value,
                    subject=account.subject,
                    token_version=1,
                    created_at=now,
                    **values,
                )
            for field, secret in (
                ("refresh_token", grant.refresh_token),
                ("access_token", grant.access_token),
            ):
                await self._vault.put(
                    uow,
                    account_id=principal.account_id,
                    owner=CONNECTION_OWNER,
                    owner_id=connection_id,
                    field=field,
                    value=secret,
                )
            await self._audit.record(
                uow,
                actor=principal,
                action="connection.reconnected" if existing else "connection.created",
                target=f"connection:{connection_id}",
                account_id=principal.account_id,
                details={
                    "provider": provider.value,
                    "user": str(principal.user_id),
                    "permissions": connector.permissions(grant.scopes).as_dict(),
                    "scopes": sorted(grant.scopes),
                    "access_expires_in": grant.expires_in,
                },
            )
            connection = await store.by_id(connection_id)
            assert connection is not None
            for hook in self.hooks:
                await hook(uow, connection)
            await uow.commit()
        assert connection is not None
        for listener in self.listeners:
            listener(principal.user_id)
        log.info(
            "connection %s (%s) %s for user %s",
            connection_id,
            provider.value,
            "reconnected" if existing else "created",
            principal.user_id,
        )
        return Connected(connection, existing is not None)
