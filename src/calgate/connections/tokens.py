"""Access tokens for connections: served from cache while fresh, refreshed single-flight.

Warm path: the connection row (read by the caller in the same statement as the user) names
the current ``token_version``; a token cached in memory under that version is served with
no further I/O. A token is *stale* ``token_refresh_margin_seconds`` before it expires.

Refresh is single-flight per connection:

- **in this process**: one task per (connection, version); every concurrent caller awaits
  it (a caller giving up does not cancel it);
- **across processes**: a lease on the connection row, taken with a conditional UPDATE
  (active, still at this version, no unexpired lease). Losers poll, with back-off and a
  bound, until the version moves, and then serve the winner's token;
- **compare-and-swap**: the new token is stored only if the row is still at the version
  the refresh started from (``token_version`` + 1), with a rotated refresh token whenever
  the provider sent one (R5).

No transaction is open during the provider call. A dead grant (``invalid_grant``, AADSTS
revocations) is declared only after re-reading the row (another process may have rotated
the token meanwhile): the connection becomes ``reauth_required``, its secrets are deleted,
and an audit entry and a ``connection.reauth_required`` notification are written (R6).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from calgate.clock import Clock
from calgate.connections.apps import ProviderApps
from calgate.connections.flow import CONNECTION_OWNER
from calgate.connections.store import ConnectionStore
from calgate.connectors.base import CalendarConnector, TokenGrant
from calgate.connectors.errors import ConnectorError, InvalidGrant
from calgate.connectors.registry import connector_class
from calgate.domain.connections import Connection, ConnectionStatus, Permissions
from calgate.domain.policy import Provider
from calgate.errors import NotFound, ReauthRequired, ServiceUnavailable, VaultError
from calgate.notify.hub import NotificationHub
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.services.audit import AuditLog
from calgate.settings import Settings
from calgate.vault.base import CredentialVault, Secret

__all__ = ["IssuedToken", "TokenBroker"]

log = logging.getLogger(__name__)

_NAMES = {Provider.GOOGLE: "Google Calendar", Provider.MICROSOFT: "Microsoft 365"}


@dataclass(frozen=True, slots=True, repr=False)
class IssuedToken:
    connection_id: uuid.UUID
    version: int
    access_token: Secret
    expires_at: datetime
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"IssuedToken({self.connection_id}, v{self.version}, expires {self.expires_at})"


class TokenBroker:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        apps: ProviderApps,
        vault: CredentialVault,
        audit: AuditLog,
        hub: NotificationHub,
        clock: Clock,
        settings: Settings,
        owner: str | None = None,
    ) -> None:
        self._uow = uow
        self._apps = apps
        self._vault = vault
        self._audit = audit
        self._hub = hub
        self._clock = clock
        self._public = str(settings.public_url).rstrip("/")
        self.margin = timedelta(seconds=settings.token_refresh_margin_seconds)
        self.lease = timedelta(seconds=30)
        self.wait_limit = 25.0  # seconds a loser waits for another process's refresh
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._cache: dict[uuid.UUID, IssuedToken] = {}
        self._inflight: dict[tuple[uuid.UUID, int], asyncio.Task[IssuedToken]] = {}
        self._classes: dict[Provider, type[CalendarConnector]] = {}
        self.listeners: list[Callable[[uuid.UUID], None]] = []  # told a user's tokens moved
        self._permissions: dict[tuple[Provider, frozenset[str]], Permissions] = {}

    def _changed(self, connection: Connection) -> None:
        for listener in self.listeners:
            listener(connection.user_id)

    # policy helpers ------------------------------------------------------------------------
    def rules(self, provider: Provider) -> type[CalendarConnector]:
        """The connector class of ``provider`` (scope facts need no registration)."""
        found = self._classes.get(provider)
        if found is None:
            found = self._classes[provider] = connector_class(provider.value)
        return found

    def permissions_of(self, provider: Provider, scopes: frozenset[str]) -> Permissions:
        key = (provider, scopes)
        found = self._permissions.get(key)
        if found is None:
            found = self._permissions[key] = self.rules(provider).permissions(scopes)
        return found

    def token_permissions(self, connection: Connection) -> Permissions:
        return self.permissions_of(connection.provider, connection.token_scopes)

    def narrowing(self, connection: Connection, allowed: Permissions) -> frozenset[str] | None:
        """The scopes to refresh with when the current token can do more than the policy
        now allows (R7), if the grant has narrower scopes to ask for; else None."""
        current = self.token_permissions(connection)
        if current.within(allowed) == current:
            return None
        rules = self.rules(connection.provider)
        narrowed = rules.narrowed_scopes(connection.scopes, allowed)
        if rules.permissions(narrowed).calendar is None:
            return None  # nothing narrower was granted: vend it, limited in name only
        return narrowed

    def _expiring(self, expires: datetime | None) -> bool:
        return expires is None or expires - self._clock.now() <= self.margin

    def stale(self, connection: Connection) -> bool:
        return self._expiring(connection.access_expires_at)

    def reauth_error(self, connection: Connection) -> ReauthRequired:
        name = _NAMES.get(connection.provider, connection.provider.value)
        reason = f" ({connection.reauth_reason})" if connection.reauth_reason else ""
        return ReauthRequired(
            f"your {name} connection must be renewed: the provider no longer accepts "
            f"calgate's access{reason}. Connect again (POST the reauth_url with your session).",
            reauth_url=f"{self._public}/v1/me/connections/{connection.provider.value}/authorize",
            connection_id=str(connection.id),
            provider=connection.provider.value,
        )

    async def aclose(self) -> None:
        """Let refreshes still running finish (their results are stored; the runtime is
        closing)."""
        await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)

    def forget(self, connection_id: uuid.UUID) -> None:
        self._cache.pop(connection_id, None)

    # the vend path -------------------------------------------------------------------------
    async def token(
        self, connection: Connection, allowed: Permissions, *, force: bool = False
    ) -> IssuedToken:
        """A usable access token for ``connection`` (as just read from the database)."""
        if connection.status is ConnectionStatus.REAUTH_REQUIRED:
            raise self.reauth_error(connection)
        if connection.status is not ConnectionStatus.ACTIVE:
            raise NotFound(f"connection {connection.id} was removed")
        if not force and self.narrowing(connection, allowed) is None:
            cached = self.cached(connection, allowed)
            if cached is not None:
                return cached
            if not self.stale(connection):
                stored = await self._read_access(connection)
                if stored is not None:
                    return stored
        return await self._single_flight(connection, allowed, force)

    def cached(self, connection: Connection, allowed: Permissions) -> IssuedToken | None:
        """The warm path (no I/O): a cached token at least as new as the caller's view of
        the row (which may be a moment old), fresh, and within the policy; else None."""
        found = self._cache.get(connection.id)
        if (
            found is None
            or found.version < connection.token_version
            or self._expiring(found.expires_at)
            or connection.status is not ConnectionStatus.ACTIVE
        ):
            return None
        current = self.permissions_of(connection.provider, found.scopes)
        if current.within(allowed) != current and self.narrowing(connection, allowed):
            return None  # the policy narrowed: refresh with fewer scopes first
        return found

    async def _read_access(self, connection: Connection) -> IssuedToken | None:
        async with self._uow(readonly=True) as uow:
            try:
                secret = await self._vault.get(
                    uow,
                    account_id=connection.account_id,
                    owner=CONNECTION_OWNER,
                    owner_id=connection.id,
                    field="access_token",
                )
            except VaultError:
                log.warning("connection %s: cached access token does not decrypt", connection.id)
                return None
        if secret is None or connection.access_expires_at is None:
            return None
        issued = IssuedToken(
            connection.id,
            connection.token_version,
            secret,
            connection.access_expires_at,
            connection.token_scopes,
        )
        self._cache[connection.id] = issued
        return issued

    async def _single_flight(
        self, connection: Connection, allowed: Permissions, force: bool
    ) -> IssuedToken:
        key = (connection.id, connection.token_version)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(
                self._refresh(connection, allowed, force), name=f"refresh-{connection.id}"
            )
            self._inflight[key] = task

            def done(finished: asyncio.Task[IssuedToken]) -> None:
                self._inflight.pop(key, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved: waiters re-raise it themselves

            task.add_done_callback(done)
        return await asyncio.shield(task)

    # refresh -------------------------------------------------------------------------------
    async def _connector(self, connection: Connection) -> CalendarConnector:
        async with self._uow(readonly=True) as uow:
            connector, _ = await self._apps.connector(
                uow, connection.account_id, connection.provider
            )
        return connector

    async def _acquire(self, connection: Connection) -> Secret | IssuedToken:
        """Take the lease and return the refresh token, or return the token another process
        produced while we waited."""
        deadline = time.monotonic() + self.wait_limit
        delay = 0.02
        while True:
            now = self._clock.now()
            async with self._uow() as uow:
                store = ConnectionStore(uow.session)
                if await store.try_lease(
                    connection.id, connection.token_version, self.owner, now + self.lease, now
                ):
                    try:
                        refresh = await self._vault.get(
                            uow,
                            account_id=connection.account_id,
                            owner=CONNECTION_OWNER,
                            owner_id=connection.id,
                            field="refresh_token",
                        )
                    except VaultError:
                        refresh = None
                    await uow.commit()
                    if refresh is None:
                        return await self._dead(
                            connection, "refresh token missing or unreadable", None
                        )
                    return refresh
                current = await store.by_id(connection.id)
            if current is None or current.status is ConnectionStatus.REMOVED:
                raise NotFound(f"connection {connection.id} was removed")
            if current.status is ConnectionStatus.REAUTH_REQUIRED:
                raise self.reauth_error(current)
            if current.token_version != connection.token_version:
                self._changed(current)
                served = await self._read_access(current)
                if served is not None:
                    return served
                connection = current  # its token is gone: refresh from the new version
                continue
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    "another calgate process is still refreshing this connection's token; "
                    "try again in a few seconds"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, 0.5)

    async def _refresh(
        self, connection: Connection, allowed: Permissions, force: bool
    ) -> IssuedToken:
        connector = await self._connector(connection)
        if connection.client_id and connector.client_id != connection.client_id:
            return await self._dead(
                connection, "the app registration changed since the user connected", None
            )
        got = await self._acquire(connection)
        if isinstance(got, IssuedToken):
            return got
        refresh = got
        narrowed = self.narrowing(connection, allowed)
        try:
            grant = await connector.refresh(refresh, scopes=narrowed)
        except InvalidGrant as exc:
            return await self._dead(connection, exc.reason, refresh)
        except ConnectorError as exc:
            await self._release(connection)
            log.warning("connection %s: refresh failed: %s", connection.id, exc.detail)
            if (
                not force
                and connection.access_expires_at
                and connection.access_expires_at > (self._clock.now())
            ):
                served = await self._read_access(connection)
                if served is not None:
                    return served  # still valid, only inside the refresh margin
            raise ServiceUnavailable(
                f"{connection.provider.value} could not refresh the access token now "
                f"({exc.detail}); try again shortly"
            ) from exc
        return await self._store(connection, grant, narrowed is not None)

    async def _release(self, connection: Connection) -> None:
        async with self._uow() as uow:
            await ConnectionStore(uow.session).release_lease(connection.id, self.owner)
            await uow.commit()

    async def _store(
        self, connection: Connection, grant: TokenGrant, narrowed: bool
    ) -> IssuedToken:
        now = self._clock.now()
        expires = now + timedelta(seconds=grant.expires_in)
        token_scopes = grant.scopes or connection.token_scopes
        values: dict[str, object] = {
            "access_expires_at": expires,
            "token_scopes": sorted(token_scopes),
            "last_refreshed_at": now,
            "updated_at": now,
        }
        if grant.scopes and not narrowed:
            values["scopes"] = sorted(grant.scopes)  # e.g. an admin withdrew a scope
        if grant.refresh_expires_in:
            values["refresh_expires_at"] = now + timedelta(seconds=grant.refresh_expires_in)
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            swapped = await store.swap(connection.id, connection.token_version, **values)
            if swapped:
                await self._vault.put(
                    uow,
                    account_id=connection.account_id,
                    owner=CONNECTION_OWNER,
                    owner_id=connection.id,
                    field="access_token",
                    value=grant.access_token,
                )
                if grant.refresh_token is not None:  # rotation: always keep the newest (R5)
                    await self._vault.put(
                        uow,
                        account_id=connection.account_id,
                        owner=CONNECTION_OWNER,
                        owner_id=connection.id,
                        field="refresh_token",
                        value=grant.refresh_token,
                    )
                await uow.commit()
                current = None
            else:
                current = await store.by_id(connection.id)
        if not swapped:
            # Our lease ran out and another process stored a newer token first: use theirs.
            log.info("connection %s: lost the refresh race; serving the winner's", connection.id)
            self._changed(connection)
            if current is None or current.status is not ConnectionStatus.ACTIVE:
                raise NotFound(f"connection {connection.id} is no longer active")
            served = await self._read_access(current)
            if served is None:
                raise ServiceUnavailable("the connection changed during refresh; try again")
            return served
        issued = IssuedToken(
            connection.id, connection.token_version + 1, grant.access_token, expires, token_scopes
        )
        self._cache[connection.id] = issued
        self._changed(connection)
        log.info("connection %s: refreshed (v%s)", connection.id, issued.version)
        return issued

    async def _dead(self, connection: Connection, reason: str, used: Secret | None) -> IssuedToken:
        """Declare the grant dead, unless the row shows someone else moved it on."""
        now = self._clock.now()
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            current = await store.get(connection.account_id, connection.id, lock=True)
            if current is None or current.status is ConnectionStatus.REMOVED:
                raise NotFound(f"connection {connection.id} was removed")
            if current.status is ConnectionStatus.REAUTH_REQUIRED:
                raise self.reauth_error(current)
            stored = None
            if used is not None:
                try:
                    stored = await self._vault.get(
                        uow,
                        account_id=connection.account_id,
                        owner=CONNECTION_OWNER,
                        owner_id=connection.id,
                        field="refresh_token",
                    )
                except VaultError:
                    stored = None
            moved = current.token_version != connection.token_version or (
                stored is not None and used is not None and stored != used
            )
            if moved:
                await store.release_lease(connection.id, self.owner)
                await uow.commit()
                log.info(
                    "connection %s: grant moved on meanwhile; not declaring it dead", connection.id
                )
                served = await self._read_access(current)
                if served is None:
                    raise ServiceUnavailable("the connection changed during refresh; try again")
                return served
            await store.swap(
                connection.id,
                connection.token_version,
                status=ConnectionStatus.REAUTH_REQUIRED.value,
                reauth_reason=reason[:200],
                access_expires_at=None,
                updated_at=now,
            )
            deleted = await self._vault.delete(
                uow,
                account_id=connection.account_id,
                owner=CONNECTION_OWNER,
                owner_id=connection.id,
            )
            await self._audit.record(
                uow,
                actor="system",
                action="connection.reauth_required",
                target=f"connection:{connection.id}",
                account_id=connection.account_id,
                details={
                    "provider": connection.provider.value,
                    "user": str(connection.user_id),
                    "reason": reason[:200],
                    "secrets_deleted": deleted,
                },
            )
            await self._hub.publish(
                uow,
                account_id=connection.account_id,
                user_id=connection.user_id,
                type="connection.reauth_required",
                data={"connection_id": str(connection.id), "provider": connection.provider.value},
            )
            await uow.commit()
        self.forget(connection.id)
        self._changed(connection)
        log.warning(
            "connection %s (%s) needs reauthorization: %s",
            connection.id,
            connection.provider.value,
            reason,
        )
        raise self.reauth_error(
            replace(connection, status=ConnectionStatus.REAUTH_REQUIRED, reauth_reason=reason[:200])
        )
