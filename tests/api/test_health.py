"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re

import httpx

from calgate import __version__
from calgate.bootstrap import Runtime
from calgate.persistence.db import create_engine

from .conftest import assert_problem


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__}


async def test_readyz_checks_the_database(client: httpx.AsyncClient, backend: str) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "database": "ok"}


async def test_readyz_is_503_when_the_database_is_gone(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The database server goes away: nothing listens where the engine connects now.
    working = runtime.engine
    runtime.engine = create_engine("postgresql+asyncpg://calgate@127.0.0.1:9/calgate")
    try:
        r = await client.get("/readyz")
        body = assert_problem(r, 503)
        assert body["detail"] == "the database does not answer"
        assert (await client.get("/healthz")).status_code == 200  # still alive
    finally:
        await runtime.engine.dispose()
        runtime.engine = working
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/v1/accounts/7f1c0000-0000-0000-0000-000000000000")  # 401, templated
    await client.get("/no/such/route")

    r = await client.get("/metrics")

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(
        r'calgate_http_requests_total\{method="GET",route="/healthz",status="200"\} 1\.0', text
    )
    assert 'route="/v1/accounts/{account_id}",status="401"' in text
    assert 'route="unmatched",status="404"' in text
    assert "7f1c0000" not in text  # ids never become labels
    assert "calgate_http_request_duration_seconds_bucket" in text
    assert "calgate_auth_failures_total 1.0" in text
    assert f'calgate_build_info{{version="{__version__}"}} 1.0' in text


async def test_openapi_lists_the_routes(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "calgate"
    assert doc["info"]["version"] == __version__
    paths = doc["paths"]
    for path, method in [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/sessions", "post"),
        ("/v1/me", "get"),
        ("/v1/accounts", "post"),
        ("/v1/accounts/{account_id}/policy", "patch"),
        ("/v1/accounts/{account_id}/groups/{group_id}/policy", "patch"),
        ("/v1/accounts/{account_id}/users/{user_id}/effective-policy", "get"),
        ("/v1/accounts/{account_id}/api-keys/{key_id}", "delete"),
        ("/v1/accounts/{account_id}/audit", "get"),
        ("/v1/accounts/{account_id}/audit/verify", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from OpenAPI"
    assert "404" in paths["/v1/accounts/{account_id}"]["get"]["responses"]
