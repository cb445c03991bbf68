"""Keeping synced events no longer than R8 allows.

- **Once an event ends** its row goes (a series keeps its link, without content, until the
  series or its meeting is gone: the next change stores the next occurrence's content).
- **Turning bi-directional sync off** for an account or a group (or moving a user into a
  group where it is off) deletes what is stored for every user it now applies to, in the
  policy change's own transaction, and queues the purge job for the account to catch a sync
  that raced it.
- Rows whose meeting is gone (purged, or cancelled) go too.

The job ``meetings.sync_purge`` runs hourly (``calgate serve`` or ``calgate worker``) and on
demand for one account (payload ``{"account_id": …}``); safe to repeat and to run
concurrently.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import and_, select

from calgate.clock import Clock
from calgate.connections.flow import effective_policy
from calgate.connections.store import ConnectionStore
from calgate.jobs import Job, JobQueue, JobRegistry
from calgate.meetings.model import MeetingStatus
from calgate.meetings.service import MeetingService
from calgate.meetings.sync.reading import SERIES
from calgate.meetings.sync.store import SyncedEventStore
from calgate.persistence.tables import SyncedEventRow
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.vault.base import CredentialVault

__all__ = [
    "PURGE_SYNCED",
    "SyncPolicyHook",
    "purge_disabled",
    "purge_synced_events",
    "register_sync_jobs",
]

log = logging.getLogger(__name__)

PURGE_SYNCED = "meetings.sync_purge"
_BATCH = 500


async def purge_disabled(
    uow: SqlUnitOfWork, store: SyncedEventStore, account_id: uuid.UUID | None = None
) -> int:
    """Delete the synced events of every user whose effective policy has sync off."""
    stmt = select(SyncedEventRow.account_id, SyncedEventRow.user_id).distinct()
    if account_id is not None:
        stmt = stmt.where(SyncedEventRow.account_id == account_id)
    pairs = (await uow.session.execute(stmt)).all()
    connections = ConnectionStore(uow.session)
    total = 0
    for acc, user in pairs:
        view = await connections.user_view(acc, user)
        if view is not None:
            policy = effective_policy(view.account_policy, view.group_policy, view.group_name)
            if policy.bidirectional_sync.value:
                continue
        total += await store.delete_where(
            uow,
            SyncedEventRow.account_id == acc,
            SyncedEventRow.user_id == user,
            limit=1_000_000,
        )
    return total


async def _purge_ended(
    uow: UnitOfWorkFactory, store: SyncedEventStore, clock: Clock, account_id: uuid.UUID | None
) -> int:
    """Rows whose event (or, for a series, the stored occurrence) has ended."""
    total = 0
    while True:
        now = clock.now()
        async with uow() as u:
            cond = [SyncedEventRow.ends_at <= now]
            if account_id is not None:
                cond.append(SyncedEventRow.account_id == account_id)
            rows = (
                await u.session.execute(
                    select(SyncedEventRow.account_id, SyncedEventRow.id, SyncedEventRow.kind)
                    .where(and_(*cond))
                    .limit(_BATCH)
                )
            ).all()
            for acc, row_id, kind in rows:
                if kind == SERIES:
                    await store.forget_content(u, acc, [row_id])
                else:
                    await store.delete(u, [(acc, row_id, True)])
            await u.commit()
        total += len(rows)
        if len(rows) < _BATCH:
            return total


async def _purge_orphans(
    uow: UnitOfWorkFactory,
    store: SyncedEventStore,
    meetings: MeetingService,
    account_id: uuid.UUID | None,
) -> int:
    """Rows whose meeting no longer exists or was cancelled (asked through the meeting
    provider port, which need not be calgate's own table)."""
    total = 0
    after: tuple[uuid.UUID, int] | None = None
    while True:
        async with uow() as u:
            stmt = select(SyncedEventRow.account_id, SyncedEventRow.meeting_id).distinct()
            if account_id is not None:
                stmt = stmt.where(SyncedEventRow.account_id == account_id)
            if after is not None:
                stmt = stmt.where(
                    (SyncedEventRow.account_id > after[0])
                    | and_(
                        SyncedEventRow.account_id == after[0],
                        SyncedEventRow.meeting_id > after[1],
                    )
                )
            pairs = (
                await u.session.execute(
                    stmt.order_by(SyncedEventRow.account_id, SyncedEventRow.meeting_id).limit(
                        _BATCH
                    )
                )
            ).all()
            for acc, meeting_id in pairs:
                meeting = await meetings.provider.get(u, meeting_id, account_id=acc)
                if meeting is None or meeting.status is MeetingStatus.CANCELLED:
                    total += await store.delete_where(
                        u,
                        SyncedEventRow.account_id == acc,
                        SyncedEventRow.meeting_id == meeting_id,
                        limit=1_000_000,
                    )
            await u.commit()
        if len(pairs) < _BATCH:
            return total
        after = (pairs[-1][0], pairs[-1][1])


async def purge_synced_events(
    job: Job,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    vault: CredentialVault,
    meetings: MeetingService,
) -> None:
    raw = job.payload.get("account_id")
    account_id = uuid.UUID(str(raw)) if raw else None
    store = SyncedEventStore(vault)
    async with uow() as u:
        disabled = await purge_disabled(u, store, account_id)
        await u.commit()
    ended = await _purge_ended(uow, store, clock, account_id)
    orphans = await _purge_orphans(uow, store, meetings, account_id)
    if disabled or ended or orphans:
        log.info(
            "synced events purged: %d ended, %d with sync off, %d of gone meetings",
            ended, disabled, orphans,
        )  # fmt: skip


class SyncPolicyHook:
    """Tenancy's in-transaction policy hook: delete at once what sync no longer may keep,
    and queue a purge of the account shortly after (a sync batch may have raced it)."""

    def __init__(self, *, store: SyncedEventStore, jobs: JobQueue) -> None:
        self._store = store
        self._jobs = jobs

    async def __call__(self, uow: SqlUnitOfWork, account_id: uuid.UUID) -> None:
        n = await purge_disabled(uow, self._store, account_id)
        await self._jobs.enqueue(
            uow,
            PURGE_SYNCED,
            account_id=account_id,
            payload={"account_id": str(account_id)},
            dedupe_key=f"sync-purge:{account_id}",
            delay=timedelta(minutes=2),
        )
        if n:
            log.info("bi-directional sync turned off: %d synced events deleted", n)


def register_sync_jobs(registry: JobRegistry) -> None:
    registry.register(
        PURGE_SYNCED, purge_synced_events, max_attempts=3, timeout=timedelta(minutes=30)
    )
    registry.schedule("meetings-sync-purge", PURGE_SYNCED, every=timedelta(hours=1))
