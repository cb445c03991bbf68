"""Enqueueing jobs inside the caller's unit of work (a transactional outbox): the job exists
exactly when the caller's transaction commits. Runners in the same process are woken right
after the commit; runners elsewhere find the job at their next poll."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from calgate.clock import Clock, utc
from calgate.jobs import store
from calgate.jobs.model import check_payload
from calgate.jobs.registry import JobRegistry
from calgate.persistence.uow import SqlUnitOfWork

__all__ = ["JobQueue", "Waker"]


class Waker(Protocol):
    """Something a runner waits on (`asyncio.Event` will do); ``set`` wakes it."""

    def set(self) -> None: ...


class JobQueue:
    def __init__(self, registry: JobRegistry, clock: Clock) -> None:
        self.registry = registry
        self._clock = clock
        self._wakers: set[Waker] = set()

    async def enqueue(
        self,
        uow: SqlUnitOfWork,
        kind: str,
        *,
        account_id: uuid.UUID | None = None,
        payload: Mapping[str, Any] | None = None,
        dedupe_key: str | None = None,
        run_at: datetime | None = None,
        delay: timedelta | None = None,
        max_attempts: int | None = None,
    ) -> int:
        """Add a job to ``uow``'s transaction and return its id. With ``dedupe_key``, an
        already queued job of the same kind and key absorbs this one (and its id is
        returned): use it for "sync this connection" storms. ``payload`` carries ids only."""
        spec = self.registry.get(kind)
        if spec is None:
            raise ValueError(f"no handler is registered for job kind {kind!r}")
        if dedupe_key is not None and not 0 < len(dedupe_key) <= 200:
            raise ValueError("dedupe_key must be 1 to 200 characters")
        now = self._clock.now()
        due = utc(run_at) if run_at is not None else now
        if delay is not None:
            due += delay
        job_id = await store.insert(
            uow.session,
            kind=kind,
            account_id=account_id,
            payload=check_payload(payload or {}),
            dedupe_key=dedupe_key,
            run_at=due,
            max_attempts=max_attempts or spec.max_attempts,
            now=now,
        )
        if due <= now:
            uow.after_commit(self._wake)
        return job_id

    # wake-up hints for runners in this process -------------------------------------------
    def add_waker(self, event: Waker) -> None:
        self._wakers.add(event)

    def remove_waker(self, event: Waker) -> None:
        self._wakers.discard(event)

    def wake(self) -> None:
        for event in self._wakers:
            event.set()

    async def _wake(self) -> None:
        self.wake()
