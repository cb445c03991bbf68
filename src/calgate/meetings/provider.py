"""The meeting provider port: where meetings live.

calgate's own registry (:class:`calgate.meetings.registry.BuiltinRegistry`) is the default; a
platform that has its own meeting API plugs it in with CALGATE_MEETING_PROVIDER, naming an
entry point of the ``calgate.meetings`` group or a ``module:Class`` path. The class is built
once per process as ``Class(settings=…, clock=…, http=…)`` and must subclass
:class:`MeetingProvider`.

The rules (R11 fields, R12 expiry, versions) are the service's (:mod:`calgate.meetings.service`);
a provider stores what it is given and assigns ids, passcodes and join links. Every method
receives the caller's unit of work: the built-in registry writes in that transaction; a
provider backed by another system may ignore it. Changes are compare-and-swap on
``expected_version`` and raise `Conflict` when the meeting changed meanwhile.
"""

from __future__ import annotations

import importlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Literal

import httpx

from calgate.clock import Clock
from calgate.errors import ConfigurationError
from calgate.meetings.model import ChangeSource, Meeting, NewMeeting, OccurrenceOverride, Schedule
from calgate.persistence.uow import SqlUnitOfWork
from calgate.settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "Cursor", "ListState", "MeetingProvider", "load_provider"]

ENTRY_POINT_GROUP = "calgate.meetings"

Cursor = tuple[datetime, int]
"""Position in a listing ordered by (start, id): the last item of the previous page."""

ListState = Literal["scheduled", "expired", "cancelled"]


class MeetingProvider(ABC):
    """Create, read, reschedule, cancel and delete meetings, and override occurrences."""

    name = "provider"

    @abstractmethod
    async def create(self, uow: SqlUnitOfWork, new: NewMeeting) -> Meeting:
        """Store a new meeting with a fresh unguessable id and passcode (version 1)."""

    @abstractmethod
    async def get(
        self, uow: SqlUnitOfWork, meeting_id: int, *, account_id: uuid.UUID | None
    ) -> Meeting | None:
        """The meeting with this id in ``account_id`` (None: in any account — only the
        public join page asks that way)."""

    @abstractmethod
    async def list(
        self,
        uow: SqlUnitOfWork,
        account_id: uuid.UUID,
        *,
        owner_id: uuid.UUID | None,
        now: datetime,
        state: ListState | None = None,
        after: Cursor | None = None,
        limit: int = 100,
    ) -> Sequence[Meeting]:
        """Meetings of one account (of one owner), ordered by start then id."""

    @abstractmethod
    async def update(
        self,
        uow: SqlUnitOfWork,
        meeting: Meeting,
        *,
        topic: str,
        schedule: Schedule,
        expires_at: datetime | None,
        source: ChangeSource,
        now: datetime,
    ) -> Meeting:
        """Replace topic and schedule (occurrence overrides of a series whose rule or start
        changed no longer apply and are dropped); bumps the version."""

    @abstractmethod
    async def cancel(
        self, uow: SqlUnitOfWork, meeting: Meeting, *, source: ChangeSource, now: datetime
    ) -> Meeting:
        """Mark cancelled (the join page says so until the meeting is purged)."""

    @abstractmethod
    async def set_occurrence(
        self,
        uow: SqlUnitOfWork,
        meeting: Meeting,
        override: OccurrenceOverride,
        *,
        expires_at: datetime | None,
        source: ChangeSource,
        now: datetime,
    ) -> Meeting:
        """Move or cancel one occurrence of a series (replacing an earlier override of the
        same occurrence); bumps the version."""

    @abstractmethod
    async def delete(self, uow: SqlUnitOfWork, meeting: Meeting) -> None:
        """Forget the meeting entirely."""

    @abstractmethod
    async def purge(
        self,
        uow: SqlUnitOfWork,
        *,
        expired_before: datetime,
        cancelled_before: datetime,
        limit: int,
    ) -> int:
        """Delete up to ``limit`` meetings that expired before ``expired_before`` or were
        cancelled before ``cancelled_before``; return how many went."""


def load_provider(
    spec: str, *, settings: Settings, clock: Clock, http: httpx.AsyncClient
) -> MeetingProvider:
    """Build the provider CALGATE_MEETING_PROVIDER names (``builtin``, an entry point of the
    ``calgate.meetings`` group, or ``module:Class``)."""
    factory: Any
    if spec == "builtin":
        from calgate.meetings.registry import BuiltinRegistry

        factory = BuiltinRegistry
    elif ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"CALGATE_MEETING_PROVIDER: cannot load {spec!r} ({type(exc).__name__})"
            ) from exc
    else:
        found = entry_points(group=ENTRY_POINT_GROUP, name=spec)
        if not found:
            raise ConfigurationError(
                f"CALGATE_MEETING_PROVIDER: no {ENTRY_POINT_GROUP!r} entry point named {spec!r} "
                "is installed (use `builtin`, an entry point name or `module:Class`)"
            )
        factory = next(iter(found)).load()
    if not (isinstance(factory, type) and issubclass(factory, MeetingProvider)):
        raise ConfigurationError(
            f"CALGATE_MEETING_PROVIDER: {spec!r} is not a calgate.meetings.MeetingProvider"
        )
    build: Any = factory
    provider: MeetingProvider = build(settings=settings, clock=clock, http=http)
    return provider
