"""The unit of work: one database transaction, with the repositories bound to it.

Services never commit ad hoc: they call ``await uow.commit()`` once; leaving the block
without committing rolls everything back.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import async_sessionmaker

from calgate.persistence.db import AsyncSession
from calgate.persistence.repositories import (
    AccountRepository,
    ApiKeyRepository,
    AuditRepository,
    GroupRepository,
    UserRepository,
)

__all__ = ["SqlUnitOfWork", "UnitOfWorkFactory"]


class SqlUnitOfWork:
    accounts: AccountRepository
    groups: GroupRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._sessionmaker()
        s = self._session
        self.accounts = AccountRepository(s)
        self.groups = GroupRepository(s)
        self.users = UserRepository(s)
        self.api_keys = ApiKeyRepository(s)
        self.audit = AuditRepository(s)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()


class UnitOfWorkFactory:
    """Makes units of work: read-write by default, ``readonly=True`` for pure reads."""

    def __init__(
        self, writer: async_sessionmaker[AsyncSession], reader: async_sessionmaker[AsyncSession]
    ) -> None:
        self._writer = writer
        self._reader = reader

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._reader if readonly else self._writer)
