"""Calendar connections end to end, over real HTTP between real processes: ``calgate serve``
and the provider sandbox (tokens marked with the canary), a user's app and browser driven
with httpx.

connect → vend → expire → refresh → provider-side revocation → ``reauth_required``;
reconnect; admin removal deletes the secret rows (checked in the raw SQLite file) and
revokes the grant at Google."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Cli, free_port
from support.canary import MARKER, canary
from support.connect import browser_history_hidden
from support.sandbox_process import spawn_sandbox

pytestmark = pytest.mark.slow

GOOGLE_USER, MS_USER = "alice@example.com", "alice@contoso.example"


def _connect(http: httpx.Client, base: str, session: str, provider: str, login: str) -> str:
    r = http.post(
        f"{base}/v1/me/connections/{provider}/authorize",
        json={"login_hint": login},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert r.status_code == 200, r.text
    done = http.get(r.json()["authorization_url"])  # browser: start → consent → callback
    assert done.status_code == 200, done.text
    return str(done.json()["connection_id"])


def _vend(http: httpx.Client, base: str, session: str, **params: str) -> httpx.Response:
    return http.get(
        f"{base}/v1/me/credentials", params=params, headers={"Authorization": f"Bearer {session}"}
    )


def _by_provider(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {c["provider"]: c for c in response.json()["connections"]}


def _counter(http: httpx.Client, sandbox: str, provider: str, name: str) -> int:
    return int(
        http.get(f"{sandbox}/_sandbox/counters", params={"provider": provider}).json().get(name, 0)
    )


def _provider_status(http: httpx.Client, credential: dict[str, Any]) -> int:
    path = "/calendars/primary" if credential["provider"] == "google" else "/me/events"
    r = http.get(
        credential["api_base_url"] + path,
        headers={"Authorization": f"Bearer {credential['access_token']}"},
    )
    return r.status_code


def _raw(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _setup_user(http: httpx.Client, base: str, operator: dict[str, str]) -> tuple[str, dict, str]:
    r = http.post(f"{base}/v1/accounts", json={"name": "Acme"}, headers=operator)
    account = r.json()["id"]
    admin_key = http.post(
        f"{base}/v1/accounts/{account}/api-keys", json={"name": "admin"}, headers=operator
    ).json()["key"]
    admin = {"Authorization": f"Bearer {admin_key}"}
    password = canary("password")
    user = http.post(
        f"{base}/v1/accounts/{account}/users",
        json={"email": "alice@acme.example", "password": password},
        headers=admin,
    ).json()["id"]
    session = http.post(
        f"{base}/v1/sessions", json={"email": "alice@acme.example", "password": password}
    ).json()["token"]
    return account, {"admin": admin, "user": user}, session


@pytest.fixture(autouse=True)
def _browser_history() -> Iterator[None]:
    with browser_history_hidden():
        yield


def test_connect_vend_expire_refresh_revoke_reconnect_remove(cli: Cli, tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    operator_key = canary("operator-key")
    db = cli.home / "data" / "calgate.db"
    cli.guard.watch_file(db)
    with spawn_sandbox(
        tmp_path, port=sandbox_port, marker=MARKER, redirects=(f"{base}/v1/oauth/callback",)
    ) as sandbox:
        server = cli.start(
            "serve", "--port", str(port), "--no-jobs",  # exact refresh counts: no background work
            CALGATE_PUBLIC_URL=base,
            CALGATE_SANDBOX_URL=sandbox.url,
            CALGATE_OPERATOR_KEY=operator_key,
            CALGATE_LOG_LEVEL="DEBUG",
        )  # fmt: skip
        with httpx.Client(timeout=30, follow_redirects=True) as http:
            sb = sandbox.url
            account, ids, session = _setup_user(
                http, base, {"Authorization": f"Bearer {operator_key}"}
            )

            # Google issues tokens that expire at once: the first vend must refresh.
            http.patch(f"{sb}/_sandbox/google/settings", json={"access_token_ttl": 1})
            google_id = _connect(http, base, session, "google", GOOGLE_USER)
            ms_id = _connect(http, base, session, "microsoft", MS_USER)
            http.patch(f"{sb}/_sandbox/google/settings", json={"access_token_ttl": 3600})

            # vend → expire → refresh (Google: the connect-time token had expired for real)
            creds = _by_provider(_vend(http, base, session))
            assert _counter(http, sb, "google", "token.refresh") == 1
            assert creds["google"]["expires_in"] > 3000
            for c in creds.values():
                assert _provider_status(http, c) == 200
            again = _by_provider(_vend(http, base, session))
            assert again["google"]["access_token"] == creds["google"]["access_token"]  # cached
            assert _counter(http, sb, "google", "token.refresh") == 1

            # Microsoft: the provider's clock moves 2 h; the app's token is refused there,
            # so the app asks calgate for a fresh one.
            http.post(f"{sb}/_sandbox/clock", json={"action": "advance", "seconds": 7200})
            assert _provider_status(http, again["microsoft"]) == 401
            forced = _by_provider(_vend(http, base, session, force_refresh="true"))
            assert forced["microsoft"]["access_token"] != again["microsoft"]["access_token"]
            assert _provider_status(http, forced["microsoft"]) == 200
            assert _counter(http, sb, "microsoft", "token.refresh") == 1

            # Provider-side revocation (Entra admin, Workspace admin) → reauth_required.
            http.post(f"{sb}/_sandbox/google/users/{GOOGLE_USER}/revoke", json={})
            http.post(f"{sb}/_sandbox/microsoft/users/{MS_USER}/revoke", json={})
            dead = _vend(http, base, session, force_refresh="true")
            assert dead.status_code == 409, dead.text
            problem = dead.json()
            assert problem["reauth_url"].startswith(f"{base}/v1/me/connections/")
            assert {c["status"] for c in problem["connections"]} == {"reauth_required"}
            rows = _raw(db, "SELECT status FROM connections")
            assert sorted(r[0] for r in rows) == ["reauth_required", "reauth_required"]
            assert _raw(db, "SELECT count(*) FROM vault_secrets WHERE owner = 'connections'") == [
                (0,)
            ]
            assert _raw(db, "SELECT type FROM user_events ORDER BY id") == [
                ("connection.connected",),
                ("connection.connected",),
                ("connection.reauth_required",),
                ("connection.reauth_required",),
            ]

            # Reconnect, then an admin removes the integration (R6).
            assert _connect(http, base, session, "google", GOOGLE_USER) == google_id
            assert _by_provider(_vend(http, base, session))["google"]["status"] == "active"
            secrets = _raw(db, "SELECT count(*) FROM vault_secrets WHERE owner_id = ?", google_id)
            assert secrets == [(2,)]
            r = http.delete(
                f"{base}/v1/accounts/{account}/users/{ids['user']}/connections/{google_id}",
                headers=ids["admin"],
            )
            assert r.status_code == 204, r.text
            assert _raw(db, "SELECT count(*) FROM vault_secrets WHERE owner_id = ?", google_id) == [
                (0,)
            ]
            assert _counter(http, sb, "google", "revoke") == 1
            grants = http.get(f"{sb}/_sandbox/google/users/{GOOGLE_USER}/grants").json()
            assert grants[-1]["dead"] == "revoked"
            only_dead = _vend(http, base, session, connection_id=google_id)
            assert only_dead.status_code == 404
            assert "removed by an administrator" in only_dead.json()["detail"]
            assert ms_id
        assert cli.stop(server) == 130
    cli.guard.check_text("sandbox log", sandbox.log_path.read_text())
