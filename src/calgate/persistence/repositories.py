"""SQLAlchemy repositories. Every method that reads tenant data takes the account id and
filters by it, so a row of another account is simply not found."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Executable, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from calgate.domain.model import Account, ApiKey, AuditEntry, Group, User
from calgate.domain.policy import PolicyOverrides
from calgate.errors import Conflict
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import (
    AccountRow,
    ApiKeyRow,
    AuditEventRow,
    AuditHeadRow,
    GroupRow,
    UserRow,
)

__all__ = [
    "AccountRepository",
    "ApiKeyRepository",
    "AuditRepository",
    "GroupRepository",
    "Lock",
    "UserRepository",
]


Lock = Literal["change", "delete"]
"""Row locks for read-modify-write (PostgreSQL; SQLite's write transactions are serial
already): ``"change"`` is ``FOR NO KEY UPDATE`` (does not block inserts that reference the
row), ``"delete"`` is ``FOR UPDATE``. Lock order is always: the rows being changed first,
the audit chain's head last (see `AuditRepository.lock_head`), so writers never deadlock."""

_S = TypeVar("_S", bound=Select[Any])


def _locked(stmt: _S, lock: Lock | None) -> _S:
    if lock is None:
        return stmt
    return stmt.with_for_update(key_share=lock == "change").execution_options(
        populate_existing=True
    )


def _account(row: AccountRow) -> Account:
    return Account(row.id, row.name, row.created_at, PolicyOverrides.from_dict(row.policy))


def _group(row: GroupRow) -> Group:
    return Group(
        row.id, row.account_id, row.name, row.created_at, PolicyOverrides.from_dict(row.policy)
    )


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        account_id=row.account_id,
        email=row.email,
        display_name=row.display_name,
        created_at=row.created_at,
        group_id=row.group_id,
        external_id=row.external_id,
        has_password=row.password_hash is not None,
    )


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.account_id, row.name, row.hint, row.created_at, row.revoked_at)


def _audit_entry(row: AuditEventRow) -> AuditEntry:
    return AuditEntry(
        chain=row.chain,
        seq=row.seq,
        account_id=row.account_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _write_unique(
        self, what: str, *, row: object = None, statement: Executable | None = None
    ) -> None:
        """Add ``row`` or run ``statement`` in a savepoint; a unique-constraint violation
        becomes `Conflict` and leaves the surrounding transaction usable."""
        try:
            async with self.session.begin_nested():
                if row is not None:
                    self.session.add(row)
                if statement is not None:
                    await self.session.execute(statement)
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{what} already exists") from exc


class AccountRepository(_Repository):
    async def add(self, account: Account) -> None:
        self.session.add(
            AccountRow(
                id=account.id,
                name=account.name,
                policy=account.policy.to_dict(),
                created_at=account.created_at,
            )
        )
        await self.session.flush()

    async def get(self, account_id: uuid.UUID, *, lock: Lock | None = None) -> Account | None:
        row = await self.session.scalar(
            _locked(select(AccountRow).where(AccountRow.id == account_id), lock)
        )
        return _account(row) if row else None

    async def list(self, *, only: uuid.UUID | None = None) -> Sequence[Account]:
        stmt = select(AccountRow).order_by(AccountRow.created_at, AccountRow.id)
        if only is not None:
            stmt = stmt.where(AccountRow.id == only)
        return [_account(r) for r in (await self.session.scalars(stmt)).all()]

    async def update(
        self,
        account_id: uuid.UUID,
        *,
        name: str | None = None,
        policy: PolicyOverrides | None = None,
    ) -> None:
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if policy is not None:
            values["policy"] = policy.to_dict()
        if values:
            await self.session.execute(
                update(AccountRow).where(AccountRow.id == account_id).values(**values)
            )

    async def delete(self, account_id: uuid.UUID) -> None:
        await self.session.execute(delete(AccountRow).where(AccountRow.id == account_id))


class GroupRepository(_Repository):
    async def add(self, group: Group) -> None:
        await self._write_unique(
            f"a user group named {group.name!r}",
            row=GroupRow(
                id=group.id,
                account_id=group.account_id,
                name=group.name,
                policy=group.policy.to_dict(),
                created_at=group.created_at,
            ),
        )

    async def get(
        self, account_id: uuid.UUID, group_id: uuid.UUID, *, lock: Lock | None = None
    ) -> Group | None:
        row = await self.session.scalar(
            _locked(
                select(GroupRow).where(GroupRow.account_id == account_id, GroupRow.id == group_id),
                lock,
            )
        )
        return _group(row) if row else None

    async def list(self, account_id: uuid.UUID) -> Sequence[Group]:
        rows = await self.session.scalars(
            select(GroupRow).where(GroupRow.account_id == account_id).order_by(GroupRow.name)
        )
        return [_group(r) for r in rows.all()]

    async def update(
        self,
        account_id: uuid.UUID,
        group_id: uuid.UUID,
        *,
        name: str | None = None,
        policy: PolicyOverrides | None = None,
    ) -> None:
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if policy is not None:
            values["policy"] = policy.to_dict()
        if values:
            await self._write_unique(
                f"a user group named {name!r}",
                statement=update(GroupRow)
                .where(GroupRow.account_id == account_id, GroupRow.id == group_id)
                .values(**values),
            )

    async def delete(self, account_id: uuid.UUID, group_id: uuid.UUID) -> None:
        # Portable ON DELETE SET NULL (SQLite enforces it only with foreign keys on).
        await self.session.execute(
            update(UserRow)
            .where(UserRow.account_id == account_id, UserRow.group_id == group_id)
            .values(group_id=None)
        )
        await self.session.execute(
            delete(GroupRow).where(GroupRow.account_id == account_id, GroupRow.id == group_id)
        )


class UserRepository(_Repository):
    async def add(self, user: User, *, password_hash: str | None = None) -> None:
        await self._write_unique(
            f"a user with email {user.email!r}",
            row=UserRow(
                id=user.id,
                account_id=user.account_id,
                group_id=user.group_id,
                email=user.email,
                display_name=user.display_name,
                external_id=user.external_id,
                password_hash=password_hash,
                created_at=user.created_at,
            ),
        )

    async def get(
        self, account_id: uuid.UUID, user_id: uuid.UUID, *, lock: Lock | None = None
    ) -> User | None:
        row = await self.session.scalar(
            _locked(
                select(UserRow).where(UserRow.account_id == account_id, UserRow.id == user_id),
                lock,
            )
        )
        return _user(row) if row else None

    async def list(
        self,
        account_id: uuid.UUID,
        *,
        group_id: uuid.UUID | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> Sequence[User]:
        stmt = select(UserRow).where(UserRow.account_id == account_id)
        if group_id is not None:
            stmt = stmt.where(UserRow.group_id == group_id)
        if after is not None:
            stmt = stmt.where(UserRow.email > after)
        rows = await self.session.scalars(stmt.order_by(UserRow.email).limit(limit))
        return [_user(r) for r in rows.all()]

    async def find_by_email(
        self, email: str, *, account_id: uuid.UUID | None = None
    ) -> Sequence[tuple[User, str | None]]:
        """Users with this email (in one account, or in every account), with password hashes."""
        stmt = select(UserRow).where(UserRow.email == email.lower())
        if account_id is not None:
            stmt = stmt.where(UserRow.account_id == account_id)
        rows = (await self.session.scalars(stmt)).all()
        return [(_user(r), r.password_hash) for r in rows]

    async def find_by_external_id(self, external_id: str) -> Sequence[User]:
        rows = await self.session.scalars(select(UserRow).where(UserRow.external_id == external_id))
        return [_user(r) for r in rows.all()]

    async def update(self, account_id: uuid.UUID, user_id: uuid.UUID, **values: object) -> None:
        if values:
            await self._write_unique(
                f"a user with email {values.get('email')!r}",
                statement=update(UserRow)
                .where(UserRow.account_id == account_id, UserRow.id == user_id)
                .values(**values),
            )

    async def delete(self, account_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(UserRow).where(UserRow.account_id == account_id, UserRow.id == user_id)
        )

    async def count(self, account_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(UserRow).where(UserRow.account_id == account_id)
            )
            or 0
        )


class ApiKeyRepository(_Repository):
    async def add(self, key: ApiKey, *, key_hash: str) -> None:
        self.session.add(
            ApiKeyRow(
                id=key.id,
                account_id=key.account_id,
                name=key.name,
                key_hash=key_hash,
                hint=key.hint,
                created_at=key.created_at,
            )
        )
        await self.session.flush()

    async def find_active_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self.session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
        )
        return _api_key(row) if row else None

    async def list(self, account_id: uuid.UUID) -> Sequence[ApiKey]:
        rows = await self.session.scalars(
            select(ApiKeyRow)
            .where(ApiKeyRow.account_id == account_id)
            .order_by(ApiKeyRow.created_at)
        )
        return [_api_key(r) for r in rows.all()]

    async def get(self, account_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        row = await self.session.scalar(
            select(ApiKeyRow).where(ApiKeyRow.account_id == account_id, ApiKeyRow.id == key_id)
        )
        return _api_key(row) if row else None

    async def revoke(self, account_id: uuid.UUID, key_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.account_id == account_id, ApiKeyRow.id == key_id)
            .values(revoked_at=at)
        )


class AuditRepository(_Repository):
    async def lock_head(self, chain: str) -> AuditHeadRow:
        """Return the chain's head row, locked for this transaction (created if missing)."""
        stmt = select(AuditHeadRow).where(AuditHeadRow.chain == chain).with_for_update()
        head = await self.session.scalar(stmt)
        if head is None:
            try:
                async with self.session.begin_nested():
                    self.session.add(AuditHeadRow(chain=chain, seq=0, hash="0" * 64))
            except IntegrityError:
                pass  # created concurrently; lock theirs
            head = await self.session.scalar(stmt.execution_options(populate_existing=True))
            assert head is not None
        return head

    async def append(self, entry: AuditEntry, head: AuditHeadRow) -> None:
        self.session.add(
            AuditEventRow(
                chain=entry.chain,
                seq=entry.seq,
                account_id=entry.account_id,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                details=entry.details,
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
        head.seq = entry.seq
        head.hash = entry.hash
        await self.session.flush()

    async def list(
        self, chain: str, *, after_seq: int = 0, limit: int = 100
    ) -> Sequence[AuditEntry]:
        rows = await self.session.scalars(
            select(AuditEventRow)
            .where(AuditEventRow.chain == chain, AuditEventRow.seq > after_seq)
            .order_by(AuditEventRow.seq)
            .limit(limit)
        )
        return [_audit_entry(r) for r in rows.all()]

    async def head(self, chain: str) -> AuditHeadRow | None:
        return await self.session.get(AuditHeadRow, chain)

    async def chains(self) -> Sequence[str]:
        """Every chain that has a head or an entry, sorted."""
        heads = select(AuditHeadRow.chain)
        entries = select(AuditEventRow.chain).distinct()
        found = await self.session.scalars(heads.union(entries))
        return sorted(found.all())
