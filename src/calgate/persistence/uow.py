"""The unit of work: one database transaction, with the repositories bound to it.

Services never commit ad hoc: they call ``await uow.commit()`` once; leaving the block
without committing rolls everything back.

Work that must ride on the transaction registers hooks: ``before_commit`` hooks run inside
the transaction just before it commits (e.g. writing staged notifications), ``after_commit``
hooks run only once the commit has succeeded (e.g. publishing them to the bus, waking the
job runner), so nothing is announced for a transaction that rolled back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import async_sessionmaker

from calgate.errors import ServiceUnavailable
from calgate.persistence.db import AsyncSession
from calgate.persistence.repositories import (
    AccountRepository,
    ApiKeyRepository,
    AuditRepository,
    GroupRepository,
    UserRepository,
)

__all__ = ["CommitHook", "SqlUnitOfWork", "UnitOfWorkFactory", "WriteLock"]

log = logging.getLogger(__name__)

CommitHook = Callable[[], Awaitable[None]]


class SqlUnitOfWork:
    accounts: AccountRepository
    groups: GroupRepository
    users: UserRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        write_lock: WriteLock | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._before_commit: list[CommitHook] = []
        self._after_commit: list[CommitHook] = []
        self._write_lock = write_lock
        self._holds_lock = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `async with` block")
        return self._session

    async def __aenter__(self) -> Self:
        if self._write_lock is not None:
            self._holds_lock = await self._write_lock.acquire()
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
            self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            assert self._write_lock is not None
            self._write_lock.release()

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
        self._release()  # committed: other writers may go while the hooks run
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


class WriteLock:
    """Serialises one process's write transactions on SQLite, which has a single writer
    anyway: writers then queue here, in order, instead of in SQLite's busy handler (which
    polls with sleeps of up to 100 ms and made the tail latency of every write path). The
    task already holding it does not wait for itself (a nested unit of work goes to
    SQLite's own lock as before), and waiting is bounded like SQLite's busy timeout."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._timeout = timeout

    async def acquire(self) -> bool:
        """True when acquired (release it); False when this task holds it already."""
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise ServiceUnavailable("the database is busy; try again shortly") from None
        self._owner = task
        return True

    def release(self) -> None:
        self._owner = None
        self._lock.release()


class UnitOfWorkFactory:
    """Makes units of work: read-write by default, ``readonly=True`` for pure reads. With
    ``serialize_writes`` (embedded SQLite), write units of work queue on one lock."""

    def __init__(
        self,
        writer: async_sessionmaker[AsyncSession],
        reader: async_sessionmaker[AsyncSession],
        *,
        serialize_writes: bool = False,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = WriteLock() if serialize_writes else None

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        if readonly:
            return SqlUnitOfWork(self._reader)
        return SqlUnitOfWork(self._writer, self._write_lock)
