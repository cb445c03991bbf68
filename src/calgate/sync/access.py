"""A connection's provider, ready to call: its connector and a fresh access token, through
the connection's single-flight refresh (issue #5). Shared by sync and subscriptions."""

from __future__ import annotations

import uuid

from calgate.connections import Connections
from calgate.connections.store import ConnectionStore
from calgate.connectors.base import CalendarConnector
from calgate.domain.connections import Connection, allowed_permissions
from calgate.domain.principal import Principal, PrincipalKind
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.vault.base import Secret

__all__ = ["ProviderAccess"]


class ProviderAccess:
    def __init__(self, *, uow: UnitOfWorkFactory, connections: Connections) -> None:
        self._uow = uow
        self._connections = connections

    async def connection(self, connection_id: uuid.UUID) -> Connection | None:
        async with self._uow(readonly=True) as uow:
            return await ConnectionStore(uow.session).by_id(connection_id)

    async def connector(self, connection: Connection) -> CalendarConnector:
        async with self._uow(readonly=True) as uow:
            connector, _ = await self._connections.apps.connector(
                uow, connection.account_id, connection.provider
            )
        return connector

    async def token(self, connection: Connection, *, force: bool = False) -> Secret:
        """A usable access token within the user's current policy. Raises
        `calgate.errors.ReauthRequired` for a dead grant (the broker has marked it and told
        the apps), `ServiceUnavailable` when the provider cannot refresh now."""
        _view, policy = await self._connections.vending.load(
            Principal(
                PrincipalKind.USER, account_id=connection.account_id, user_id=connection.user_id
            )
        )
        allowed = allowed_permissions(policy, connection.provider)
        issued = await self._connections.broker.token(connection, allowed, force=force)
        return issued.access_token
