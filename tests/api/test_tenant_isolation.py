"""Tenant isolation for every route that takes an id: another tenant's ids answer 404
problem+json, exactly like ids that do not exist — never 403, never 200.

The routes are enumerated from the app's own OpenAPI document, so a route added later is
either covered here (create its kind of id in ``_build_tenant`` and, if it takes a body, add
an example to ``BODIES``) or this test fails and names it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from calgate.api.routes.connection_schemas import encode_event_id
from calgate.bootstrap import Runtime
from calgate.connections.store import ConnectionStore
from calgate.meetings.trust import TrustKind, link_identity

from .conftest import SignedIn, assert_problem

EVENT = {
    "summary": "Hijacked",
    "start": {"date_time": "2026-12-01T10:00:00+00:00"},
    "end": {"date_time": "2026-12-01T11:00:00+00:00"},
}

# A schema-valid body for every route that takes one, so that the request gets past
# validation and reaches the tenancy check.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/accounts/{account_id}"): {"name": "Hijacked"},
    ("PATCH", "/v1/accounts/{account_id}/policy"): {"calendar_access": "read"},
    ("POST", "/v1/accounts/{account_id}/api-keys"): {"name": "intruder"},
    ("POST", "/v1/accounts/{account_id}/groups"): {"name": "Intruders"},
    ("PATCH", "/v1/accounts/{account_id}/groups/{group_id}"): {"name": "Hijacked"},
    ("PATCH", "/v1/accounts/{account_id}/groups/{group_id}/policy"): {"bidirectional_sync": True},
    ("POST", "/v1/accounts/{account_id}/users"): {"email": "intruder@example.com"},
    ("PATCH", "/v1/accounts/{account_id}/users/{user_id}"): {"display_name": "Hijacked"},
    ("PUT", "/v1/accounts/{account_id}/scheduling-auth"): {"entra_tenants": []},
    ("PATCH", "/v1/meetings/{meeting_id}"): {"subject": "Hijacked"},
    ("PUT", "/v1/accounts/{account_id}/providers/{provider}"): {
        "client_id": "intruder",
        "client_secret": "intruder-secret",
    },
    ("POST", "/v1/me/connections/{connection_id}/events"): EVENT,
    ("PUT", "/v1/me/connections/{connection_id}/events/{event_id}"): EVENT,
}

# Routes whose path ids are not tenant data: the public join page (anyone with the link).
NOT_TENANT_SCOPED: set[tuple[str, str]] = {
    ("GET", "/j/{meeting_id}"),
    ("POST", "/v1/me/connections/{provider}/authorize"),  # a provider name, not tenant data
}
# Path parameters that name a kind of thing, not a row (so no foreign value exists).
NOT_IDS = {"provider"}

# Routes for a signed-in user's own things (meetings, linked add-in identities): exercised
# with the other tenant's *user*, since admin keys are not users there.
USER_SCOPED: set[tuple[str, str]] = {
    ("GET", "/v1/meetings/{meeting_id}"),
    ("PATCH", "/v1/meetings/{meeting_id}"),
    ("DELETE", "/v1/meetings/{meeting_id}"),
    ("DELETE", "/v1/me/scheduling-identities/{identity_id}"),
    ("DELETE", "/v1/me/connections/{connection_id}"),
    ("POST", "/v1/me/connections/{connection_id}/events"),
    ("PUT", "/v1/me/connections/{connection_id}/events/{event_id}"),
    ("DELETE", "/v1/me/connections/{connection_id}/events/{event_id}"),
}


@dataclass
class World:
    """Two tenants, each with one of everything; ``ids[tenant][param]``."""

    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    admin: dict[str, dict[str, str]] = field(default_factory=dict)
    user: dict[str, SignedIn] = field(default_factory=dict)


async def _build_tenant(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Any]],
    make_user: Callable[..., Awaitable[SignedIn]],
    name: str,
    runtime: Runtime,
) -> tuple[dict[str, str], dict[str, str], SignedIn]:
    t = await make_tenant(name)
    r = await client.post(
        f"/v1/accounts/{t.account_id}/groups", json={"name": "Group"}, headers=t.admin
    )
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]
    user = await make_user(t, f"someone@{name.lower()}.example", group_id=group_id)
    r = await client.post(
        f"/v1/accounts/{t.account_id}/api-keys", json={"name": "spare"}, headers=t.admin
    )
    assert r.status_code == 201, r.text
    key_id = r.json()["id"]
    r = await client.post(
        "/v1/meetings",
        json={
            "subject": "Board meeting",
            "start_date": "2026-12-01",
            "start_time": "10:00",
            "time_zone": "Europe/Berlin",
            "duration_minutes": 30,
        },
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    async with runtime.uow() as uow:  # an add-in identity, as linking an add-in token leaves
        linked = await link_identity(
            uow.session,
            account_id=uuid.UUID(t.account_id),
            user_id=uuid.UUID(user.user_id),
            kind=TrustKind.ENTRA,
            issuer=str(uuid.uuid4()),
            subject=str(uuid.uuid4()),
            now=runtime.clock.now(),
        )
        await uow.commit()
    connection_id = uuid.uuid4()
    async with runtime.uow() as uow:  # a calendar connection, as connecting one leaves
        now = runtime.clock.now()
        await ConnectionStore(uow.session).add(
            id=connection_id,
            account_id=uuid.UUID(t.account_id),
            user_id=uuid.UUID(user.user_id),
            provider="google",
            subject=f"someone@{name.lower()}.example",
            scopes=[],
            token_scopes=[],
            status="active",
            token_version=1,
            created_at=now,
            updated_at=now,
        )
        await uow.commit()
    ids = {
        "account_id": t.account_id,
        "group_id": group_id,
        "user_id": user.user_id,
        "key_id": key_id,
        "meeting_id": str(r.json()["id"]),
        "identity_id": str(linked.id),
        "connection_id": str(connection_id),
        "event_id": encode_event_id("calendars/primary/events/e1"),
        "provider": "google",
    }
    return ids, t.admin, user


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Any]],
    make_user: Callable[..., Awaitable[SignedIn]],
    runtime: Runtime,
) -> World:
    w = World()
    for name in ("A", "B"):
        w.ids[name], w.admin[name], w.user[name] = await _build_tenant(
            client, make_tenant, make_user, name, runtime
        )
    return w


def _id_routes(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(METHOD, path template, path params) of every documented route that takes an id."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        params = re.findall(r"{(\w+)}", path)
        if not params:
            continue
        for method in sorted(operations):
            found.append((method.upper(), path, params))
    return found


def _url(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], path)


def test_every_route_with_an_id_is_covered(app: FastAPI) -> None:
    known = {"account_id", "group_id", "user_id", "key_id", "meeting_id", "identity_id"}
    known |= {"connection_id", "event_id", *NOT_IDS}
    uncovered = [
        f"{method} {path}"
        for method, path, params in _id_routes(app)
        if (method, path) not in NOT_TENANT_SCOPED
        and (
            not set(params) <= known
            or (method in {"POST", "PUT", "PATCH"} and (method, path) not in BODIES)
        )
    ]
    assert uncovered == [], (
        "routes taking ids that the tenant-isolation test cannot exercise yet: teach "
        "tests/api/test_tenant_isolation.py their ids (World) and bodies (BODIES)"
    )
    assert len(_id_routes(app)) >= 20


async def _call(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], path: str
) -> httpx.Response:
    body = BODIES.get((method, path))
    return await client.request(method, url, json=body, headers=headers)


async def test_another_tenants_ids_answer_404(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Tenant B's admin uses tenant A's ids: 404 for every route, and nothing in A changes."""
    routes = [r for r in _id_routes(app) if (r[0], r[1]) not in NOT_TENANT_SCOPED | USER_SCOPED]
    before = (
        await client.get(
            f"/v1/accounts/{world.ids['A']['account_id']}/audit", headers=world.admin["A"]
        )
    ).json()["items"]
    for method, path, _ in routes:
        r = await _call(client, method, _url(path, world.ids["A"]), world.admin["B"], path)
        body = assert_problem(r, 404)
        assert "not found" in body["detail"], (method, path, body)

    # Nothing in tenant A was touched (its audit log is the best witness).
    a = world.ids["A"]
    after = (
        await client.get(f"/v1/accounts/{a['account_id']}/audit", headers=world.admin["A"])
    ).json()["items"]
    assert after == before
    r = await client.get(
        f"/v1/accounts/{a['account_id']}/users/{a['user_id']}", headers=world.admin["A"]
    )
    assert r.status_code == 200
    assert r.json()["display_name"] != "Hijacked"


async def test_own_account_with_another_tenants_child_ids_answers_404(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Tenant B's admin, in B's own account, names one of A's groups, users or keys."""
    checked = 0
    for method, path, params in _id_routes(app):
        ids_in_path = [p for p in params if p not in NOT_IDS]
        if len(ids_in_path) < 2 or (method, path) in NOT_TENANT_SCOPED | USER_SCOPED:
            continue
        ids = {**world.ids["A"], "account_id": world.ids["B"]["account_id"]}
        r = await _call(client, method, _url(path, ids), world.admin["B"], path)
        assert_problem(r, 404)
        checked += 1
    assert checked >= 10


async def test_another_tenants_user_gets_404_for_user_scoped_ids(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Tenant B's user names tenant A's meetings and linked identities: 404, nothing changes."""
    checked = 0
    for method, path, _ in _id_routes(app):
        if (method, path) not in USER_SCOPED:
            continue
        r = await _call(client, method, _url(path, world.ids["A"]), world.user["B"].headers, path)
        assert "not found" in assert_problem(r, 404)["detail"], (method, path)
        checked += 1
    assert checked == len(USER_SCOPED)
    a = world.user["A"].headers
    meeting = await client.get(f"/v1/meetings/{world.ids['A']['meeting_id']}", headers=a)
    assert (meeting.json()["subject"], meeting.json()["status"]) == ("Board meeting", "scheduled")
    linked = (await client.get("/v1/me/scheduling-identities", headers=a)).json()
    assert [x["id"] for x in linked] == [world.ids["A"]["identity_id"]]


async def test_unknown_ids_answer_exactly_like_foreign_ones(
    client: httpx.AsyncClient, world: World
) -> None:
    b = world.admin["B"]
    foreign = await client.get(f"/v1/accounts/{world.ids['A']['account_id']}", headers=b)
    unknown = await client.get(f"/v1/accounts/{uuid.uuid4()}", headers=b)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json().keys() == unknown.json().keys()
    assert foreign.json()["type"] == unknown.json()["type"]


async def test_list_accounts_shows_an_admin_only_their_own(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    r = await client.get("/v1/accounts", headers=world.admin["B"])
    assert [a["id"] for a in r.json()] == [world.ids["B"]["account_id"]]

    r = await client.get("/v1/accounts", headers=operator)
    assert {a["id"] for a in r.json()} >= {
        world.ids["A"]["account_id"],
        world.ids["B"]["account_id"],
    }


async def test_operator_only_routes_refuse_account_admins(
    client: httpx.AsyncClient, world: World
) -> None:
    b = world.admin["B"]
    r = await client.post("/v1/accounts", json={"name": "Mine now"}, headers=b)
    assert "operator" in assert_problem(r, 403)["detail"]
    r = await client.delete(f"/v1/accounts/{world.ids['B']['account_id']}", headers=b)
    assert "operator" in assert_problem(r, 403)["detail"]
    # and with another tenant's id it is simply not found
    r = await client.delete(f"/v1/accounts/{world.ids['A']['account_id']}", headers=b)
    assert_problem(r, 404)


async def test_operator_may_act_in_any_account(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    a = world.ids["A"]
    r = await client.get(f"/v1/accounts/{a['account_id']}/users/{a['user_id']}", headers=operator)
    assert r.status_code == 200
    r = await client.get(f"/v1/accounts/{a['account_id']}/audit", headers=operator)
    assert r.status_code == 200


async def test_users_cannot_use_admin_routes(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """A signed-in user of tenant A: 403 on A's admin routes, 404 on B's, 403 on the list."""
    user = world.user["A"].headers
    for method, path, _ in _id_routes(app):
        if (method, path) in NOT_TENANT_SCOPED | USER_SCOPED:
            continue
        r = await _call(client, method, _url(path, world.ids["A"]), user, path)
        assert_problem(r, 403)
        r = await _call(client, method, _url(path, world.ids["B"]), user, path)
        assert_problem(r, 404)
    assert_problem(await client.get("/v1/accounts", headers=user), 403)
    assert_problem(await client.post("/v1/accounts", json={"name": "x"}, headers=user), 403)


async def test_admins_and_the_operator_are_not_users(
    client: httpx.AsyncClient, world: World, operator: dict[str, str]
) -> None:
    assert_problem(await client.get("/v1/me", headers=world.admin["A"]), 403)
    assert_problem(await client.get("/v1/me", headers=operator), 403)
    r = await client.get("/v1/me", headers=world.user["A"].headers)
    assert r.status_code == 200
    assert r.json()["id"] == world.user["A"].user_id


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer cgak_revoked-or-unknown-key-000",
        "Bearer x.y.z",
    ],
)
async def test_bad_credentials_answer_401(
    client: httpx.AsyncClient, world: World, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    r = await client.get(f"/v1/accounts/{world.ids['A']['account_id']}", headers=headers)
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
