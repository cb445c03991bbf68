"""The incremental sync of one connection (job ``sync.connection``).

fresh access token → changes since the cursor (a full listing of the window when there is
none, or the provider expired it) → every registered change consumer → the new cursor,
saved with compare-and-swap so two overlapping runs cannot move it backwards, and
``calendar.changed`` to the user's apps if anything changed (coalesced per connection), in
the same transaction (a full or large batch is announced before its consumers run, and a
batch a consumer fails on is announced all the same). When nothing changed this costs one
provider request (plus, about hourly, a token refresh).
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from calgate.clock import Clock
from calgate.connections.store import ConnectionStore
from calgate.connectors.base import CalendarConnector
from calgate.connectors.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    SyncTokenExpired,
)
from calgate.domain.calendar import SyncBatch
from calgate.domain.connections import Connection, ConnectionStatus
from calgate.domain.policy import Provider
from calgate.errors import CalgateError, NotFound, ReauthRequired
from calgate.jobs.model import RetryLater
from calgate.logging import redact
from calgate.notify.hub import NotificationHub
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.subscriptions.metrics import PushMetrics
from calgate.sync import state
from calgate.sync.access import ProviderAccess
from calgate.sync.changes import ChangeConsumers, SyncContext, changes_from_batch
from calgate.vault.base import Secret

__all__ = ["COALESCE_WINDOW", "SyncOutcome", "SyncService"]

log = logging.getLogger(__name__)

COALESCE_WINDOW = timedelta(seconds=2)
_ANNOUNCE_WITH_CURSOR = 50  # changes: up to this many are announced with the cursor save
_PAST = timedelta(days=1)  # Graph's delta window: from yesterday …
_AHEAD = timedelta(days=31)  # … to a month ahead (R8's 30 days, with a day to spare)
CALENDAR = "primary"


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    outcome: str  # unchanged, changed, full, skipped
    changes: int = 0


class SyncService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        access: ProviderAccess,
        hub: NotificationHub,
        consumers: ChangeConsumers,
        clock: Clock,
        metrics: PushMetrics,
        reconcile: timedelta,
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow
        self._access = access
        self._hub = hub
        self.consumers = consumers
        self._clock = clock
        self._metrics = metrics
        self.reconcile = reconcile
        self._rng = rng or random.Random()  # noqa: S311 - jitter only

    def next_check(self, now: datetime) -> datetime:
        """Jittered so connections spread out, and early enough that the minute-granular
        sweep still checks each one within ``reconcile``."""
        return now + self.reconcile * self._rng.uniform(0.8, 0.9)

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - _PAST, day + _AHEAD

    async def run(self, connection_id: uuid.UUID, *, reason: str = "") -> SyncOutcome:
        async with self._uow(readonly=True) as uow:
            connection = await ConnectionStore(uow.session).by_id(connection_id)
            row = await state.get(uow.session, connection_id) if connection else None
            if row is not None:
                uow.session.expunge(row)  # kept as read (leaving a read-only unit rolls back)
        if connection is None or connection.status is not ConnectionStatus.ACTIVE:
            self._metrics.sync_runs.labels("-", "skipped").inc()
            return SyncOutcome("skipped")
        provider = connection.provider.value
        now = self._clock.now()
        if row is None:  # the connection's first sync (a write only then)
            # Due again only after this run: a reconciliation sweep meanwhile must not start
            # a second full listing beside it (a failed run sets its own next check; a
            # crashed one's job is run again once its lease expires).
            async with self._uow() as uow:
                await state.ensure(
                    uow.session, connection.id, connection.account_id, self.next_check(now)
                )
                row = await state.get(uow.session, connection.id)
                await uow.commit()
        assert row is not None
        try:
            connector = await self._access.connector(connection)
            token = await self._access.token(connection)
            start, end = self.window(now)
            cursor = row.cursor
            if cursor and connection.provider is Provider.MICROSOFT and row.window_start != start:
                cursor = None  # the delta window encodes its dates: slide it once a day
            batch, token = await self._fetch(connector, connection, token, cursor, start, end)
        except ReauthRequired as exc:
            await self._failed(connection, now, exc.detail, retry=False)
            self._metrics.sync_runs.labels(provider, "skipped").inc()
            return SyncOutcome("skipped")
        except NotFound:
            self._metrics.sync_runs.labels(provider, "skipped").inc()
            return SyncOutcome("skipped")
        except RateLimited as exc:
            await self._failed(connection, now, exc.detail)
            self._metrics.sync_runs.labels(provider, "failed").inc()
            raise RetryLater(timedelta(seconds=exc.retry_after or 60), exc.detail) from exc
        except (ConnectorError, CalgateError) as exc:
            detail = exc.detail if isinstance(exc, ConnectorError | CalgateError) else str(exc)
            await self._failed(connection, now, detail)
            self._metrics.sync_runs.labels(provider, "failed").inc()
            raise
        changes = changes_from_batch(batch)
        # A full listing always tells the apps, the first (baseline) one included: apps
        # refresh when the connection is made (connection.connected), and a change made
        # while this listing ran — its webhook's run then finds nothing new — may be in it
        # and in no app yet.
        changed = bool(changes) or batch.full
        # A small batch (a webhook's usual one or two changes) is announced in the
        # transaction that saves the cursor, after the consumers: one write instead of two
        # (on SQLite every write waits its turn at one lock). A large one, whose consumers
        # may take a while, is announced first; so is any batch a consumer fails on.
        announced = False
        if changed and (batch.full or len(changes) > _ANNOUNCE_WITH_CURSOR):
            await self._announce_alone(connection)
            announced = True
        ctx = SyncContext(
            connection.account_id,
            connection.user_id,
            connection.id,
            connection.provider,
            batch.full,
            start,
            end,
            now,
        )
        try:
            await self.consumers.dispatch(ctx, changes)
        except Exception:
            if changed and not announced:
                await self._announce_alone(connection)
            raise
        done = self._clock.now()
        async with self._uow() as uow:
            if changed and not announced:
                await self._announce(uow, connection)
            values = {
                "cursor": batch.token or None,
                "window_start": start,
                "window_end": end,
                "last_sync_at": done,
                "last_success_at": done,
                "last_error": None,
                "failures": 0,
                "next_sync_at": self.next_check(done),
            }
            if batch.full:
                values["last_full_sync_at"] = done
            if changed:
                values["last_change_at"] = done
            if not await state.cas_cursor(uow.session, connection.id, row.version, **values):
                log.debug("connection %s: a concurrent sync saved its cursor first", connection.id)
            await uow.commit()
        outcome = "full" if batch.full else ("changed" if changes else "unchanged")
        self._metrics.sync_runs.labels(provider, outcome).inc()
        if changes:
            self._metrics.sync_changes.labels(provider).inc(len(changes))
        log.debug(
            "connection %s synced (%s, %s): %d changes",
            connection.id,
            reason,
            outcome,
            len(changes),
        )
        return SyncOutcome(outcome, len(changes))

    async def _announce(self, uow: SqlUnitOfWork, connection: Connection) -> None:
        """``calendar.changed`` to the user's apps, with this unit of work's commit."""
        await self._hub.publish_coalesced(
            uow,
            account_id=connection.account_id,
            user_id=connection.user_id,
            type="calendar.changed",
            key=str(connection.id),
            data={"connection_id": str(connection.id)},
            window=COALESCE_WINDOW,
        )

    async def _announce_alone(self, connection: Connection) -> None:
        async with self._uow() as uow:
            await self._announce(uow, connection)
            await uow.commit()

    async def _fetch(
        self,
        connector: CalendarConnector,
        connection: Connection,
        token: Secret,
        cursor: str | None,
        start: datetime,
        end: datetime,
    ) -> tuple[SyncBatch, Secret]:
        for attempt in (1, 2):
            try:
                try:
                    return await connector.sync(
                        token, CALENDAR, cursor, start=start, end=end
                    ), token
                except SyncTokenExpired:
                    log.info("connection %s: sync cursor expired; full resync", connection.id)
                    return await connector.sync(token, CALENDAR, None, start=start, end=end), token
            except AuthExpired:
                if attempt == 2:
                    raise
                token = await self._access.token(connection, force=True)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _failed(
        self, connection: Connection, now: datetime, detail: str, *, retry: bool = True
    ) -> None:
        async with self._uow() as uow:
            row = await state.get(uow.session, connection.id)
            await state.update_state(
                uow.session,
                connection.id,
                last_sync_at=now,
                last_error=redact(" ".join(detail.split()))[:300],
                last_error_at=now,
                failures=(row.failures if row else 0) + 1,
                next_sync_at=self.next_check(now) if retry else now + self.reconcile,
            )
            await uow.commit()
        log.info("connection %s: sync failed: %s", connection.id, redact(detail))
