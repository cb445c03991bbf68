"""Local sign-in (embedded/demo mode): POST /v1/sessions with email and password."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from calgate.clock import FrozenClock
from calgate.services import identity

from .conftest import SignedIn, assert_problem
from support.canary import canary

Tenant = Any


async def test_sign_in_with_the_right_password(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
    clock: FrozenClock,
) -> None:
    t = await make_tenant()
    u = await make_user(t, "Alice@Example.com")

    r = await client.post(
        "/v1/sessions", json={"email": "alice@example.com", "password": u.password}
    )

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["id"] == u.user_id
    assert body["user"]["email"] == "alice@example.com"  # stored lower-case
    assert body["expires_at"] == (clock.now() + timedelta(seconds=900)).isoformat().replace(
        "+00:00", "Z"
    )
    assert u.password not in r.text
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["id"] == u.user_id
    assert me.json()["has_password"] is True


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant()
    await make_user(t, "alice@example.com")

    wrong = await client.post(
        "/v1/sessions", json={"email": "alice@example.com", "password": canary("guess")}
    )
    unknown = await client.post(
        "/v1/sessions", json={"email": "nobody@example.com", "password": canary("guess")}
    )

    assert assert_problem(wrong, 401) == assert_problem(unknown, 401)
    assert wrong.json()["detail"] == "email or password is wrong"


async def test_unknown_email_costs_a_password_check(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing-safe path: an unknown email still runs one scrypt verification (against a
    dummy hash), so the response time does not tell registered emails apart."""
    checked: list[str | None] = []
    real = identity.verify_password

    def spy(password: str, encoded: str | None) -> bool:
        checked.append(encoded)
        return real(password, encoded)

    monkeypatch.setattr(identity, "verify_password", spy)

    r = await client.post("/v1/sessions", json={"email": "nobody@example.com", "password": "x" * 9})

    assert_problem(r, 401)
    assert checked == [None]


async def test_user_without_a_password_cannot_sign_in_locally(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    t = await make_tenant()
    await client.post(
        f"/v1/accounts/{t.account_id}/users", json={"email": "sso@example.com"}, headers=t.admin
    )
    r = await client.post("/v1/sessions", json={"email": "sso@example.com", "password": "x" * 9})
    assert_problem(r, 401)


async def test_same_email_in_two_accounts(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    a, b = await make_tenant("A"), await make_tenant("B")
    in_a = await make_user(a, "dual@example.com")
    in_b = await make_user(b, "dual@example.com")

    # the password picks the account when it is right in only one of them
    r = await client.post(
        "/v1/sessions", json={"email": "dual@example.com", "password": in_b.password}
    )
    assert r.status_code == 201
    assert r.json()["user"]["id"] == in_b.user_id
    # a wrong password reveals nothing about the email being in several accounts
    r = await client.post("/v1/sessions", json={"email": "dual@example.com", "password": "x" * 9})
    assert_problem(r, 401)
    # account_id chooses explicitly
    r = await client.post(
        "/v1/sessions",
        json={"email": "dual@example.com", "password": in_a.password, "account_id": a.account_id},
    )
    assert r.json()["user"]["id"] == in_a.user_id
    r = await client.post(
        "/v1/sessions",
        json={"email": "dual@example.com", "password": in_a.password, "account_id": b.account_id},
    )
    assert_problem(r, 401)


async def test_ambiguous_email_and_password_needs_account_id(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]]
) -> None:
    password = canary("password")
    for name in ("A", "B"):
        t = await make_tenant(name)
        r = await client.post(
            f"/v1/accounts/{t.account_id}/users",
            json={"email": "same@example.com", "password": password},
            headers=t.admin,
        )
        assert r.status_code == 201

    r = await client.post("/v1/sessions", json={"email": "same@example.com", "password": password})

    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "account_id"


async def test_session_expires(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
    clock: FrozenClock,
) -> None:
    u = await make_user(await make_tenant())
    assert (await client.get("/v1/me", headers=u.headers)).status_code == 200

    clock.advance(seconds=901)

    body = assert_problem(await client.get("/v1/me", headers=u.headers), 401)
    assert "expired" in body["detail"]


async def test_session_of_a_deleted_user_is_refused(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    t = await make_tenant()
    u = await make_user(t)
    await client.delete(f"/v1/accounts/{t.account_id}/users/{u.user_id}", headers=t.admin)

    assert_problem(await client.get("/v1/me", headers=u.headers), 401)


async def test_tampered_session_token_is_refused(
    client: httpx.AsyncClient,
    make_tenant: Callable[..., Awaitable[Tenant]],
    make_user: Callable[..., Awaitable[SignedIn]],
) -> None:
    u = await make_user(await make_tenant())
    token = u.headers["Authorization"].removeprefix("Bearer ")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {tampered}"})
    assert_problem(r, 401)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "body"),
        ({"password": "x" * 9}, "body"),
        ({}, "body"),
        ({"email": "a@example.com", "password": "x" * 9, "remember": True}, "remember"),
        ({"email": "a@example.com", "password": "x" * 9, "account_id": "nope"}, "account_id"),
    ],
)
async def test_malformed_sign_in_names_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/v1/sessions", json=body)
    assert field in [e["field"] for e in assert_problem(r, 422)["errors"]]


async def test_local_server_refuses_id_tokens_with_a_clear_message(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/v1/sessions", json={"id_token": "eyJ.x.y"})
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "email"
    assert "email and password" in body["detail"]
