"""Bi-directional sync (R8, R12): calendar events that carry one of the platform's meetings
move, cancel and change occurrences of that meeting, and are kept (sanitized, 30 days
ahead at most, until they end) while the user's effective policy has
``bidirectional_sync`` on. See docs/meetings.md#bi-directional-sync.

- :class:`MeetingSync` is the change consumer plugged into :mod:`calgate.sync`'s pipeline;
- :class:`SyncedEventStore` keeps ``synced_events`` (content sealed in the vault);
- :mod:`.purge` deletes what may no longer be kept (ended events, sync turned off).
"""

from __future__ import annotations

from calgate.clock import Clock
from calgate.connections import Connections
from calgate.meetings.service import MeetingService
from calgate.meetings.sync.consumer import AHEAD, BatchOutcome, MeetingSync
from calgate.meetings.sync.lookup import EventLookup, ProviderEventLookup
from calgate.meetings.sync.purge import (
    PURGE_SYNCED,
    SyncPolicyHook,
    purge_synced_events,
    register_sync_jobs,
)
from calgate.meetings.sync.store import OWNER, SyncedEvent, SyncedEventStore
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.sanitize import Platform
from calgate.settings import Settings
from calgate.vault.base import CredentialVault

__all__ = [
    "AHEAD",
    "OWNER",
    "PURGE_SYNCED",
    "BatchOutcome",
    "EventLookup",
    "MeetingSync",
    "ProviderEventLookup",
    "SyncPolicyHook",
    "SyncedEvent",
    "SyncedEventStore",
    "build_meeting_sync",
    "purge_synced_events",
    "register_sync_jobs",
]


def build_meeting_sync(
    *,
    settings: Settings,
    uow: UnitOfWorkFactory,
    meetings: MeetingService,
    vault: CredentialVault,
    connections: Connections,
    clock: Clock,
    lookup: EventLookup | None = None,
) -> MeetingSync:
    """The consumer, recognising the deployment's join links."""
    return MeetingSync(
        uow=uow,
        meetings=meetings,
        store=SyncedEventStore(vault),
        lookup=lookup or ProviderEventLookup(uow=uow, connections=connections),
        clock=clock,
        platform=Platform.of(join_bases=[settings.resolved_join_base_url]),
    )
