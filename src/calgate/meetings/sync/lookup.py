"""Asking the provider about one event, for the cases a sync batch leaves open.

- A Graph ``@removed`` entry means *deleted* or *moved out of the synced window* alike
  (provider-protocols §2.4): before a meeting is cancelled, sync reads the event again.
- Graph's calendar view lists a series' occurrences, never its master: when an occurrence
  no longer fits the meeting's series (the whole series moved), sync reads the master.

The answer is the provider's wire JSON, handed straight to the sanitizer; ``None`` when the
event is gone. Provider calls never happen inside a database transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from calgate.connections import Connections
from calgate.connections.flow import effective_policy
from calgate.connections.store import ConnectionStore
from calgate.connectors.errors import NotFound as ProviderNotFound
from calgate.connectors.google.connector import GoogleConnector
from calgate.connectors.microsoft.connector import MicrosoftConnector
from calgate.domain.connections import ConnectionStatus, allowed_permissions
from calgate.errors import ServiceUnavailable
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.sanitize.tags import GRAPH_EXPAND_MEETING_PROPERTY
from calgate.sync.changes import SyncContext

__all__ = ["EventLookup", "ProviderEventLookup"]

log = logging.getLogger(__name__)


class EventLookup(Protocol):
    async def fetch(self, ctx: SyncContext, event_id: str) -> Mapping[str, Any] | None:
        """The event's current wire JSON, or None if it no longer exists (deleted, or a
        cancelled Google event)."""
        ...


class ProviderEventLookup:
    """Reads one event with the connection's own access token (single-flight refresh)."""

    def __init__(self, *, uow: UnitOfWorkFactory, connections: Connections) -> None:
        self._uow = uow
        self._connections = connections

    async def fetch(self, ctx: SyncContext, event_id: str) -> Mapping[str, Any] | None:
        async with self._uow(readonly=True) as uow:
            store = ConnectionStore(uow.session)
            connection = await store.by_id(ctx.connection_id)
            view = await store.user_view(ctx.account_id, ctx.user_id)
            if connection is None or view is None:
                raise ServiceUnavailable(f"connection {ctx.connection_id} is gone")
            connector, _ = await self._connections.apps.connector(
                uow, ctx.account_id, connection.provider
            )
        if connection.status is not ConnectionStatus.ACTIVE:
            raise ServiceUnavailable(f"connection {ctx.connection_id} is not active")
        policy = effective_policy(view.account_policy, view.group_policy, view.group_name)
        allowed = allowed_permissions(policy, connection.provider)
        token = (await self._connections.broker.token(connection, allowed)).access_token
        try:
            if isinstance(connector, GoogleConnector):
                path = connector.client.events_path("primary", event_id)
                item = await connector.client.call("GET", path, token)
                if not isinstance(item, dict):
                    return None
                if item.get("status") == "cancelled" and not item.get("recurringEventId"):
                    return None
                return item
            if isinstance(connector, MicrosoftConnector):
                item = await connector.client.call(
                    "GET",
                    f"me/events/{quote(event_id, safe='')}",
                    token,
                    params={"$expand": GRAPH_EXPAND_MEETING_PROPERTY},
                )
                return item if isinstance(item, dict) else None
        except ProviderNotFound:
            return None
        log.info("no event lookup for provider %s", connection.provider.value)
        return None
