"""SQL for connections, started OAuth flows and account app registrations.

Every statement that changes a connection's tokens is conditional (compare-and-swap on
``token_version``, or on the refresh lease's owner), so concurrent processes never
overwrite each other's work; none of them is ever held open across a provider call.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult

from calgate.domain.connections import Connection, ConnectionStatus
from calgate.domain.policy import Provider
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import (
    AccountRow,
    ConnectionRow,
    GroupRow,
    OAuthStateRow,
    ProviderAppRow,
    UserRow,
)

__all__ = ["ConnectionStore", "UserView", "connection_from_row"]

LIVE = (ConnectionStatus.ACTIVE.value, ConnectionStatus.REAUTH_REQUIRED.value)


def connection_from_row(row: Any) -> Connection:
    return Connection(
        id=row.id,
        account_id=row.account_id,
        user_id=row.user_id,
        provider=Provider(row.provider),
        status=ConnectionStatus(row.status),
        subject=row.subject,
        account_email=row.account_email,
        scopes=frozenset(row.scopes or ()),
        token_scopes=frozenset(row.token_scopes or ()),
        token_version=row.token_version,
        access_expires_at=row.access_expires_at,
        refresh_expires_at=row.refresh_expires_at,
        last_refreshed_at=row.last_refreshed_at,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        client_id=row.client_id,
        reauth_reason=row.reauth_reason,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
    )


@dataclass(frozen=True, slots=True)
class UserView:
    """One user's policy inputs and connections, read in one statement (the vend path)."""

    account_policy: dict[str, Any]
    group_policy: dict[str, Any] | None
    group_name: str | None
    connections: tuple[Connection, ...]


_CONNECTION_COLUMNS = [c for c in ConnectionRow.__table__.columns]


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


class ConnectionStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # reading -----------------------------------------------------------------------------
    async def user_view(self, account_id: uuid.UUID, user_id: uuid.UUID) -> UserView | None:
        """The user's account and group policies and all their connections (tombstones
        too), or None when the user does not exist."""
        stmt = (
            select(
                AccountRow.policy.label("account_policy"),
                GroupRow.policy.label("group_policy"),
                GroupRow.name.label("group_name"),
                *_CONNECTION_COLUMNS,
            )
            .select_from(UserRow)
            .join(AccountRow, AccountRow.id == UserRow.account_id)
            .outerjoin(GroupRow, GroupRow.id == UserRow.group_id)
            .outerjoin(ConnectionRow, ConnectionRow.user_id == UserRow.id)
            .where(UserRow.id == user_id, UserRow.account_id == account_id)
            .order_by(ConnectionRow.created_at)
        )
        rows = (await self.session.execute(stmt)).all()
        if not rows:
            return None
        first = rows[0]
        connections = tuple(connection_from_row(r) for r in rows if r.id is not None)
        return UserView(
            first.account_policy or {}, first.group_policy, first.group_name, connections
        )

    async def get(
        self, account_id: uuid.UUID, connection_id: uuid.UUID, *, lock: bool = False
    ) -> Connection | None:
        stmt = select(ConnectionRow).where(
            ConnectionRow.account_id == account_id, ConnectionRow.id == connection_id
        )
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = await self.session.scalar(stmt)
        return connection_from_row(row) if row else None

    async def by_id(self, connection_id: uuid.UUID) -> Connection | None:
        row = await self.session.get(ConnectionRow, connection_id, populate_existing=True)
        return connection_from_row(row) if row else None

    async def for_user(
        self, account_id: uuid.UUID, user_id: uuid.UUID, *, include_removed: bool = False
    ) -> list[Connection]:
        stmt = select(ConnectionRow).where(
            ConnectionRow.account_id == account_id, ConnectionRow.user_id == user_id
        )
        if not include_removed:
            stmt = stmt.where(ConnectionRow.status.in_(LIVE))
        rows = await self.session.scalars(stmt.order_by(ConnectionRow.created_at))
        return [connection_from_row(r) for r in rows.all()]

    async def find_live(
        self, user_id: uuid.UUID, provider: str, subject: str, *, lock: bool = False
    ) -> Connection | None:
        stmt = select(ConnectionRow).where(
            ConnectionRow.user_id == user_id,
            ConnectionRow.provider == provider,
            ConnectionRow.subject == subject,
            ConnectionRow.status.in_(LIVE),
        )
        if lock:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        row = await self.session.scalar(stmt)
        return connection_from_row(row) if row else None

    async def due_for_keepalive(
        self, *, idle_before: datetime, lapsing_before: datetime, limit: int
    ) -> list[Connection]:
        """Active connections whose refresh token has been idle too long, or which the
        provider said would lapse soon."""
        stmt = (
            select(ConnectionRow)
            .where(
                ConnectionRow.status == ConnectionStatus.ACTIVE.value,
                or_(
                    ConnectionRow.last_refreshed_at < idle_before,
                    and_(
                        ConnectionRow.refresh_expires_at.is_not(None),
                        ConnectionRow.refresh_expires_at < lapsing_before,
                    ),
                ),
            )
            .order_by(ConnectionRow.last_refreshed_at)
            .limit(limit)
        )
        return [connection_from_row(r) for r in (await self.session.scalars(stmt)).all()]

    # writing -----------------------------------------------------------------------------
    async def add(self, **values: Any) -> None:
        self.session.add(ConnectionRow(**values))
        await self.session.flush()

    async def update(self, connection_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(ConnectionRow).where(ConnectionRow.id == connection_id).values(**values)
        )

    async def try_lease(
        self, connection_id: uuid.UUID, version: int, owner: str, until: datetime, now: datetime
    ) -> bool:
        """Take the refresh lease of an active connection still at ``version``, unless
        another process holds an unexpired one."""
        result = await self.session.execute(
            update(ConnectionRow)
            .where(
                ConnectionRow.id == connection_id,
                ConnectionRow.status == ConnectionStatus.ACTIVE.value,
                ConnectionRow.token_version == version,
                or_(ConnectionRow.lease_until.is_(None), ConnectionRow.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        return _rowcount(result) == 1

    async def release_lease(self, connection_id: uuid.UUID, owner: str) -> None:
        await self.session.execute(
            update(ConnectionRow)
            .where(ConnectionRow.id == connection_id, ConnectionRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def swap(self, connection_id: uuid.UUID, version: int, **values: Any) -> bool:
        """Compare-and-swap: apply ``values`` and move to ``version + 1`` only if the
        connection is still at ``version``."""
        result = await self.session.execute(
            update(ConnectionRow)
            .where(ConnectionRow.id == connection_id, ConnectionRow.token_version == version)
            .values(token_version=version + 1, lease_owner=None, lease_until=None, **values)
        )
        return _rowcount(result) == 1

    async def touch(self, connection_id: uuid.UUID, now: datetime, before: datetime) -> None:
        await self.session.execute(
            update(ConnectionRow)
            .where(
                ConnectionRow.id == connection_id,
                or_(ConnectionRow.last_used_at.is_(None), ConnectionRow.last_used_at < before),
            )
            .values(last_used_at=now)
        )

    async def purge_tombstones(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(ConnectionRow).where(
                ConnectionRow.status == ConnectionStatus.REMOVED.value,
                ConnectionRow.removed_at < before,
            )
        )
        return _rowcount(result)

    # started flows -----------------------------------------------------------------------
    async def add_state(self, **values: Any) -> None:
        self.session.add(OAuthStateRow(**values))
        await self.session.flush()

    async def bind_browser(self, state_hash: str, browser_hash: str, now: datetime) -> bool:
        """Bind a started flow to the browser that opened it, once, while it is valid."""
        result = await self.session.execute(
            update(OAuthStateRow)
            .where(
                OAuthStateRow.state_hash == state_hash,
                OAuthStateRow.browser_hash.is_(None),
                OAuthStateRow.expires_at > now,
            )
            .values(browser_hash=browser_hash)
        )
        return _rowcount(result) == 1

    async def get_state(self, state_hash: str) -> OAuthStateRow | None:
        return await self.session.get(OAuthStateRow, state_hash, populate_existing=True)

    async def take_state(self, state_hash: str) -> Any:
        """Delete and return a started flow (single use: of two concurrent callbacks with
        the same state, exactly one gets the row)."""
        result = await self.session.execute(
            delete(OAuthStateRow)
            .where(OAuthStateRow.state_hash == state_hash)
            .returning(*OAuthStateRow.__table__.columns)
        )
        return result.first()

    async def expired_states(self, now: datetime, limit: int = 500) -> Sequence[Any]:
        stmt = (
            select(OAuthStateRow.state_hash, OAuthStateRow.account_id)
            .where(OAuthStateRow.expires_at <= now)
            .limit(limit)
        )
        return (await self.session.execute(stmt)).all()

    async def states_of(self, user_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(OAuthStateRow.state_hash).where(OAuthStateRow.user_id == user_id)
        )
        return list(rows.all())

    async def delete_state(self, state_hash: str) -> None:
        await self.session.execute(
            delete(OAuthStateRow).where(OAuthStateRow.state_hash == state_hash)
        )

    # account app registrations -----------------------------------------------------------
    async def app(self, account_id: uuid.UUID, provider: str) -> ProviderAppRow | None:
        return await self.session.scalar(
            select(ProviderAppRow).where(
                ProviderAppRow.account_id == account_id, ProviderAppRow.provider == provider
            )
        )

    async def apps(self, account_id: uuid.UUID) -> list[ProviderAppRow]:
        rows = await self.session.scalars(
            select(ProviderAppRow)
            .where(ProviderAppRow.account_id == account_id)
            .order_by(ProviderAppRow.provider)
        )
        return list(rows.all())

    async def put_app(self, row: ProviderAppRow) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete_app(self, account_id: uuid.UUID, provider: str) -> None:
        await self.session.execute(
            delete(ProviderAppRow).where(
                ProviderAppRow.account_id == account_id, ProviderAppRow.provider == provider
            )
        )
