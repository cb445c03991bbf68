"""SQL for subscriptions and the webhook inbox, on the caller's session."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import ConnectionRow, JobRow, SubscriptionRow, WebhookInboxRow

__all__ = [
    "SubscriptionRecord",
    "Verifier",
    "by_external",
    "by_externals",
    "delete_subscription",
    "due_for_renewal",
    "for_connection",
    "for_user",
    "get",
    "insert_inbox",
    "insert_inbox_many",
    "orphaned",
    "purge_inbox",
    "queued_keys",
    "update_subscription",
    "verifiers",
]


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A subscription row as a plain value (usable after its session has closed)."""

    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    connection_id: uuid.UUID
    provider: str
    external_id: str
    resource_id: str | None
    state: str
    created_at: datetime
    expires_at: datetime | None
    renew_at: datetime | None
    failures: int


def _record(row: SubscriptionRow) -> SubscriptionRecord:
    return SubscriptionRecord(
        row.id,
        row.account_id,
        row.user_id,
        row.connection_id,
        row.provider,
        row.external_id,
        row.resource_id,
        row.state,
        row.created_at,
        row.expires_at,
        row.renew_at,
        row.failures,
    )


async def get(session: AsyncSession, subscription_id: uuid.UUID) -> SubscriptionRecord | None:
    row = await session.get(SubscriptionRow, subscription_id, populate_existing=True)
    return _record(row) if row else None


async def by_external(
    session: AsyncSession, provider: str, external_id: str
) -> SubscriptionRow | None:
    return await session.scalar(
        select(SubscriptionRow).where(
            SubscriptionRow.provider == provider, SubscriptionRow.external_id == external_id
        )
    )


async def by_externals(
    session: AsyncSession, provider: str, external_ids: Sequence[str]
) -> dict[str, SubscriptionRow]:
    if not external_ids:
        return {}
    rows = await session.scalars(
        select(SubscriptionRow).where(
            SubscriptionRow.provider == provider,
            SubscriptionRow.external_id.in_(sorted(set(external_ids))),
        )
    )
    return {r.external_id: r for r in rows.all()}


async def for_connection(
    session: AsyncSession, connection_id: uuid.UUID
) -> list[SubscriptionRecord]:
    rows = await session.scalars(
        select(SubscriptionRow)
        .where(SubscriptionRow.connection_id == connection_id)
        .order_by(SubscriptionRow.created_at)
    )
    return [_record(r) for r in rows.all()]


async def for_user(session: AsyncSession, user_id: uuid.UUID) -> list[SubscriptionRecord]:
    rows = await session.scalars(select(SubscriptionRow).where(SubscriptionRow.user_id == user_id))
    return [_record(r) for r in rows.all()]


async def due_for_renewal(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(SubscriptionRow.id)
        .where(SubscriptionRow.renew_at.is_not(None), SubscriptionRow.renew_at <= now)
        .order_by(SubscriptionRow.renew_at)
        .limit(limit)
    )
    return list(rows.all())


async def orphaned(session: AsyncSession, now: datetime, limit: int) -> list[SubscriptionRecord]:
    """Subscriptions of connections that are no longer active, lapsed ones, and ones left
    pending for an hour (their creator stopped mid-way)."""
    stale = (SubscriptionRow.state == "pending") & (
        SubscriptionRow.created_at < now - timedelta(hours=1)
    )
    rows = await session.scalars(
        select(SubscriptionRow)
        .join(ConnectionRow, ConnectionRow.id == SubscriptionRow.connection_id)
        .where((ConnectionRow.status != "active") | (SubscriptionRow.expires_at <= now) | stale)
        .limit(limit)
    )
    return [_record(r) for r in rows.all()]


async def update_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, **values: Any
) -> None:
    table: Any = SubscriptionRow.__table__  # Core: no ORM bookkeeping on the ingest path
    await session.execute(update(table).where(table.c.id == subscription_id).values(**values))


async def delete_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    await session.execute(
        delete(SubscriptionRow).where(SubscriptionRow.id == subscription_id),
        execution_options={"synchronize_session": False},
    )


async def insert_inbox(
    session: AsyncSession,
    *,
    dedupe_key: str,
    provider: str,
    kind: str,
    subscription_id: uuid.UUID,
    connection_id: uuid.UUID,
    received_at: datetime,
) -> bool:
    """Store a notification; False when one with the same key is already stored."""
    bind = session.bind
    assert bind is not None
    dialect: Any = postgresql if bind.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(WebhookInboxRow)
        .values(
            dedupe_key=dedupe_key,
            provider=provider,
            kind=kind,
            subscription_id=subscription_id,
            connection_id=connection_id,
            received_at=received_at,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(WebhookInboxRow.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def insert_inbox_many(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Store notifications (one compiled statement, sent in multi-row batches); returns the
    dedupe keys that were new."""
    if not rows:
        return set()
    bind = session.bind
    assert bind is not None
    dialect: Any = postgresql if bind.dialect.name == "postgresql" else sqlite
    table: Any = WebhookInboxRow.__table__
    stmt = (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.dedupe_key)
    )
    return set((await session.scalars(stmt, rows)).all())


@dataclass(frozen=True, slots=True)
class Verifier:
    """What the ingest path needs of a subscription (Core row, no ORM)."""

    id: uuid.UUID
    account_id: uuid.UUID
    connection_id: uuid.UUID
    external_id: str
    state: str
    secret_digest: str
    resource_id: str | None
    last_notification_at: datetime | None


async def verifiers(
    session: AsyncSession, provider: str, external_ids: Sequence[str]
) -> dict[str, Verifier]:
    table: Any = SubscriptionRow.__table__
    result = await session.execute(
        select(
            table.c.id,
            table.c.account_id,
            table.c.connection_id,
            table.c.external_id,
            table.c.state,
            table.c.secret_digest,
            table.c.resource_id,
            table.c.last_notification_at,
        ).where(table.c.provider == provider, table.c.external_id.in_(sorted(set(external_ids))))
    )
    return {r.external_id: Verifier(*r) for r in result.all()}


async def queued_keys(session: AsyncSession, kind: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` already have a queued (not yet started) job of ``kind``."""
    if not keys:
        return set()
    table: Any = JobRow.__table__
    rows = await session.scalars(
        select(table.c.dedupe_key).where(
            table.c.kind == kind, table.c.state == "queued", table.c.dedupe_key.in_(list(keys))
        )
    )
    return set(rows.all())


async def purge_inbox(session: AsyncSession, *, before: datetime, batch: int = 5000) -> int:
    ids = select(WebhookInboxRow.id).where(WebhookInboxRow.received_at < before).limit(batch)
    result = await session.execute(
        delete(WebhookInboxRow).where(WebhookInboxRow.id.in_(ids.scalar_subquery())),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))
