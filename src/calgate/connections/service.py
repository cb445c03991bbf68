"""`Connections`: the calendar-connection feature as one object on the runtime (connect,
vend, write, remove, list, keep alive), composed from the modules of this package."""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx

from calgate.clock import Clock
from calgate.connections.apps import ProviderApps
from calgate.connections.flow import STATE_OWNER, OAuthFlows
from calgate.connections.removal import Removals
from calgate.connections.store import ConnectionStore
from calgate.connections.tokens import TokenBroker
from calgate.connections.vending import Vending
from calgate.connections.writes import EventWrites
from calgate.domain.connections import Connection, Permissions, allowed_permissions
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import CalgateError, NotFound
from calgate.notify.hub import BusListener, NotificationHub
from calgate.notify.messages import Notification, NotificationType
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.services.audit import AuditLog
from calgate.services.tenancy import require_account_admin
from calgate.settings import Settings
from calgate.vault.base import CredentialVault

__all__ = ["ConnectionListing", "Connections", "KeepAliveReport"]

# Messages after which a user's vending view is stale in every process.
_CHANGES_VENDING = frozenset(
    {
        NotificationType.CONNECTION_REMOVED.value,
        NotificationType.CONNECTION_REAUTH_REQUIRED.value,
        NotificationType.CONNECTION_CONNECTED.value,
    }
)

log = logging.getLogger(__name__)

TOMBSTONE_DAYS = 30
KEEPALIVE_BATCH = 200


@dataclass(frozen=True, slots=True)
class ConnectionListing:
    connection: Connection
    granted: Permissions  # what the provider granted
    effective: Permissions  # what the policy lets it be used for now
    reauth_url: str | None


@dataclass(frozen=True, slots=True)
class KeepAliveReport:
    refreshed: int = 0
    failed: int = 0
    states_purged: int = 0
    tombstones_purged: int = 0


class Connections:
    def __init__(
        self,
        *,
        settings: Settings,
        uow: UnitOfWorkFactory,
        http: httpx.AsyncClient,
        vault: CredentialVault,
        audit: AuditLog,
        hub: NotificationHub,
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._uow = uow
        self._vault = vault
        self._clock = clock
        self._hub = hub
        self.apps = ProviderApps(
            settings=settings, http=http, vault=vault, audit=audit, clock=clock
        )
        self.flows = OAuthFlows(
            uow=uow, apps=self.apps, vault=vault, audit=audit, clock=clock, settings=settings
        )
        self.broker = TokenBroker(
            uow=uow,
            apps=self.apps,
            vault=vault,
            audit=audit,
            hub=hub,
            clock=clock,
            settings=settings,
        )
        self.vending = Vending(
            uow=uow,
            broker=self.broker,
            apps=self.apps,
            clock=clock,
            cache_seconds=settings.vend_cache_seconds,
        )
        self.removals = Removals(
            uow=uow,
            apps=self.apps,
            broker=self.broker,
            vault=vault,
            audit=audit,
            hub=hub,
            clock=clock,
        )
        self.writes = EventWrites(uow=uow, vending=self.vending, broker=self.broker, apps=self.apps)
        for source in (self.broker, self.flows, self.removals):
            source.listeners.append(self.vending.invalidate_user)
        self.flows.hooks.append(self._announce_connected)
        # The same changes made through other processes, heard over the bus (R6).
        hub.listeners.append(BusListener(self._heard, self.vending.invalidate_all))

    async def _announce_connected(self, uow: SqlUnitOfWork, connection: Connection) -> None:
        """Connected or reconnected: the user's open apps vend again and show it at once."""
        await self._hub.publish(
            uow,
            account_id=connection.account_id,
            user_id=connection.user_id,
            type=NotificationType.CONNECTION_CONNECTED.value,
            data={"connection_id": str(connection.id), "provider": connection.provider.value},
        )

    def _heard(self, message: Notification) -> None:
        if message.type in _CHANGES_VENDING:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                self.broker.forget(uuid.UUID(str(message.data["connection_id"])))
            self.vending.invalidate_user(message.user_id)

    async def aclose(self) -> None:
        await self.broker.aclose()
        await self.vending.aclose()

    # listing -----------------------------------------------------------------------------
    async def list_for(
        self, principal: Principal, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> list[ConnectionListing]:
        """A user's live connections: the user's own view, or an admin's."""
        if principal.kind is PrincipalKind.USER:
            if principal.account_id != account_id or principal.user_id != user_id:
                raise NotFound(f"user {user_id} not found")
        else:
            require_account_admin(principal, account_id)
        view, policy = await self.vending.load(
            Principal(PrincipalKind.USER, account_id=account_id, user_id=user_id)
        )
        out = []
        for c in view.connections:
            if c.status.value == "removed":
                continue
            granted = self.broker.rules(c.provider).permissions(c.scopes)
            allowed = allowed_permissions(policy, c.provider)
            reauth = (
                str(self.broker.reauth_error(c).problem_extra["reauth_url"])
                if c.status.value == "reauth_required"
                else None
            )
            out.append(ConnectionListing(c, granted, granted.within(allowed), reauth))
        return out

    async def user_exists(
        self, principal: Principal, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        require_account_admin(principal, account_id)
        async with self._uow(readonly=True) as uow:
            if await uow.users.get(account_id, user_id) is None:
                raise NotFound(f"user {user_id} not found")

    # keep-alive --------------------------------------------------------------------------
    async def keep_alive(self) -> KeepAliveReport:
        """Refresh grants idle for ``connection_keepalive_days`` (or that the provider said
        would lapse within that window) before their refresh token lapses; delete expired
        started flows and old tombstones."""
        now = self._clock.now()
        window = timedelta(days=self._settings.connection_keepalive_days)
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            expired = await store.expired_states(now)
            for row in expired:
                await self._vault.delete(
                    uow, account_id=row.account_id, owner=STATE_OWNER, owner_id=row.state_hash
                )
                await store.delete_state(row.state_hash)
            tombstones = await store.purge_tombstones(now - timedelta(days=TOMBSTONE_DAYS))
            due = await store.due_for_keepalive(
                idle_before=now - window, lapsing_before=now + window, limit=KEEPALIVE_BATCH
            )
            await uow.commit()
        refreshed = failed = 0
        for connection in due:
            try:
                _view, policy = await self.vending.load(
                    Principal(
                        PrincipalKind.USER,
                        account_id=connection.account_id,
                        user_id=connection.user_id,
                    )
                )
                allowed = allowed_permissions(policy, connection.provider)
                await self.broker.token(connection, allowed, force=True)
                refreshed += 1
            except CalgateError as exc:  # dead grants are handled (and notified) by the broker
                failed += 1
                log.info("keep-alive of connection %s: %s", connection.id, exc.detail)
        report = KeepAliveReport(refreshed, failed, len(expired), tombstones)
        if refreshed or failed or expired or tombstones:
            log.info("connections keep-alive: %s", report)
        return report
