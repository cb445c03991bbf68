"""Bi-directional sync's change consumer (R8, R12): calendar changes → meetings.

Plugged into the incremental sync pipeline (:mod:`calgate.sync`); for every batch of a
connection:

1. the user's effective policy must have ``bidirectional_sync`` on — otherwise the batch is
   ignored and whatever is held for the connection is deleted;
2. each changed item is read through the sanitizer (:mod:`.reading`); an item that carries
   none of the account's meetings is dropped on the spot — **nothing of it is stored, not
   even its id**;
3. for the meeting's owner, the change is applied (:mod:`.plan`) through `MeetingService`
   with ``source=sync`` and ``expected_version`` = the version just read (compare-and-swap;
   a concurrent change re-reads and tries again);
4. the event is upserted into ``synced_events``: sanitized content only while it is within
   the next 30 days, a link row otherwise.

Duplicates and replays are no-ops (same etag, or an ``updated`` older than the one applied);
every change is one short transaction, so a failure re-delivers the batch (at least once)
without double effects. A removal of an event sync holds is confirmed with the provider
first (Graph reports a move out of the window as a removal); a deleted event cancels its
meeting, a deleted occurrence cancels that occurrence.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calgate.clock import Clock
from calgate.connections.flow import effective_policy
from calgate.connections.store import ConnectionStore
from calgate.domain.connections import Connection
from calgate.domain.policy import Provider
from calgate.errors import Conflict, InvalidInput
from calgate.meetings.model import ChangeSource, Meeting, MeetingStatus
from calgate.meetings.rules import next_occurrence
from calgate.meetings.service import MeetingService
from calgate.meetings.sync.lookup import EventLookup
from calgate.meetings.sync.plan import (
    Action,
    Cancel,
    MoveOccurrence,
    NeedMaster,
    Reschedule,
    plan,
)
from calgate.meetings.sync.reading import OCCURRENCE, SERIES, SINGLE, Seen, read_change
from calgate.meetings.sync.store import Held, StoredContent, SyncedEventStore
from calgate.persistence.tables import SyncedEventRow
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.sanitize import Platform
from calgate.sync.changes import Change, SyncContext

__all__ = ["AHEAD", "BatchOutcome", "MeetingSync"]

log = logging.getLogger(__name__)

AHEAD = timedelta(days=30)
"""R8: synced events are stored only while they start within the next 30 days."""
_ATTEMPTS = 4


@dataclass(slots=True)
class BatchOutcome:
    """Counts of one batch (ids and numbers only, for logs and tests)."""

    changes: int = 0
    ours: int = 0
    applied: int = 0
    stored: int = 0
    dropped: int = 0
    skipped: int = 0
    masters: dict[str, Seen | None] = field(default_factory=dict, repr=False)


class MeetingSync:
    """The ``meetings`` change consumer."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        meetings: MeetingService,
        store: SyncedEventStore,
        lookup: EventLookup,
        clock: Clock,
        platform: Platform,
    ) -> None:
        self._uow = uow
        self._meetings = meetings
        self.store = store
        self._lookup = lookup
        self._clock = clock
        self._platform = platform
        self.last: BatchOutcome | None = None

    @property
    def name(self) -> str:
        return "meetings"

    async def on_changes(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
        out = BatchOutcome(changes=len(changes))
        async with self._uow(readonly=True) as uow:
            enabled = await self.sync_enabled(uow, ctx)
            if enabled:
                held = await self.store.held(uow, ctx.connection_id)
            else:  # sync is off: drop whatever a sync that raced the switch stored
                stale = await self.store.holds_any(uow, ctx.connection_id)
        if not enabled:
            if stale:  # (a write transaction only when there is something to delete)
                await self.forget_connection(ctx)
            self.last = out
            return
        provider = ctx.provider.value
        seen_ids: set[str] = set()
        for change in changes:
            seen_ids.add(change.event_id)
            if change.removed:
                row = held.get(change.event_id)
                if row is not None:
                    out.ours += 1
                    await self._removed(ctx, row, out)
                continue
            if change.raw is None:
                continue
            seen = read_change(provider, change.event_id, change.raw, self._platform)
            if seen is None:
                continue
            meeting_id = self._meeting_id(seen, held)
            if meeting_id is None:
                continue  # not one of ours: nothing of it is stored
            out.ours += 1
            await self._changed(ctx, seen, meeting_id, out)
        if ctx.full:  # a complete listing: what we hold and it lacks may be gone
            graph = ctx.provider is Provider.MICROSOFT
            for event_id, row in held.items():
                if event_id not in seen_ids and not (graph and row.kind == SERIES):
                    await self._removed(ctx, row, out)  # (Graph never lists masters)
        self.last = out
        log.debug(
            "meeting sync of connection %s: %d changes, %d ours, %d applied, %d stored, "
            "%d dropped, %d skipped",
            ctx.connection_id, out.changes, out.ours, out.applied, out.stored, out.dropped,
            out.skipped,
        )  # fmt: skip

    # policy ------------------------------------------------------------------------------
    @staticmethod
    async def sync_enabled(uow: SqlUnitOfWork, ctx: SyncContext) -> bool:
        view = await ConnectionStore(uow.session).user_view(ctx.account_id, ctx.user_id)
        if view is None:
            return False
        policy = effective_policy(view.account_policy, view.group_policy, view.group_name)
        return bool(policy.bidirectional_sync.value)

    async def forget_connection(self, ctx: SyncContext) -> int:
        async with self._uow() as uow:
            n = await self.store.delete_where(
                uow, SyncedEventRow.connection_id == ctx.connection_id, limit=100_000
            )
            await uow.commit()
        if n:
            log.info("bi-directional sync is off: %d synced events of %s deleted", n, ctx.user_id)
        return n

    async def on_connection_removed(self, uow: SqlUnitOfWork, connection: Connection) -> None:
        """Removal hook (R6): the connection's synced events go in its transaction."""
        await self.store.delete_where(
            uow, SyncedEventRow.connection_id == connection.id, limit=1_000_000
        )

    async def forget_user(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """User deletion hook: rows would cascade away, their sealed content would not."""
        await self.store.delete_where(
            uow,
            SyncedEventRow.account_id == account_id,
            SyncedEventRow.user_id == user_id,
            limit=1_000_000,
        )

    # one change ----------------------------------------------------------------------------
    @staticmethod
    def _meeting_id(seen: Seen, held: Mapping[str, Held]) -> int | None:
        if seen.meeting_id is not None:
            return seen.meeting_id
        row = held.get(seen.event_id)
        if row is None and seen.series_event_id:
            row = held.get(seen.series_event_id)  # an instance of a series we hold
        return row.meeting_id if row is not None else None

    async def _changed(
        self, ctx: SyncContext, seen: Seen, meeting_id: int, out: BatchOutcome
    ) -> None:
        act, tried = True, False
        for _ in range(_ATTEMPTS):
            async with self._uow() as uow:
                result = await self._apply(uow, ctx, seen, meeting_id, out, act=act)
                if result is None:
                    await uow.commit()
                    return
            if isinstance(result, NeedMaster):  # the series changed: read its master
                master = None if tried else await self._master(ctx, result.series_event_id, out)
                tried = True
                if master is None or master.kind != SERIES:
                    act = False  # keep the link, change nothing
                    continue
                await self._changed(ctx, master, master.meeting_id or meeting_id, out)
        raise Conflict(f"meeting {meeting_id} kept changing underneath sync; retrying later")

    async def _master(self, ctx: SyncContext, event_id: str, out: BatchOutcome) -> Seen | None:
        """A series master read from the provider (once per batch)."""
        if event_id not in out.masters:
            raw = await self._lookup.fetch(ctx, event_id)
            read = read_change(ctx.provider.value, event_id, raw, self._platform) if raw else None
            out.masters[event_id] = read
        return out.masters[event_id]

    async def _apply(
        self,
        uow: SqlUnitOfWork,
        ctx: SyncContext,
        seen: Seen,
        meeting_id: int,
        out: BatchOutcome,
        *,
        act: bool = True,
    ) -> NeedMaster | Conflict | None:
        """Apply ``seen`` in ``uow``. Returns None when done (commit), a `NeedMaster` when
        the series' master must be read first, a `Conflict` to start again."""
        now = self._clock.now()
        meeting = await self._meetings.provider.get(uow, meeting_id, account_id=ctx.account_id)
        row = await self.store.one(uow, ctx.connection_id, seen.event_id)
        if meeting is None or meeting.status is MeetingStatus.CANCELLED or seen.cancelled:
            if meeting is not None and meeting.status is MeetingStatus.SCHEDULED and act:
                done = await self._act(uow, ctx, meeting, seen, out)
                if isinstance(done, NeedMaster | Conflict):
                    return done
                if done is not None and done.status is MeetingStatus.CANCELLED:
                    # the meeting is over: nothing tied to it is kept (its other events too)
                    out.dropped += await self.store.delete_where(
                        uow,
                        SyncedEventRow.account_id == ctx.account_id,
                        SyncedEventRow.meeting_id == done.id,
                        limit=1_000_000,
                    )
                    return None
            if row is not None:  # not (or no longer) an event of a live meeting
                await self.store.delete(uow, [(ctx.account_id, row.id, row.has_content)])
                out.dropped += 1
            return None
        content = self._content(seen, meeting, now)
        if row is not None and _stale(seen, row, wants_content=content is not None):
            out.skipped += 1
            return None
        done = await self._act(uow, ctx, meeting, seen, out) if act else None
        if isinstance(done, NeedMaster | Conflict):
            return done
        if done is not None:
            meeting = done
            content = self._content(seen, meeting, now)
        await self.store.upsert(
            uow,
            account_id=ctx.account_id,
            user_id=ctx.user_id,
            connection_id=ctx.connection_id,
            provider=ctx.provider.value,
            event_id=seen.event_id,
            meeting_id=meeting.id,
            kind=seen.kind,
            series_event_id=seen.series_event_id,
            original_start=seen.original_start,
            provider_version=seen.version,
            provider_updated=seen.updated,
            content=content,
            now=now,
        )
        out.stored += 1
        # Graph never lists a series' master: hold its id (a link only), so that deleting
        # the series is noticed.
        if (
            seen.series_event_id
            and ctx.provider is Provider.MICROSOFT
            and await self.store.one(uow, ctx.connection_id, seen.series_event_id) is None
        ):
            await self.store.upsert(
                uow,
                account_id=ctx.account_id,
                user_id=ctx.user_id,
                connection_id=ctx.connection_id,
                provider=ctx.provider.value,
                event_id=seen.series_event_id,
                meeting_id=meeting.id,
                kind=SERIES,
                series_event_id=None,
                original_start=None,
                provider_version=None,
                provider_updated=None,
                content=None,
                now=now,
            )
        return None

    async def _act(
        self, uow: SqlUnitOfWork, ctx: SyncContext, meeting: Meeting, seen: Seen, out: BatchOutcome
    ) -> Meeting | NeedMaster | Conflict | None:
        """Change the meeting if this calendar is its owner's; the changed meeting, or None
        when nothing changed. An attendee's copy never changes a meeting."""
        if meeting.owner_id != ctx.user_id:
            return None
        action = plan(meeting, seen, provider=ctx.provider.value)
        if action is None:
            return None
        if isinstance(action, NeedMaster):
            return action
        try:
            changed = await self._do(uow, meeting, action)
        except InvalidInput as exc:  # the calendar holds what a meeting cannot (a rule…)
            log.info(
                "meeting %s not changed from event %s: %s (field %s)",
                meeting.id, seen.event_id, type(action).__name__, exc.field,
            )  # fmt: skip
            return None
        except Conflict as exc:
            return exc
        if changed.version != meeting.version:
            log.info("meeting %s: %s from its calendar event", meeting.id, type(action).__name__)
            out.applied += 1
        return changed

    async def _do(self, uow: SqlUnitOfWork, meeting: Meeting, action: Action) -> Meeting:
        common: dict[str, Any] = {
            "account_id": meeting.account_id,
            "source": ChangeSource.SYNC,
            "expected_version": meeting.version,
        }
        svc = self._meetings
        if isinstance(action, Cancel):
            return await svc.cancel(uow, meeting.id, **common)
        if isinstance(action, MoveOccurrence):
            return await svc.update_occurrence(
                uow,
                meeting.id,
                original_start=action.original_start,
                start=action.start,
                duration_minutes=action.duration_minutes,
                cancelled=action.cancelled,
                **common,
            )
        assert isinstance(action, Reschedule)
        return await svc.reschedule(
            uow,
            meeting.id,
            start=action.start,
            duration_minutes=action.duration_minutes,
            time_zone=action.time_zone,
            recurrence_rule=action.rule,
            **common,
        )

    def _content(self, seen: Seen, meeting: Meeting, now: datetime) -> StoredContent | None:
        """The sanitized fields to store, only within the next 30 days (R8)."""
        event = seen.event
        if event is None or seen.cancelled:
            return None
        if seen.kind == SERIES:
            if meeting.schedule.rule is None:
                return None
            occ = next_occurrence(meeting.schedule, meeting.overrides, now)
            if occ is None or occ.start >= now + AHEAD:
                return None
            return StoredContent(event.to_dict(), occ.start, occ.end)
        if event.end <= now or event.start >= now + AHEAD:
            return None
        return StoredContent(event.to_dict(), event.start, event.end)

    # removals ------------------------------------------------------------------------------
    async def _removed(self, ctx: SyncContext, row: Held, out: BatchOutcome) -> None:
        """An event we hold was reported removed (or is missing from a full listing): ask
        the provider; still there → a change; gone → cancel the meeting or occurrence."""
        raw = await self._lookup.fetch(ctx, row.event_id)
        if raw is not None:
            seen = read_change(ctx.provider.value, row.event_id, raw, self._platform)
            if seen is not None:
                await self._changed(ctx, seen, seen.meeting_id or row.meeting_id, out)
                return
        if (
            row.kind == OCCURRENCE
            and row.series_event_id
            and ctx.provider is Provider.MICROSOFT
            and await self._master(ctx, row.series_event_id, out) is None
        ):  # Graph removes each occurrence of a deleted series: the series is gone
            series = Seen(row.series_event_id, row.meeting_id, SERIES, None, None, True, None, None)
            await self._changed(ctx, series, row.meeting_id, out)
        gone = Seen(
            event_id=row.event_id,
            meeting_id=row.meeting_id,
            kind=row.kind,
            series_event_id=row.series_event_id,
            original_start=row.original_start,
            cancelled=True,
            version=None,
            updated=None,
        )
        await self._changed(ctx, gone, row.meeting_id, out)


def _stale(seen: Seen, row: Held, *, wants_content: bool) -> bool:
    """A replay (same version) or an older change than the one applied."""
    if (
        seen.updated is not None
        and row.provider_updated is not None
        and seen.updated < row.provider_updated
    ):
        return True
    if seen.version is not None and seen.version == row.provider_version:
        return row.has_content or not wants_content  # same version: only fill in content
    return False


def _without_master(seen: Seen) -> Seen:
    """An occurrence whose series could not be read: keep the link, change nothing."""
    return Seen(
        seen.event_id,
        seen.meeting_id,
        SINGLE if seen.kind != OCCURRENCE else OCCURRENCE,
        None,
        None,
        seen.cancelled,
        seen.version,
        seen.updated,
        seen.event,
    )
