"""Migrations: from an empty database to head and back, on SQLite and PostgreSQL, and the
models agree with what the migrations build (protects every later schema change)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from calgate.persistence import migrate
from calgate.persistence.db import create_engine
from calgate.persistence.tables import Base

from support.databases import create_pg_database, drop_pg_database, sqlite_url

TABLES = set(Base.metadata.tables)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database with nothing in it (not even alembic's version table)."""
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "empty.db")
        return
    server: str = request.getfixturevalue("pg_server_url")
    url = create_pg_database(server, "empty_", migrated=False)
    try:
        yield url
    finally:
        drop_pg_database(server, url)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(conn: Connection) -> None:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def test_migrations_from_empty_up_down_and_up_again(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert await migrate.current_revision(engine) is None
        assert await _tables(engine) == set()

        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await _tables(engine) >= TABLES

        await migrate.upgrade(engine)  # idempotent
        assert await migrate.current_revision(engine) == migrate.head_revision()

        await _downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        assert await _tables(engine) - {"alembic_version"} == set()

        await migrate.upgrade(engine)
        assert await _tables(engine) >= TABLES
        async with engine.connect() as conn:  # usable, not just present
            await conn.execute(text("SELECT count(*) FROM accounts"))
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(database_url: str, backend: str) -> None:
    """Autogenerate against a database built by the migrations finds nothing to do: every
    table, column, type, index and constraint in tables.py has its migration."""
    engine = create_engine(database_url)

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "render_as_batch": conn.dialect.name == "sqlite",
                "target_metadata": Base.metadata,
            },
        )
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], (
        f"tables.py and the migrations disagree on {backend}: add an Alembic revision "
        f"(see README, Development): {differences}"
    )


def test_migration_history_is_one_line() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())

    assert len(script.get_heads()) == 1, "migrations must have exactly one head"
    assert len(script.get_bases()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].revision == "0001"
    for rev in revisions:
        assert rev.module.__doc__, f"revision {rev.revision} has no description"
        assert callable(rev.module.downgrade), rev.revision


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
