"""Change notifications as one object on the runtime (``runtime.push``): the webhook
ingest, the subscription controller, the sync pipeline and its consumers, and the
reconciliation sweep that keeps all of them honest without a leader."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from calgate.clock import Clock
from calgate.connections import Connections
from calgate.connectors.base import Capability
from calgate.connectors.registry import connector_class
from calgate.domain.connections import Connection
from calgate.jobs.queue import JobQueue
from calgate.notify.hub import NotificationHub
from calgate.persistence.tables import SubscriptionRow, SyncStateRow
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.settings import Settings
from calgate.subscriptions import store
from calgate.subscriptions.controller import SubscriptionController
from calgate.subscriptions.ingest import Ingest, enqueue_sync
from calgate.subscriptions.metrics import PushMetrics
from calgate.sync import state
from calgate.sync.access import ProviderAccess
from calgate.sync.changes import ChangeConsumers
from calgate.sync.service import SyncService
from calgate.vault.base import CredentialVault

__all__ = ["ENSURE_KIND", "RENEW_KIND", "PushServices", "PushStatus", "ReconcileReport"]

log = logging.getLogger(__name__)

ENSURE_KIND = "subscriptions.ensure"
RENEW_KIND = "subscriptions.renew"
_BATCH = 500
_PROVIDERS = ("google", "microsoft")
_GUARD = timedelta(minutes=5)
_PURGE = 5000


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    syncs: int = 0
    subscribes: int = 0
    renewals: int = 0
    orphans: int = 0
    inbox_purged: int = 0


@dataclass(frozen=True, slots=True)
class PushStatus:
    """A connection's change notifications, for admins."""

    subscription_state: str | None = None
    subscription_expires_at: datetime | None = None
    subscription_renews_at: datetime | None = None
    subscription_error: str | None = None
    last_notification_at: datetime | None = None
    last_sync_at: datetime | None = None
    last_success_at: datetime | None = None
    last_change_at: datetime | None = None
    sync_error: str | None = None
    next_check_at: datetime | None = None


class PushServices:
    def __init__(
        self,
        *,
        settings: Settings,
        uow: UnitOfWorkFactory,
        connections: Connections,
        vault: CredentialVault,
        jobs: JobQueue,
        hub: NotificationHub,
        clock: Clock,
        metrics: PushMetrics,
        consumers: ChangeConsumers | None = None,
    ) -> None:
        self._settings = settings
        self._uow = uow
        self._jobs = jobs
        self._clock = clock
        self.metrics = metrics
        self.consumers = consumers or ChangeConsumers()
        access = ProviderAccess(uow=uow, connections=connections)
        self.ingest = Ingest(uow=uow, jobs=jobs, clock=clock, metrics=metrics)
        self.subscriptions = SubscriptionController(
            uow=uow,
            access=access,
            vault=vault,
            jobs=jobs,
            clock=clock,
            settings=settings,
            metrics=metrics,
        )
        self.sync = SyncService(
            uow=uow,
            access=access,
            hub=hub,
            consumers=self.consumers,
            clock=clock,
            metrics=metrics,
            reconcile=timedelta(minutes=settings.reconcile_minutes),
        )

    @property
    def push_providers(self) -> list[str]:
        return [p for p in _PROVIDERS if connector_class(p).capabilities & Capability.PUSH]

    async def on_connected(self, uow: SqlUnitOfWork, connection: Connection) -> None:
        """Post-connect hook (inside the connect transaction): subscribe and sync at once."""
        await state.ensure(uow.session, connection.id, connection.account_id, self._clock.now())
        await state.update_state(uow.session, connection.id, next_subscribe_at=None)
        if connection.provider.value in self.push_providers:
            await self._jobs.enqueue(
                uow,
                ENSURE_KIND,
                account_id=connection.account_id,
                payload={"connection_id": str(connection.id)},
                dedupe_key=f"subscribe:{connection.id}",
            )
        else:
            await enqueue_sync(
                self._jobs,
                uow,
                account_id=connection.account_id,
                connection_id=connection.id,
                reason="connected",
            )

    async def reconcile(self) -> ReconcileReport:
        """The sweep (every minute, whichever runner wins the schedule): due syncs, missing
        subscriptions, due renewals, orphaned subscriptions, old inbox rows."""
        now = self._clock.now()
        syncs = subscribes = renewals = 0
        async with self._uow() as uow:
            s = uow.session
            for connection_id, account_id in await state.missing(s, _BATCH):
                await state.ensure(s, connection_id, account_id, now)
            for connection_id, account_id in await state.due(s, now, _BATCH):
                await enqueue_sync(
                    self._jobs,
                    uow,
                    account_id=account_id,
                    connection_id=connection_id,
                    reason="reconcile",
                )
                await state.update_state(
                    s, connection_id, next_sync_at=now + self.sync.reconcile / 2
                )
                syncs += 1
            for connection_id, account_id in await state.needing_subscription(
                s, self.push_providers, now, _BATCH
            ):
                await self._jobs.enqueue(
                    uow,
                    ENSURE_KIND,
                    account_id=account_id,
                    payload={"connection_id": str(connection_id)},
                    dedupe_key=f"subscribe:{connection_id}",
                )
                await state.update_state(s, connection_id, next_subscribe_at=now + _GUARD)
                subscribes += 1
            for subscription_id in await store.due_for_renewal(s, now, _BATCH):
                await self._jobs.enqueue(
                    uow,
                    RENEW_KIND,
                    payload={"subscription_id": str(subscription_id)},
                    dedupe_key=f"renew:{subscription_id}",
                )
                await store.update_subscription(s, subscription_id, renew_at=now + _GUARD)
                renewals += 1
            await uow.commit()
        orphans = await self.subscriptions.drop_orphans()
        keep = timedelta(hours=self._settings.notification_retention_hours)
        purged = 0
        while True:  # in batches, one short transaction each
            async with self._uow() as uow:
                deleted = await store.purge_inbox(uow.session, before=now - keep, batch=_PURGE)
                await uow.commit()
            purged += deleted
            if deleted < _PURGE:
                break
        report = ReconcileReport(syncs, subscribes, renewals, orphans, purged)
        if subscribes or renewals or orphans:
            log.info("change notifications sweep: %s", report)
        return report

    async def status(
        self, account_id: uuid.UUID, connection_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, PushStatus]:
        """Subscription and sync state of these connections of ``account_id``."""
        if not connection_ids:
            return {}
        out: dict[uuid.UUID, PushStatus] = {}
        async with self._uow(readonly=True) as uow:
            subs = await uow.session.scalars(
                select(SubscriptionRow)
                .where(
                    SubscriptionRow.account_id == account_id,
                    SubscriptionRow.connection_id.in_(connection_ids),
                )
                .order_by(SubscriptionRow.created_at)
            )
            newest = {row.connection_id: row for row in subs.all()}  # the latest wins
            states = await uow.session.scalars(
                select(SyncStateRow).where(
                    SyncStateRow.account_id == account_id,
                    SyncStateRow.connection_id.in_(connection_ids),
                )
            )
            syncs = {row.connection_id: row for row in states.all()}
            for cid in connection_ids:  # read inside the unit of work: rows expire after
                sub, st = newest.get(cid), syncs.get(cid)
                out[cid] = PushStatus(
                    subscription_state=sub.state if sub else None,
                    subscription_expires_at=sub.expires_at if sub else None,
                    subscription_renews_at=sub.renew_at if sub else None,
                    subscription_error=sub.last_error if sub else None,
                    last_notification_at=sub.last_notification_at if sub else None,
                    last_sync_at=st.last_sync_at if st else None,
                    last_success_at=st.last_success_at if st else None,
                    last_change_at=st.last_change_at if st else None,
                    sync_error=st.last_error if st else None,
                    next_check_at=st.next_sync_at if st else None,
                )
        return out

    async def run_sync(self, connection_id: uuid.UUID, reason: str) -> None:
        await self.sync.run(connection_id, reason=reason)
