"""The unit of work: one database transaction, with the repositories bound to it.

Services never commit ad hoc: they call ``await uow.commit()`` once; leaving the block
without committing rolls everything back.

Work that must ride on the transaction registers hooks: ``before_commit`` hooks run inside
the transaction just before it commits (e.g. writing staged notifications), ``after_commit``
hooks run only once the commit has succeeded (e.g. publishing them to the bus, waking the
job runner), so nothing is announced for a transaction that rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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

__all__ = ["CommitHook", "SqlUnitOfWork", "UnitOfWorkFactory"]

log = logging.getLogger(__name__)

CommitHook = Callable[[], Awaitable[None]]


class SqlUnitOfWork:
    accounts: AccountRepository
    groups: GroupRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._before_commit: list[CommitHook] = []
        self._after_commit: list[CommitHook] = []

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
        self._before_commit.clear()
        self._after_commit.clear()
        try:
            await session.rollback()
        finally:
            await session.close()
            self._session = None

    def before_commit(self, hook: CommitHook) -> None:
        """Run ``hook`` inside the transaction right before the next commit; if it raises,
        nothing is committed."""
        self._before_commit.append(hook)

    def after_commit(self, hook: CommitHook) -> None:
        """Run ``hook`` once the next commit has succeeded (never after a rollback). A
        failing hook is logged; the commit stands."""
        self._after_commit.append(hook)

    async def commit(self) -> None:
        while self._before_commit:
            await self._before_commit.pop(0)()
        await self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            try:
                await hook()
            except Exception:
                log.exception("after-commit hook failed (the transaction is committed)")

    async def rollback(self) -> None:
        self._before_commit.clear()
        self._after_commit.clear()
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
