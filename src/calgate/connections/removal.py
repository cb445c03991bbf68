"""Removing a calendar integration (R6), by an account admin or by the user.

In one transaction: the connection's secrets are deleted from the vault, the row becomes a
tombstone (no subject, email or scopes left; apps learn why the next vend answers 404),
an audit entry and a ``connection.removed`` notification are written. After the commit
(never inside it) the grant is revoked at the provider where it has a revocation endpoint
(Google); Microsoft has none for a confidential client, which the audit log records.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from calgate.clock import Clock
from calgate.connections.apps import ProviderApps
from calgate.connections.flow import CONNECTION_OWNER, STATE_OWNER
from calgate.connections.store import ConnectionStore
from calgate.connections.tokens import TokenBroker
from calgate.connectors.base import CalendarConnector, Capability
from calgate.connectors.errors import ConnectorError
from calgate.domain.connections import Connection, ConnectionStatus
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Conflict, NotFound, VaultError
from calgate.notify.hub import NotificationHub
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.services.audit import AuditLog
from calgate.services.tenancy import require_account_admin
from calgate.vault.base import CredentialVault, Secret

__all__ = ["RemovalHook", "Removals", "Removed"]

log = logging.getLogger(__name__)

RemovalHook = Callable[[SqlUnitOfWork, Connection], Awaitable[None]]
"""Runs inside the removal's transaction (e.g. deleting the connection's subscriptions)."""


@dataclass(frozen=True, slots=True)
class Removed:
    connection_id: uuid.UUID
    provider: str
    secrets_deleted: int
    provider_revocation: str  # revoked, not_available, failed, nothing_to_revoke, not_configured


class Removals:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        apps: ProviderApps,
        broker: TokenBroker,
        vault: CredentialVault,
        audit: AuditLog,
        hub: NotificationHub,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._apps = apps
        self._broker = broker
        self._vault = vault
        self._audit = audit
        self._hub = hub
        self._clock = clock
        self.hooks: list[RemovalHook] = []
        self.listeners: list[Callable[[uuid.UUID], None]] = []  # told (after commit) of a removal

    async def remove(
        self,
        principal: Principal,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        connection_id: uuid.UUID,
    ) -> Removed:
        """Admin (``user_id`` in the path) or the user themself (their own ids)."""
        if principal.kind is PrincipalKind.USER:
            if principal.account_id != account_id or principal.user_id != user_id:
                raise NotFound(f"connection {connection_id} not found")
            by = "user"
        else:
            require_account_admin(principal, account_id)
            by = "admin"
        now = self._clock.now()
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            connection = await store.get(account_id, connection_id, lock=True)
            if (
                connection is None
                or connection.user_id != user_id
                or connection.status is ConnectionStatus.REMOVED
            ):
                raise NotFound(f"connection {connection_id} not found")
            refresh = await self._refresh_token(uow, connection)
            for hook in self.hooks:  # before the secrets go: a hook may still need them
                await hook(uow, connection)
            deleted = await self._vault.delete(
                uow, account_id=account_id, owner=CONNECTION_OWNER, owner_id=connection_id
            )
            await store.swap(
                connection_id,
                connection.token_version,
                status=ConnectionStatus.REMOVED.value,
                subject=None,
                account_email=None,
                scopes=[],
                token_scopes=[],
                access_expires_at=None,
                refresh_expires_at=None,
                reauth_reason=None,
                removed_at=now,
                removed_by=by,
                updated_at=now,
            )
            await self._audit.record(
                uow,
                actor=principal,
                action="connection.removed",
                target=f"connection:{connection_id}",
                account_id=account_id,
                details={
                    "provider": connection.provider.value,
                    "user": str(user_id),
                    "by": by,
                    "secrets_deleted": deleted,
                },
            )
            await self._hub.publish(
                uow,
                account_id=account_id,
                user_id=user_id,
                type="connection.removed",
                data={"connection_id": str(connection_id), "provider": connection.provider.value},
            )
            connector: CalendarConnector | None
            try:
                connector, _ = await self._apps.connector(uow, account_id, connection.provider)
            except Conflict:  # the provider is no longer set up: nothing to call
                connector = None
            await uow.commit()
        self._broker.forget(connection_id)
        for listener in self.listeners:
            listener(user_id)
        log.info("connection %s removed by %s (%s secrets deleted)", connection_id, by, deleted)
        outcome = await self._revoke(connector, refresh, connection)
        async with self._uow() as uow:
            await self._audit.record(
                uow,
                actor=principal,
                action="connection.provider_revocation",
                target=f"connection:{connection_id}",
                account_id=account_id,
                details={"provider": connection.provider.value, "result": outcome},
            )
            await uow.commit()
        return Removed(connection_id, connection.provider.value, deleted, outcome)

    async def forget_user(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """A user is being deleted (their rows cascade away): delete the secrets no foreign
        key reaches in the same transaction, and revoke the grants at the provider once it
        has committed (best effort)."""
        store = ConnectionStore(uow.session)
        pending: list[tuple[CalendarConnector | None, Secret | None, Connection]] = []
        for connection in await store.for_user(account_id, user_id):
            refresh = await self._refresh_token(uow, connection)
            deleted = await self._vault.delete(
                uow, account_id=account_id, owner=CONNECTION_OWNER, owner_id=connection.id
            )
            connector: CalendarConnector | None
            try:
                connector, _ = await self._apps.connector(uow, account_id, connection.provider)
            except Conflict:
                connector = None
            pending.append((connector, refresh, connection))
            self._broker.forget(connection.id)
            await self._audit.record(
                uow,
                actor="system",
                action="connection.removed",
                target=f"connection:{connection.id}",
                account_id=account_id,
                details={
                    "provider": connection.provider.value,
                    "user": str(user_id),
                    "by": "user_deleted",
                    "secrets_deleted": deleted,
                },
            )
        for hashed in await store.states_of(user_id):
            await self._vault.delete(uow, account_id=account_id, owner=STATE_OWNER, owner_id=hashed)

        async def revoke_all() -> None:
            for connector, refresh, connection in pending:
                outcome = await self._revoke(connector, refresh, connection)
                log.info("connection %s of a deleted user: revocation %s", connection.id, outcome)

        if pending:
            uow.after_commit(revoke_all)

    async def _refresh_token(self, uow: SqlUnitOfWork, connection: Connection) -> Secret | None:
        try:
            return await self._vault.get(
                uow,
                account_id=connection.account_id,
                owner=CONNECTION_OWNER,
                owner_id=connection.id,
                field="refresh_token",
            )
        except VaultError:
            return None

    async def _revoke(
        self, connector: CalendarConnector | None, refresh: Secret | None, connection: Connection
    ) -> str:
        if connector is None:
            return "not_configured"
        if not connector.capabilities & Capability.REVOKE:
            return "not_available"
        if refresh is None:
            return "nothing_to_revoke"
        try:
            await connector.revoke(refresh)
        except ConnectorError as exc:
            log.warning(
                "connection %s: revocation at %s failed: %s",
                connection.id,
                connection.provider.value,
                exc.detail,
            )
            return "failed"
        return "revoked"
