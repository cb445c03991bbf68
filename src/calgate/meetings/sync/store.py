"""SQL for ``synced_events`` and the vault-sealed content of each row.

A row ties one calendar event (or one occurrence of a series) of one connection to one of
the account's meetings. Its sanitized content (the SYNC profile's fields: topic,
description, organizer name and id, times and zone, recurrence) is sealed in the vault
(owner :data:`OWNER`, one field per row) only while the event is within the next 30 days
(R8); otherwise the row is a link only. Every write and delete of a row handles its sealed
content in the same transaction, so the two never disagree.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from calgate.persistence.tables import SyncedEventRow
from calgate.persistence.uow import SqlUnitOfWork
from calgate.vault.base import CredentialVault, Secret

__all__ = ["OWNER", "Held", "StoredContent", "SyncedEvent", "SyncedEventStore"]

OWNER = "synced_events"
_FIELD = "event"


@dataclass(frozen=True, slots=True)
class Held:
    """What sync remembers of an event it holds (no content)."""

    id: uuid.UUID
    event_id: str
    meeting_id: int
    kind: str  # single | series | occurrence
    series_event_id: str | None
    original_start: datetime | None
    provider_version: str | None
    provider_updated: datetime | None
    has_content: bool


@dataclass(frozen=True, slots=True)
class StoredContent:
    """The sanitized fields to seal, and the times they cover."""

    fields: Mapping[str, Any] = field(repr=False)
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class SyncedEvent:
    """A row as read back (content unsealed): for admins' inspection and tests."""

    id: uuid.UUID
    user_id: uuid.UUID
    connection_id: uuid.UUID
    event_id: str
    meeting_id: int
    kind: str
    original_start: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    content: Mapping[str, Any] | None = field(default=None, repr=False)


def _held(row: SyncedEventRow) -> Held:
    return Held(
        id=row.id,
        event_id=row.event_id,
        meeting_id=row.meeting_id,
        kind=row.kind,
        series_event_id=row.series_event_id,
        original_start=row.original_start,
        provider_version=row.provider_version,
        provider_updated=row.provider_updated,
        has_content=row.has_content,
    )


class SyncedEventStore:
    def __init__(self, vault: CredentialVault) -> None:
        self._vault = vault

    # reading ------------------------------------------------------------------------------
    async def held(self, uow: SqlUnitOfWork, connection_id: uuid.UUID) -> dict[str, Held]:
        """Every event sync holds for a connection, by provider event id."""
        rows = await uow.session.scalars(
            select(SyncedEventRow).where(SyncedEventRow.connection_id == connection_id)
        )
        return {r.event_id: _held(r) for r in rows}

    async def holds_any(self, uow: SqlUnitOfWork, connection_id: uuid.UUID) -> bool:
        row = await uow.session.scalar(
            select(SyncedEventRow.id).where(SyncedEventRow.connection_id == connection_id).limit(1)
        )
        return row is not None

    async def one(self, uow: SqlUnitOfWork, connection_id: uuid.UUID, event_id: str) -> Held | None:
        row = await uow.session.scalar(
            select(SyncedEventRow)
            .where(
                SyncedEventRow.connection_id == connection_id,
                SyncedEventRow.event_id == event_id,
            )
            .execution_options(populate_existing=True)
        )
        return _held(row) if row is not None else None

    async def list(
        self,
        uow: SqlUnitOfWork,
        account_id: uuid.UUID,
        *,
        user_id: uuid.UUID | None = None,
        with_content: bool = True,
    ) -> list[SyncedEvent]:
        stmt = select(SyncedEventRow).where(SyncedEventRow.account_id == account_id)
        if user_id is not None:
            stmt = stmt.where(SyncedEventRow.user_id == user_id)
        rows = (await uow.session.scalars(stmt.order_by(SyncedEventRow.starts_at))).all()
        out: list[SyncedEvent] = []
        for r in rows:
            content = None
            if with_content and r.has_content:
                sealed = await self._vault.get(
                    uow, account_id=r.account_id, owner=OWNER, owner_id=r.id, field=_FIELD
                )
                content = json.loads(sealed.reveal()) if sealed is not None else None
            out.append(
                SyncedEvent(
                    id=r.id,
                    user_id=r.user_id,
                    connection_id=r.connection_id,
                    event_id=r.event_id,
                    meeting_id=r.meeting_id,
                    kind=r.kind,
                    original_start=r.original_start,
                    starts_at=r.starts_at,
                    ends_at=r.ends_at,
                    content=content,
                )
            )
        return out

    # writing ------------------------------------------------------------------------------
    async def upsert(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        connection_id: uuid.UUID,
        provider: str,
        event_id: str,
        meeting_id: int,
        kind: str,
        series_event_id: str | None,
        original_start: datetime | None,
        provider_version: str | None,
        provider_updated: datetime | None,
        content: StoredContent | None,
        now: datetime,
    ) -> uuid.UUID:
        """Insert or replace the row of ``event_id``; seal ``content`` or drop what was
        sealed (a link-only row)."""
        current = await self.one(uow, connection_id, event_id)
        values: dict[str, Any] = {
            "meeting_id": meeting_id,
            "kind": kind,
            "series_event_id": series_event_id,
            "original_start": original_start,
            "provider_version": provider_version,
            "provider_updated": provider_updated,
            "has_content": content is not None,
            "starts_at": content.starts_at if content else None,
            "ends_at": content.ends_at if content else None,
            "synced_at": now,
        }
        if current is None:
            row_id = uuid.uuid4()
            uow.session.add(
                SyncedEventRow(
                    id=row_id,
                    account_id=account_id,
                    user_id=user_id,
                    connection_id=connection_id,
                    provider=provider,
                    event_id=event_id,
                    **values,
                )
            )
            await uow.session.flush()
        else:
            row_id = current.id
            await uow.session.execute(
                update(SyncedEventRow)
                .where(SyncedEventRow.id == row_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if content is not None:
            await self._vault.put(
                uow,
                account_id=account_id,
                owner=OWNER,
                owner_id=row_id,
                field=_FIELD,
                value=Secret(json.dumps(dict(content.fields), separators=(",", ":"))),
            )
        elif current is not None and current.has_content:
            await self._vault.delete(uow, account_id=account_id, owner=OWNER, owner_id=row_id)
        return row_id

    async def forget_content(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, row_ids: Sequence[uuid.UUID]
    ) -> int:
        """Drop the sealed content and times of rows (a series whose occurrence ended), keep
        the link."""
        for row_id in row_ids:
            await self._vault.delete(uow, account_id=account_id, owner=OWNER, owner_id=row_id)
        if row_ids:
            await uow.session.execute(
                update(SyncedEventRow)
                .where(SyncedEventRow.id.in_(row_ids))
                .values(has_content=False, starts_at=None, ends_at=None)
                .execution_options(synchronize_session=False)
            )
        return len(row_ids)

    async def delete(
        self, uow: SqlUnitOfWork, rows: Iterable[tuple[uuid.UUID, uuid.UUID, bool]]
    ) -> int:
        """Delete rows given as ``(account_id, row_id, has_content)``, content first."""
        ids: list[uuid.UUID] = []
        for account_id, row_id, has_content in rows:
            if has_content:
                await self._vault.delete(uow, account_id=account_id, owner=OWNER, owner_id=row_id)
            ids.append(row_id)
        if ids:
            await uow.session.execute(
                delete(SyncedEventRow)
                .where(SyncedEventRow.id.in_(ids))
                .execution_options(synchronize_session=False)
            )
        return len(ids)

    async def delete_where(self, uow: SqlUnitOfWork, *conditions: Any, limit: int = 1000) -> int:
        """Delete up to ``limit`` rows matching ``conditions`` (SQLAlchemy clauses on
        `SyncedEventRow`), sealed content included; returns how many went."""
        found = (
            await uow.session.execute(
                select(SyncedEventRow.account_id, SyncedEventRow.id, SyncedEventRow.has_content)
                .where(*conditions)
                .limit(limit)
            )
        ).all()
        return await self.delete(uow, ((r[0], r[1], bool(r[2])) for r in found))
