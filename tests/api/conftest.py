"""API test helpers: users in a tenant, signing in, problem+json checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest

from calgate.api.problems import PROBLEM_JSON

from support.canary import canary


class TenantLike(Protocol):
    account_id: str
    admin: dict[str, str]


@dataclass
class SignedIn:
    user_id: str
    email: str
    password: str
    headers: dict[str, str]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status and a useful detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert len(body["detail"]) > 5
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def make_user(
    client: httpx.AsyncClient,
) -> Callable[..., Awaitable[SignedIn]]:
    """Create a user with a password in ``tenant`` and sign them in (local sign-in)."""

    async def factory(
        tenant: TenantLike, email: str = "user@example.com", group_id: str | None = None
    ) -> SignedIn:
        password = canary("password")
        body: dict[str, Any] = {"email": email, "password": password}
        if group_id is not None:
            body["group_id"] = group_id
        r = await client.post(
            f"/v1/accounts/{tenant.account_id}/users", json=body, headers=tenant.admin
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        r = await client.post(
            "/v1/sessions",
            json={"email": email, "password": password, "account_id": tenant.account_id},
        )
        assert r.status_code == 201, r.text
        return SignedIn(user_id, email, password, {"Authorization": f"Bearer {r.json()['token']}"})

    return factory
