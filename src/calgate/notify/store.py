"""The ``user_events`` table: durable notifications, kept for a retention window so that
apps can resume a stream (``Last-Event-ID``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from calgate.notify.messages import Notification
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import UserEventRow

__all__ = ["insert", "latest_coalesced", "purge", "recent", "replay", "user_has"]


def _notification(row: UserEventRow) -> Notification:
    return Notification(
        id=row.id,
        account_id=row.account_id,
        user_id=row.user_id,
        type=row.type,
        data=dict(row.data or {}),
        created_at=row.created_at,
    )


async def insert(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    type: str,
    data: dict[str, Any],
    coalesce_key: str | None,
    created_at: datetime,
) -> int:
    bind = session.bind
    assert bind is not None
    dialect: Any = postgresql if bind.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(UserEventRow)
        .values(
            account_id=account_id,
            user_id=user_id,
            type=type,
            data=data,
            coalesce_key=coalesce_key,
            created_at=created_at,
        )
        .returning(UserEventRow.id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def replay(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    after_id: int,
    limit: int,
) -> list[Notification]:
    rows = await session.scalars(
        select(UserEventRow)
        .where(
            UserEventRow.user_id == user_id,
            UserEventRow.account_id == account_id,
            UserEventRow.id > after_id,
        )
        .order_by(UserEventRow.id)
        .limit(limit)
    )
    return [_notification(r) for r in rows.all()]


async def user_has(
    session: AsyncSession, *, account_id: uuid.UUID, user_id: uuid.UUID, event_id: int
) -> bool:
    found = await session.scalar(
        select(UserEventRow.id).where(
            UserEventRow.id == event_id,
            UserEventRow.user_id == user_id,
            UserEventRow.account_id == account_id,
        )
    )
    return found is not None


async def recent(session: AsyncSession, *, since: datetime, limit: int) -> list[Notification]:
    """Every user's messages created at or after ``since`` (bus gap recovery)."""
    rows = await session.scalars(
        select(UserEventRow)
        .where(UserEventRow.created_at >= since)
        .order_by(UserEventRow.id)
        .limit(limit)
    )
    return [_notification(r) for r in rows.all()]


async def latest_coalesced(
    session: AsyncSession, *, user_id: uuid.UUID, type: str, key: str
) -> datetime | None:
    return await session.scalar(
        select(UserEventRow.created_at)
        .where(
            UserEventRow.user_id == user_id,
            UserEventRow.type == type,
            UserEventRow.coalesce_key == key,
        )
        .order_by(UserEventRow.id.desc())
        .limit(1)
    )


async def purge(session: AsyncSession, *, before: datetime, batch: int = 5000) -> int:
    """Delete up to ``batch`` messages created before ``before``."""
    ids = select(UserEventRow.id).where(UserEventRow.created_at < before).limit(batch)
    result = await session.execute(
        delete(UserEventRow).where(UserEventRow.id.in_(ids.scalar_subquery())),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))
