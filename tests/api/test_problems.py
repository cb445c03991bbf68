"""Every error leaving the API is application/problem+json with a useful detail: malformed
JSON, invalid and unknown fields, unknown routes, wrong methods, conflicts and bugs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from .conftest import assert_problem
from support.canary import CanaryGuard

Tenant = Any


async def test_malformed_json_is_a_400_problem(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/accounts",
        content=b'{"name": "Acme",',
        headers={**operator, "content-type": "application/json"},
    )
    body = assert_problem(r, 400)
    assert body["type"].endswith("/malformed-json")
    assert body["detail"].startswith("request body is not valid JSON")


async def test_invalid_field_is_a_422_problem_naming_the_field(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    r = await client.post("/v1/accounts", json={"name": ""}, headers=operator)
    body = assert_problem(r, 422)
    assert body["type"].endswith("/invalid-input")
    assert [e["field"] for e in body["errors"]] == ["name"]
    assert body["detail"].startswith("name: ")


async def test_nested_and_several_invalid_fields_are_all_named(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    r = await client.post(
        "/v1/accounts",
        json={"policy": {"contacts_access": "all", "bidirectional_sync": "maybe"}},
        headers=operator,
    )
    fields = {e["field"] for e in assert_problem(r, 422)["errors"]}
    assert fields == {"name", "policy.contacts_access", "policy.bidirectional_sync"}


async def test_unknown_field_is_refused_by_name(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    r = await client.post("/v1/accounts", json={"name": "Acme", "plan": "gold"}, headers=operator)
    body = assert_problem(r, 422)
    assert body["errors"] == [
        {"field": "plan", "message": "unknown field; it is not accepted here"}
    ]


async def test_submitted_values_are_not_echoed(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    """A rejected value may be a secret pasted in the wrong place: never sent back."""
    t = await make_tenant()
    r = await client.post(
        f"/v1/accounts/{t.account_id}/users",
        json={"email": "not-an-email-SECRETVALUE", "password": "short"},
        headers=t.admin,
    )
    body = assert_problem(r, 422)
    assert {e["field"] for e in body["errors"]} == {"email", "password"}
    assert "SECRETVALUE" not in r.text
    assert "short" not in r.text.replace("too short", "").replace("shorter", "")


async def test_missing_body_and_wrong_json_type(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    r = await client.post("/v1/accounts", headers=operator)
    assert assert_problem(r, 422)["errors"] == [
        {"field": "body", "message": "a JSON body is required"}
    ]
    r = await client.post("/v1/accounts", json=["Acme"], headers=operator)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["body"]


async def test_invalid_path_and_query_parameters_are_named(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    r = await client.get("/v1/accounts/not-a-uuid", headers=t.admin)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["path.account_id"]
    r = await client.get(f"/v1/accounts/{t.account_id}/users?limit=0", headers=t.admin)
    assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["query.limit"]


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    body = assert_problem(r, 404)
    assert body["detail"] == "no such resource: GET /v1/nothing-here"


async def test_wrong_method_is_a_405_problem_listing_the_allowed(
    client: httpx.AsyncClient,
) -> None:
    r = await client.delete("/healthz")
    body = assert_problem(r, 405)
    assert body["detail"].startswith("DELETE is not allowed on /healthz")
    assert "GET" in r.headers["allow"]


async def test_conflict_is_a_409_problem(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    groups = f"/v1/accounts/{t.account_id}/groups"
    await client.post(groups, json={"name": "Sales"}, headers=t.admin)
    r = await client.post(groups, json={"name": "Sales"}, headers=t.admin)
    assert assert_problem(r, 409)["detail"] == "a user group named 'Sales' already exists"


async def test_renaming_onto_a_taken_name_is_a_409_not_a_500(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    base = f"/v1/accounts/{t.account_id}"
    await client.post(f"{base}/groups", json={"name": "Sales"}, headers=t.admin)
    other = (await client.post(f"{base}/groups", json={"name": "Ops"}, headers=t.admin)).json()
    r = await client.patch(f"{base}/groups/{other['id']}", json={"name": "Sales"}, headers=t.admin)
    assert_problem(r, 409)

    await client.post(f"{base}/users", json={"email": "a@example.com"}, headers=t.admin)
    b = (
        await client.post(f"{base}/users", json={"email": "b@example.com"}, headers=t.admin)
    ).json()
    r = await client.patch(
        f"{base}/users/{b['id']}", json={"email": "A@example.com"}, headers=t.admin
    )
    assert "a@example.com" in assert_problem(r, 409)["detail"]


@pytest.fixture
async def raw_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client`` but lets the app answer a crash instead of re-raising it here."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


INTERNAL = "internal-detail-connection-string-postgres://u:pw@db"


async def test_a_bug_is_a_500_problem_with_request_id_and_no_internals(
    app: FastAPI, raw_client: httpx.AsyncClient, canary_guard: CanaryGuard
) -> None:
    async def boom() -> None:
        raise RuntimeError(INTERNAL)

    app.add_api_route("/_test/boom", boom)

    r = await raw_client.get("/_test/boom", headers={"X-Request-ID": "req-4711"})

    body = assert_problem(r, 500)
    assert body["request_id"] == "req-4711"
    assert "req-4711" in body["detail"]
    assert r.headers["x-request-id"] == "req-4711"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert INTERNAL not in r.text
    assert "RuntimeError" not in r.text
    # the server log has the details, once, under the same request id
    logged = [line for line in canary_guard.records if "req-4711" in line]
    assert len(logged) == 1
    assert any("RuntimeError" in line or INTERNAL in line for line in canary_guard.records)


async def test_a_broken_dependency_is_a_500_problem(
    app: FastAPI, raw_client: httpx.AsyncClient
) -> None:
    def broken() -> str:
        raise KeyError(INTERNAL)

    async def uses(value: str = Depends(broken)) -> str:
        return value

    app.add_api_route("/_test/broken-dependency", uses)

    r = await raw_client.get("/_test/broken-dependency")

    body = assert_problem(r, 500)
    assert len(body["request_id"]) >= 16  # generated when the client sent none
    assert r.headers["x-request-id"] == body["request_id"]
    assert INTERNAL not in r.text


async def test_responses_carry_a_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32
