"""Database backends for tests: a migrated SQLite template copied per test, and one
PostgreSQL database per test session (truncated between tests)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from calgate.persistence import migrate
from calgate.persistence.db import create_engine
from calgate.persistence.tables import Base
from calgate.settings import normalise_database_url

PG_ENV = "CALGATE_TEST_POSTGRES_URL"
REDIS_ENV = "CALGATE_TEST_REDIS_URL"
REQUIRE_ENV = "CALGATE_TEST_REQUIRE_SERVICES"

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when called (through
    ``request.getfixturevalue``) inside an async fixture whose event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def require_service(env: str, what: str) -> str:
    """Return the service URL from ``env``; skip without it, or fail when CI requires it."""
    url = os.environ.get(env)
    if url:
        return url
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(
            f"{env} is not set but {REQUIRE_ENV}=1: {what} tests must run here", pytrace=False
        )
    pytest.skip(f"{what} not configured ({env} unset)")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def make_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    _run(_upgrade(sqlite_url(path)))
    # fold the WAL into the main file so that a plain copy is complete
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    return path


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return sqlite_url(target)


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    parsed = make_url(normalise_database_url(url))
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_pg_database(server_url: str, label: str = "", *, migrated: bool = True) -> str:
    """Create a fresh database on the server of ``server_url`` (migrated to head unless
    ``migrated=False``); return its URL."""
    name = f"calgate_test_{label}{uuid.uuid4().hex[:10]}"
    _run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = (
        make_url(normalise_database_url(server_url))
        .set(database=name)
        .render_as_string(hide_password=False)
    )
    if migrated:
        _run(_upgrade(url))
    return url


def drop_pg_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    _run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
