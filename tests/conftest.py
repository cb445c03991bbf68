"""Shared fixtures. Nothing here mutates ``os.environ``: settings are built from explicit
values (see ``support.settings.IsolatedSettings``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from calgate.api.app import create_app
from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import FrozenClock

from support.canary import CanaryGuard, canary
from support.databases import (
    PG_ENV,
    REDIS_ENV,
    copy_sqlite,
    create_pg_database,
    drop_pg_database,
    make_sqlite_template,
    require_service,
    truncate_all,
)
from support.settings import IsolatedSettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return require_service(PG_ENV, "PostgreSQL")


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = create_pg_database(pg_server_url, label=f"{worker}_" if worker else "")
    yield url
    drop_pg_database(pg_server_url, url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (skips without CALGATE_TEST_REDIS_URL); use `bus_prefix` to isolate."""
    return require_service(REDIS_ENV, "Redis")


@pytest.fixture
def bus_prefix() -> str:
    """A notification-bus channel prefix of this test's own."""
    return f"calgate-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrise a test over SQLite and PostgreSQL."""
    return str(request.param)


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, canary_guard: CanaryGuard
) -> str:
    """A migrated, empty database: SQLite unless the test uses the ``backend`` fixture."""
    kind = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    if kind == "pg":
        url: str = request.getfixturevalue("pg_database")
        await truncate_all(url)
        return url
    path = tmp_path / "calgate.db"
    canary_guard.watch_file(path)
    return copy_sqlite(sqlite_template, path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def operator_key() -> str:
    return canary("operator-key")


@pytest.fixture
def make_settings(
    tmp_path: Path, database_url: str, operator_key: str
) -> Callable[..., IsolatedSettings]:
    secret = canary("server-secret")

    def factory(**overrides: Any) -> IsolatedSettings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "operator_key": operator_key,
            "secret_key": secret,
            "public_url": "http://testserver",
        }
        values.update(overrides)
        return IsolatedSettings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Callable[..., IsolatedSettings]) -> IsolatedSettings:
    return make_settings()


@pytest.fixture
async def runtime(settings: IsolatedSettings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    rt = await build_runtime(settings, clock=clock, auto_migrate=False)
    try:
        yield rt
    finally:
        await rt.aclose()


@pytest.fixture
async def app(settings: IsolatedSettings, runtime: Runtime) -> AsyncIterator[FastAPI]:
    application = create_app(settings, runtime=runtime)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI, canary_guard: CanaryGuard) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, in process. Error bodies are checked for canaries."""

    async def check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
            canary_guard.check_text(f"HTTP {response.status_code} body", response.text)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [check]}
    ) as c:
        yield c


@pytest.fixture
def operator(operator_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_key}"}


@dataclass
class Tenant:
    account_id: str
    admin: dict[str, str]


@pytest.fixture
def make_tenant(client: httpx.AsyncClient, operator: dict[str, str]) -> Callable[..., Any]:
    """Create an account with an admin API key; returns its id and admin headers."""

    async def factory(name: str = "Tenant", policy: dict[str, Any] | None = None) -> Tenant:
        body: dict[str, Any] = {"name": name}
        if policy is not None:
            body["policy"] = policy
        r = await client.post("/v1/accounts", json=body, headers=operator)
        assert r.status_code == 201, r.text
        account_id = r.json()["id"]
        r = await client.post(
            f"/v1/accounts/{account_id}/api-keys", json={"name": "admin"}, headers=operator
        )
        assert r.status_code == 201, r.text
        return Tenant(account_id, {"Authorization": f"Bearer {r.json()['key']}"})

    return factory
