"""calgate's own meeting registry: meetings in the ``meetings`` table, occurrence overrides in
``meeting_occurrences``, written in the caller's transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from calgate.clock import Clock
from calgate.errors import Conflict, ServiceUnavailable
from calgate.meetings.ids import join_url, new_meeting_id, new_passcode
from calgate.meetings.model import (
    ChangeSource,
    Meeting,
    MeetingStatus,
    NewMeeting,
    OccurrenceOverride,
    Schedule,
)
from calgate.meetings.provider import Cursor, ListState, MeetingProvider
from calgate.persistence.tables import MeetingOccurrenceRow, MeetingRow
from calgate.persistence.uow import SqlUnitOfWork
from calgate.settings import Settings

__all__ = ["BuiltinRegistry"]

log = logging.getLogger(__name__)

_ID_ATTEMPTS = 8


class BuiltinRegistry(MeetingProvider):
    name = "builtin"

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = settings.resolved_join_base_url
        self._id_digits = settings.meeting_id_digits
        self._passcode_digits = settings.meeting_passcode_digits

    # reading ------------------------------------------------------------------------------
    async def get(
        self, uow: SqlUnitOfWork, meeting_id: int, *, account_id: uuid.UUID | None
    ) -> Meeting | None:
        stmt = select(MeetingRow).where(MeetingRow.id == meeting_id)
        if account_id is not None:
            stmt = stmt.where(MeetingRow.account_id == account_id)
        row = await uow.session.scalar(stmt.execution_options(populate_existing=True))
        if row is None:
            return None
        return await self._meeting(uow, row)

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
        stmt = select(MeetingRow).where(MeetingRow.account_id == account_id)
        if owner_id is not None:
            stmt = stmt.where(MeetingRow.owner_id == owner_id)
        live = MeetingRow.status == MeetingStatus.SCHEDULED.value
        not_expired = or_(MeetingRow.expires_at.is_(None), MeetingRow.expires_at > now)
        if state == "scheduled":
            stmt = stmt.where(live, not_expired)
        elif state == "expired":
            stmt = stmt.where(live, MeetingRow.expires_at <= now)
        elif state == "cancelled":
            stmt = stmt.where(MeetingRow.status == MeetingStatus.CANCELLED.value)
        if after is not None:
            start, last_id = after
            stmt = stmt.where(
                or_(
                    MeetingRow.start_at > start,
                    and_(MeetingRow.start_at == start, MeetingRow.id > last_id),
                )
            )
        rows = (
            await uow.session.scalars(
                stmt.order_by(MeetingRow.start_at, MeetingRow.id).limit(limit)
            )
        ).all()
        overrides = await self._overrides(uow, [r.id for r in rows if r.recurrence_rule])
        return [self._to_meeting(r, overrides.get(r.id, ())) for r in rows]

    # writing ------------------------------------------------------------------------------
    async def create(self, uow: SqlUnitOfWork, new: NewMeeting) -> Meeting:
        schedule = new.schedule
        for _ in range(_ID_ATTEMPTS):
            row = MeetingRow(
                id=new_meeting_id(self._id_digits),
                account_id=new.account_id,
                owner_id=new.owner_id,
                topic=new.topic,
                passcode=new_passcode(self._passcode_digits),
                start_at=schedule.start,
                time_zone=schedule.time_zone,
                duration_minutes=schedule.duration_minutes,
                recurrence_rule=schedule.rule,
                status=MeetingStatus.SCHEDULED.value,
                expires_at=new.expires_at,
                version=1,
                updated_by=ChangeSource.API.value,
                created_at=new.now,
                updated_at=new.now,
            )
            try:
                async with uow.session.begin_nested():
                    uow.session.add(row)
                    await uow.session.flush()
            except IntegrityError:
                # An id already taken (or, equally rare, a row that vanished underneath):
                # draw again; the savepoint leaves the transaction usable.
                log.info("meeting id collision; drawing another")
                continue
            return self._to_meeting(row, ())
        raise ServiceUnavailable("could not allocate a free meeting id; try again")

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
        old = meeting.schedule
        if schedule.rule != old.rule or schedule.start != old.start or not schedule.recurring:
            await uow.session.execute(
                delete(MeetingOccurrenceRow).where(MeetingOccurrenceRow.meeting_id == meeting.id)
            )
        await self._swap(
            uow,
            meeting,
            topic=topic,
            start_at=schedule.start,
            time_zone=schedule.time_zone,
            duration_minutes=schedule.duration_minutes,
            recurrence_rule=schedule.rule,
            expires_at=expires_at,
            updated_by=source.value,
            updated_at=now,
        )
        return await self._reload(uow, meeting)

    async def cancel(
        self, uow: SqlUnitOfWork, meeting: Meeting, *, source: ChangeSource, now: datetime
    ) -> Meeting:
        await self._swap(
            uow,
            meeting,
            status=MeetingStatus.CANCELLED.value,
            cancelled_at=now,
            updated_by=source.value,
            updated_at=now,
        )
        return await self._reload(uow, meeting)

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
        await self._swap(
            uow, meeting, expires_at=expires_at, updated_by=source.value, updated_at=now
        )
        await uow.session.execute(
            delete(MeetingOccurrenceRow).where(
                MeetingOccurrenceRow.meeting_id == meeting.id,
                MeetingOccurrenceRow.original_start == override.original_start,
            )
        )
        uow.session.add(
            MeetingOccurrenceRow(
                meeting_id=meeting.id,
                original_start=override.original_start,
                start_at=override.start,
                duration_minutes=override.duration_minutes,
                cancelled=override.cancelled,
                updated_at=now,
            )
        )
        await uow.session.flush()
        return await self._reload(uow, meeting)

    async def delete(self, uow: SqlUnitOfWork, meeting: Meeting) -> None:
        await uow.session.execute(delete(MeetingRow).where(MeetingRow.id == meeting.id))

    async def purge(
        self,
        uow: SqlUnitOfWork,
        *,
        expired_before: datetime,
        cancelled_before: datetime,
        limit: int,
    ) -> int:
        ids = (
            await uow.session.scalars(
                select(MeetingRow.id)
                .where(
                    or_(
                        MeetingRow.expires_at < expired_before,
                        MeetingRow.cancelled_at < cancelled_before,
                    )
                )
                .limit(limit)
            )
        ).all()
        if not ids:
            return 0
        # Occurrences go explicitly too: ON DELETE CASCADE needs SQLite's foreign keys on.
        await uow.session.execute(
            delete(MeetingOccurrenceRow).where(MeetingOccurrenceRow.meeting_id.in_(ids))
        )
        await uow.session.execute(delete(MeetingRow).where(MeetingRow.id.in_(ids)))
        return len(ids)

    # internals ----------------------------------------------------------------------------
    async def _swap(self, uow: SqlUnitOfWork, meeting: Meeting, **values: Any) -> None:
        """Compare-and-swap on the version: a concurrent change makes this a `Conflict`."""
        result = await uow.session.execute(
            update(MeetingRow)
            .where(MeetingRow.id == meeting.id, MeetingRow.version == meeting.version)
            .values(version=meeting.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise Conflict(f"meeting {meeting.id} was changed meanwhile; read it again")

    async def _reload(self, uow: SqlUnitOfWork, meeting: Meeting) -> Meeting:
        found = await self.get(uow, meeting.id, account_id=meeting.account_id)
        if found is None:  # deleted concurrently
            raise Conflict(f"meeting {meeting.id} was deleted meanwhile")
        return found

    async def _meeting(self, uow: SqlUnitOfWork, row: MeetingRow) -> Meeting:
        overrides = await self._overrides(uow, [row.id]) if row.recurrence_rule else {}
        return self._to_meeting(row, overrides.get(row.id, ()))

    async def _overrides(
        self, uow: SqlUnitOfWork, ids: Sequence[int]
    ) -> dict[int, tuple[OccurrenceOverride, ...]]:
        if not ids:
            return {}
        rows = (
            await uow.session.scalars(
                select(MeetingOccurrenceRow)
                .where(MeetingOccurrenceRow.meeting_id.in_(ids))
                .order_by(MeetingOccurrenceRow.original_start)
            )
        ).all()
        found: dict[int, tuple[OccurrenceOverride, ...]] = {}
        for r in rows:
            override = OccurrenceOverride(
                original_start=r.original_start,
                start=r.start_at,
                duration_minutes=r.duration_minutes,
                cancelled=r.cancelled,
            )
            found[r.meeting_id] = (*found.get(r.meeting_id, ()), override)
        return found

    def _to_meeting(self, row: MeetingRow, overrides: tuple[OccurrenceOverride, ...]) -> Meeting:
        return Meeting(
            id=row.id,
            account_id=row.account_id,
            owner_id=row.owner_id,
            topic=row.topic,
            passcode=row.passcode,
            join_url=join_url(self._base, row.id),
            schedule=Schedule(
                start=row.start_at,
                time_zone=row.time_zone,
                duration_minutes=row.duration_minutes,
                rule=row.recurrence_rule,
            ),
            status=MeetingStatus(row.status),
            expires_at=row.expires_at,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            cancelled_at=row.cancelled_at,
            overrides=overrides,
        )
