"""`calgate demo`: starts on localhost with seeded demo data, says where to look, keeps the
generated credentials in a private file, and reuses its data the next time."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from .conftest import Cli, free_port
from support.canary import canary

pytestmark = pytest.mark.slow


def _credentials(data_dir: Path) -> dict[str, object]:
    path = data_dir / "demo-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def test_demo_starts_seeds_and_reuses_its_data(cli: Cli) -> None:
    data_dir = cli.home / "demo-data"
    port = free_port()
    # a configured operator key (with the canary marker) must never be printed
    operator_key = canary("operator-key")

    first = cli.start(
        "demo", "--port", str(port), "--data-dir", str(data_dir),
        CALGATE_OPERATOR_KEY=operator_key,
    )  # fmt: skip
    base = first.base_url

    banner = first.output()
    assert "calgate demo (seeded demo account" in banner
    assert f"http://127.0.0.1:{port}" in banner
    assert f"curl http://127.0.0.1:{port}/healthz" in banner
    assert str(data_dir / "demo-credentials.json") in banner
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"

    creds = _credentials(data_dir)
    key = str(creds["admin_api_key"])
    assert key.startswith("cgak_")
    assert key not in banner  # secrets go to the file, never to the terminal
    users = creds["users"]
    assert isinstance(users, list)
    assert all(str(u["password"]) not in banner for u in users)

    admin = {"Authorization": f"Bearer {key}"}
    accounts = httpx.get(f"{base}/v1/accounts", headers=admin).json()
    assert [a["id"] for a in accounts] == [creds["account_id"]]
    assert accounts[0]["name"] == "Acme Video (demo)"
    account = creds["account_id"]

    listed = httpx.get(f"{base}/v1/accounts/{account}/users", headers=admin).json()["items"]
    assert {u["email"] for u in listed} == {u["email"] for u in users}
    groups = httpx.get(f"{base}/v1/accounts/{account}/groups", headers=admin).json()
    assert {g["name"] for g in groups} == {"Engineering", "Sales"}

    # a demo user signs in with the generated password and has an explained policy
    alice = next(u for u in users if u["email"] == "alice@example.com")
    r = httpx.post(
        f"{base}/v1/sessions", json={"email": alice["email"], "password": alice["password"]}
    )
    assert r.status_code == 201, r.text
    eff = httpx.get(
        f"{base}/v1/accounts/{account}/users/{alice['id']}/effective-policy", headers=admin
    ).json()["policy"]
    assert (eff["bidirectional_sync"]["value"], eff["bidirectional_sync"]["source"]) == (
        True,
        "group",
    )
    assert cli.stop(first) == 130
    assert "Traceback" not in first.output()

    # second run: same data, same key, nothing seeded twice
    second = cli.start(
        "demo", "--port", str(port), "--data-dir", str(data_dir),
        CALGATE_OPERATOR_KEY=operator_key,
    )  # fmt: skip
    assert f"reusing demo account {account}" in second.output()
    assert httpx.get(f"{base}/v1/accounts", headers=admin).json()[0]["id"] == account
    assert _credentials(data_dir) == creds
    operator = {"Authorization": f"Bearer {operator_key}"}
    assert len(httpx.get(f"{base}/v1/accounts", headers=operator).json()) == 1
    cli.stop(second)
    cli.guard.watch_file(data_dir / "calgate.db")


def test_demo_generates_development_keys_privately(cli: Cli) -> None:
    data_dir = cli.home / "demo-data"
    server = cli.start("demo", "--port", str(free_port()), "--data-dir", str(data_dir))

    for name in ("operator.key", "secret.key", "demo-credentials.json"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    operator_key = (data_dir / "operator.key").read_text().strip()
    assert operator_key not in server.output()
    cli.stop(server)


def test_demo_refuses_production(cli: Cli) -> None:
    r = cli.run("demo", "--port", str(free_port()), CALGATE_ENV="production")
    assert r.returncode == 1
    assert r.stderr_lines == [
        "calgate: `calgate demo` is for development; unset CALGATE_ENV=production"
    ]


def test_demo_port_in_use_is_one_line(cli: Cli) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli.run("demo", "--port", str(port), "--data-dir", str(cli.home / "d"))
    assert r.returncode == 1
    assert r.stderr_lines == [f"calgate: cannot listen on 127.0.0.1:{port}: Address already in use"]
