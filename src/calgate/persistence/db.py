"""Engines and sessions. SQLite runs in WAL mode with foreign keys on; write transactions
start with ``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing to
upgrade a read lock, while read-only units of work use a plain deferred ``BEGIN``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

__all__ = ["READONLY", "AsyncSession", "create_engine", "create_sessionmaker", "database_problem"]

READONLY = "calgate_readonly"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(url, **kwargs)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only (it holds password hashes and the
    audit log); SQLite gives its -wal and -shm files the same permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions are bypassed).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def create_sessionmaker(
    engine: AsyncEngine, *, readonly: bool = False
) -> async_sessionmaker[AsyncSession]:
    bind = engine.execution_options(**{READONLY: True}) if readonly else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)


def database_problem(exc: DBAPIError | OSError) -> str:
    """One line saying why the database cannot be used (the driver's own words, e.g.
    ``database "calgate" does not exist``), for errors shown to an operator."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    reason = str(exc.orig if exc.orig is not None else exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__
