"""Writing to a user's calendar through calgate (tools that cannot call the provider
themselves). Every write passes the write guard (R7) before a token is fetched or the
provider is asked; connector write methods are reached from nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from calgate.connections.apps import ProviderApps
from calgate.connections.guard import ensure_write_allowed
from calgate.connections.tokens import IssuedToken, TokenBroker
from calgate.connections.vending import Vending
from calgate.connectors import errors as cx
from calgate.connectors.base import CalendarConnector
from calgate.domain.calendar import Event, ItemRef, StoredEvent
from calgate.domain.connections import Connection, ConnectionStatus, allowed_permissions
from calgate.domain.policy import Access
from calgate.domain.principal import Principal
from calgate.errors import (
    CalgateError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from calgate.persistence.uow import UnitOfWorkFactory

__all__ = ["EventWrites", "translate"]

T = TypeVar("T")


def translate(exc: cx.ConnectorError) -> CalgateError:
    """A connector error as the calgate error an API caller sees."""
    if isinstance(exc, cx.WrongEtag):
        return Conflict("the event changed since you read it: fetch it again (etag mismatch)")
    if isinstance(exc, cx.AlreadyExists):
        return Conflict("the event already exists at the provider")
    if isinstance(exc, cx.NotFound):
        return NotFound("no such event at the provider")
    if isinstance(exc, cx.InsufficientScope):
        return Forbidden("the provider refused: the connection's grant does not allow this")
    if isinstance(exc, cx.Unsupported):
        return InvalidInput(exc.detail)
    return ServiceUnavailable(f"the provider could not do this now ({exc.detail})")


class EventWrites:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        vending: Vending,
        broker: TokenBroker,
        apps: ProviderApps,
    ) -> None:
        self._uow = uow
        self._vending = vending
        self._broker = broker
        self._apps = apps

    async def _prepare(
        self, principal: Principal, connection_id: uuid.UUID
    ) -> tuple[Connection, CalendarConnector, IssuedToken]:
        view, policy = await self._vending.load(principal)
        connection = next((c for c in view.connections if c.id == connection_id), None)
        if connection is None or connection.status is ConnectionStatus.REMOVED:
            raise NotFound(f"connection {connection_id} not found")
        ensure_write_allowed(policy, connection.provider, "calendar")  # before anything else
        if connection.status is ConnectionStatus.REAUTH_REQUIRED:
            raise self._broker.reauth_error(connection)
        granted = self._broker.rules(connection.provider).permissions(connection.scopes)
        if granted.calendar is not Access.READ_WRITE:
            raise Forbidden(
                "this connection was granted read-only calendar access: connect again to "
                "allow calgate to write"
            )
        allowed = allowed_permissions(policy, connection.provider)
        token = await self._broker.token(connection, allowed)
        async with self._uow(readonly=True) as uow:
            connector, _ = await self._apps.connector(
                uow, connection.account_id, connection.provider
            )
        return connection, connector, token

    async def _run(
        self,
        principal: Principal,
        connection_id: uuid.UUID,
        call: Callable[[CalendarConnector, IssuedToken], Awaitable[T]],
    ) -> T:
        connection, connector, token = await self._prepare(principal, connection_id)
        try:
            try:
                return await call(connector, token)
            except cx.AuthExpired:  # revoked or expired early: one forced refresh, then retry
                view, policy = await self._vending.load(principal)
                fresh = next(c for c in view.connections if c.id == connection.id)
                token = await self._broker.token(
                    fresh, allowed_permissions(policy, fresh.provider), force=True
                )
                return await call(connector, token)
        except cx.ConnectorError as exc:
            raise translate(exc) from exc
        except ValueError as exc:  # an event id that is not one of this connector's hrefs
            raise NotFound("no such event at the provider") from exc

    async def create(
        self,
        principal: Principal,
        connection_id: uuid.UUID,
        event: Event,
        *,
        calendar_id: str = "primary",
    ) -> StoredEvent:
        return await self._run(
            principal,
            connection_id,
            lambda c, t: c.create_event(t.access_token, calendar_id, event),
        )

    async def update(
        self, principal: Principal, connection_id: uuid.UUID, ref: ItemRef, event: Event
    ) -> StoredEvent:
        return await self._run(
            principal, connection_id, lambda c, t: c.update_event(t.access_token, ref, event)
        )

    async def delete(self, principal: Principal, connection_id: uuid.UUID, ref: ItemRef) -> None:
        await self._run(principal, connection_id, lambda c, t: c.delete_event(t.access_token, ref))
