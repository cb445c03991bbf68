"""`calgate demo` serves the provider sandbox beside calgate and connects the demo users to
both sandbox providers through the real OAuth flow; its printed recipe vends their tokens."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import httpx
import pytest

from .conftest import Cli, Server, free_port

pytestmark = pytest.mark.slow


def _wait_for(server: Server, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = server.output()
        if text in output:
            return output
        assert server.process.poll() is None, output
        time.sleep(0.05)  # a subprocess's output gives no event to await
    raise AssertionError(f"{text!r} never appeared:\n{server.output()[-3000:]}")


def test_demo_users_are_connected_to_both_sandbox_providers(cli: Cli) -> None:
    data_dir = cli.home / "demo-data"
    port = free_port()
    server = cli.start("demo", "--port", str(port), "--data-dir", str(data_dir))
    output = _wait_for(server, "  stop         Ctrl-C")
    for user in ("alice", "bob", "carol"):
        assert (
            f"{user}@example.com → google {user}@example.com, microsoft {user}@contoso.example"
            in output
        )
    assert "sandbox      http://127.0.0.1:" in output
    access = [line for line in output.splitlines() if "uvicorn.access" in line]
    assert access  # calgate's own requests are logged…
    sandbox_lines = [line for line in access if re.search(r'"[A-Z]+ /(google|microsoft)/', line)]
    assert sandbox_lines == []  # the sandbox's own request lines are not calgate's log

    creds = json.loads((data_dir / "demo-credentials.json").read_text())
    bob = next(u for u in creds["users"] if u["email"] == "bob@example.com")
    assert bob["password"] not in output
    base = f"http://127.0.0.1:{port}"
    session = httpx.post(
        f"{base}/v1/sessions", json={"email": bob["email"], "password": bob["password"]}
    ).json()["token"]
    vended = httpx.get(
        f"{base}/v1/me/credentials", headers={"Authorization": f"Bearer {session}"}
    ).json()["connections"]
    assert {c["provider"]: c["status"] for c in vended} == {
        "google": "active",
        "microsoft": "active",
    }
    # Bob's group (Sales) reads only: his tokens are read-only (R7).
    assert {c["permissions"]["calendar"] for c in vended} == {"read"}
    for c in vended:
        path = "/calendars/primary" if c["provider"] == "google" else "/me/events"
        r = httpx.get(
            c["api_base_url"] + path, headers={"Authorization": f"Bearer {c['access_token']}"}
        )
        assert r.status_code == 200

    if shutil.which("curl") and shutil.which("bash"):
        lines = output.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("  vend "))
        recipe = "\n".join(line[15:] for line in lines[start : start + 3])
        done = subprocess.run(
            ["bash", "-c", recipe], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["connections"][0]["status"] == "active"
    assert cli.stop(server) == 130

    # The next run connects the new sandbox's accounts (it started afresh), replacing the
    # connections to the old one.
    again = cli.start("demo", "--port", str(port), "--data-dir", str(data_dir))
    _wait_for(again, "  stop         Ctrl-C")
    session = httpx.post(
        f"{base}/v1/sessions", json={"email": bob["email"], "password": bob["password"]}
    ).json()["token"]
    vended2 = httpx.get(
        f"{base}/v1/me/credentials", headers={"Authorization": f"Bearer {session}"}
    ).json()["connections"]
    assert {c["provider"]: c["status"] for c in vended2} == {
        "google": "active",
        "microsoft": "active",
    }
    cli.stop(again)
