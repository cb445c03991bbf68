"""SQL for ``sync_states``: one row per connection (its cursor, window and outcomes, and the
due time of its next reconciliation check)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from calgate.domain.connections import ConnectionStatus
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import ConnectionRow, SubscriptionRow, SyncStateRow

__all__ = [
    "cas_cursor",
    "due",
    "ensure",
    "get",
    "missing",
    "needing_subscription",
    "update_state",
]


async def get(session: AsyncSession, connection_id: uuid.UUID) -> SyncStateRow | None:
    return await session.get(SyncStateRow, connection_id, populate_existing=True)


async def ensure(
    session: AsyncSession, connection_id: uuid.UUID, account_id: uuid.UUID, next_sync_at: datetime
) -> None:
    """Create the row unless it exists."""
    bind = session.bind
    assert bind is not None
    dialect: Any = postgresql if bind.dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(SyncStateRow)
        .values(
            connection_id=connection_id,
            account_id=account_id,
            next_sync_at=next_sync_at,
            version=0,
            failures=0,
        )
        .on_conflict_do_nothing(index_elements=["connection_id"])
    )


async def update_state(session: AsyncSession, connection_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(SyncStateRow).where(SyncStateRow.connection_id == connection_id).values(**values),
        execution_options={"synchronize_session": False},
    )


async def cas_cursor(
    session: AsyncSession, connection_id: uuid.UUID, version: int, **values: Any
) -> bool:
    """Save a new cursor only if nobody else did since ``version`` was read."""
    result = await session.execute(
        update(SyncStateRow)
        .where(SyncStateRow.connection_id == connection_id, SyncStateRow.version == version)
        .values(version=version + 1, **values),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0)) == 1


async def due(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(connection, account) of active connections whose reconciliation check is due."""
    rows = await session.execute(
        select(SyncStateRow.connection_id, SyncStateRow.account_id)
        .join(ConnectionRow, ConnectionRow.id == SyncStateRow.connection_id)
        .where(
            SyncStateRow.next_sync_at <= now,
            ConnectionRow.status == ConnectionStatus.ACTIVE.value,
        )
        .order_by(SyncStateRow.next_sync_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def missing(session: AsyncSession, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Active connections that have no sync state yet."""
    rows = await session.execute(
        select(ConnectionRow.id, ConnectionRow.account_id)
        .outerjoin(SyncStateRow, SyncStateRow.connection_id == ConnectionRow.id)
        .where(
            ConnectionRow.status == ConnectionStatus.ACTIVE.value,
            SyncStateRow.connection_id.is_(None),
        )
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows.all()]


async def needing_subscription(
    session: AsyncSession, providers: list[str], now: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Active connections of push-capable providers without a live subscription, whose
    next attempt is due."""
    has_sub = (
        select(SubscriptionRow.id)
        .where(
            SubscriptionRow.connection_id == ConnectionRow.id,
            SubscriptionRow.state.in_(("active", "pending")),
        )
        .exists()
    )
    rows = await session.execute(
        select(ConnectionRow.id, ConnectionRow.account_id)
        .join(SyncStateRow, SyncStateRow.connection_id == ConnectionRow.id)
        .where(
            ConnectionRow.status == ConnectionStatus.ACTIVE.value,
            ConnectionRow.provider.in_(providers),
            ~has_sub,
            (SyncStateRow.next_subscribe_at.is_(None)) | (SyncStateRow.next_subscribe_at <= now),
        )
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows.all()]
