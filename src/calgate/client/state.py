"""What the app shows: an immutable snapshot of the user's upcoming events and connections.

Every change (a refresh, a notification) publishes a new :class:`Snapshot`; callers never
see one change half-applied, and may keep a snapshot as long as they like.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from calgate.sanitize import SanitizedEvent

__all__ = ["AsyncioTimer", "ConnectionState", "Entry", "Snapshot", "Status", "Timer", "jittered"]


class Status(StrEnum):
    PENDING = "pending"  # vended, not fetched yet
    OK = "ok"
    REAUTH_REQUIRED = "reauth_required"  # the user must reconnect it (``reauth_url``)
    ERROR = "error"  # the last fetch failed (see ``problem``); events are from before
    UNSUPPORTED = "unsupported"  # a provider this client does not fetch from
    REMOVED = "removed"  # just removed in calgate; listed until the next full refresh


@dataclass(frozen=True, slots=True)
class ConnectionState:
    id: str
    provider: str
    status: Status
    event_count: int = 0
    refreshed_at: datetime | None = None
    problem: str = ""  # a safe, one-line explanation (calgate's or the provider's words)
    reauth_url: str = ""  # REAUTH_REQUIRED: where to connect again (POST it with the session)


@dataclass(frozen=True, slots=True)
class Entry:
    connection_id: str
    event: SanitizedEvent


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int = 0
    entries: tuple[Entry, ...] = ()  # every connection's events, by start time
    connections: Mapping[str, ConnectionState] = field(default_factory=dict)
    refreshed_at: datetime | None = None  # last full refresh
    problem: str = ""  # e.g. the session could not be renewed: sign in again

    @property
    def events(self) -> tuple[SanitizedEvent, ...]:
        return tuple(e.event for e in self.entries)

    def needing_attention(self) -> tuple[ConnectionState, ...]:
        return tuple(c for c in self.connections.values() if c.status is not Status.OK)


class Timer(Protocol):
    """Waits between periodic refreshes (C4). Injected so tests can drive it."""

    async def sleep(self, seconds: float) -> None: ...


class AsyncioTimer:
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def jittered(interval: float, jitter: float, rng: random.Random) -> float:
    """``interval`` shortened by up to ``jitter`` × interval at random, so that many apps
    signed in at the same moment do not refresh in step, and never later than the interval."""
    return interval * (1.0 - jitter * rng.random())
