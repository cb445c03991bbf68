"""Change notifications end to end, over real HTTP between real processes (R9, C1, C3, C6):
``calgate serve`` (jobs in process), the provider sandbox firing real webhooks, and the
reference client app in its own process (empty HOME/TMPDIR, an audit hook on file writes).

An event changed through the sandbox's control API → the sandbox's webhook → calgate
stores and acknowledges it, syncs, publishes → the client app is notified over its stream
and its refetch from the provider shows the change. ``calgate client --once`` (token vending
by calgate) shows a connected user's meetings without writing a file or logging content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import Cli, Server, free_port
from support.canary import MARKER, canary
from support.connect import browser_history_hidden
from support.sandbox_process import SandboxProcess, spawn_sandbox

pytestmark = pytest.mark.slow

GOOGLE_USER, MS_USER = "alice@example.com", "alice@contoso.example"
HARNESS = Path(__file__).with_name("client_harness.py")


@pytest.fixture(autouse=True)
def _browser_history() -> Iterator[None]:
    with browser_history_hidden():
        yield


def setup_user(http: httpx.Client, base: str, operator_key: str) -> tuple[str, str, str]:
    """An account, alice with a password; returns (account id, password, session token)."""
    operator = {"Authorization": f"Bearer {operator_key}"}
    account = http.post(f"{base}/v1/accounts", json={"name": "Acme"}, headers=operator).json()["id"]
    password = canary("password")
    admin_key = http.post(
        f"{base}/v1/accounts/{account}/api-keys", json={"name": "admin"}, headers=operator
    ).json()["key"]
    r = http.post(
        f"{base}/v1/accounts/{account}/users",
        json={"email": "alice@acme.example", "password": password},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert r.status_code == 201, r.text
    session = http.post(
        f"{base}/v1/sessions", json={"email": "alice@acme.example", "password": password}
    ).json()["token"]
    return account, password, session


def connect(http: httpx.Client, base: str, session: str, provider: str, login: str) -> str:
    r = http.post(
        f"{base}/v1/me/connections/{provider}/authorize",
        json={"login_hint": login},
        headers={"Authorization": f"Bearer {session}"},
    )
    assert r.status_code == 200, r.text
    done = http.get(r.json()["authorization_url"])  # browser: start → consent → callback
    assert done.status_code == 200, done.text
    return str(done.json()["connection_id"])


def wait_until(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)  # other processes give no event to await
    raise AssertionError(f"timed out waiting for {what}")


def subscribed(http: httpx.Client, sandbox: str) -> bool:
    channels = http.get(f"{sandbox}/_sandbox/google/channels").json()
    graph = http.get(f"{sandbox}/_sandbox/microsoft/subscriptions").json()
    return bool(channels) and bool(graph)


def start_serve(cli: Cli, port: int, sandbox: SandboxProcess, operator_key: str) -> Server:
    base = f"http://127.0.0.1:{port}"
    return cli.start(
        "serve", "--port", str(port),
        CALGATE_PUBLIC_URL=base,
        CALGATE_SANDBOX_URL=sandbox.url,
        CALGATE_OPERATOR_KEY=operator_key,
        CALGATE_LOG_LEVEL="DEBUG",
        CALGATE_JOBS_POLL_SECONDS="0.2",
    )  # fmt: skip


def client_env(tmp_path: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "COLUMNS": "200",
        "TZ": "UTC",
    }
    for name in ("home", "tmp", "cwd"):
        (tmp_path / name).mkdir(exist_ok=True)
    env["HOME"], env["TMPDIR"] = str(tmp_path / "home"), str(tmp_path / "tmp")
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def nothing_written(tmp_path: Path) -> None:
    for name in ("home", "tmp", "cwd"):
        assert list((tmp_path / name).iterdir()) == [], f"the client left files in {name}"


def test_a_change_at_the_provider_reaches_the_client_app_R9_C3(cli: Cli, tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    operator_key = canary("operator-key")
    with spawn_sandbox(
        tmp_path, port=sandbox_port, marker=MARKER, redirects=(f"{base}/v1/oauth/callback",)
    ) as sandbox:
        server = start_serve(cli, port, sandbox, operator_key)
        sb = sandbox.url
        with httpx.Client(timeout=30, follow_redirects=True) as http:
            _, password, session = setup_user(http, base, operator_key)
            connect(http, base, session, "google", GOOGLE_USER)
            connect(http, base, session, "microsoft", MS_USER)
            wait_until("subscriptions at both providers", lambda: subscribed(http, sb))

            cfg = {"url": base, "email": "alice@acme.example", "password": password}
            subject = canary("subject")
            cfg["wait_subject"] = subject
            client_dir = tmp_path / "client"
            client_dir.mkdir()
            proc = subprocess.Popen(
                [sys.executable, str(HARNESS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=client_env(client_dir),
                cwd=client_dir / "cwd",
                text=True,
            )
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write(json.dumps(cfg) + "\n")
            proc.stdin.close()
            proc.stdin = None  # closed: communicate() must not flush it
            assert proc.stdout.readline() == "READY\n"

            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
            r = http.post(
                f"{sb}/_sandbox/google/calendars/{GOOGLE_USER}/events",
                json={
                    "summary": subject,
                    "start": {"dateTime": start.isoformat()},
                    "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
                },
            )
            assert r.status_code == 201, r.text
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert subject in out  # the refetch after the notification shows the change
        assert json.loads(out.strip().splitlines()[-1])["file_events"] == []  # C1
        nothing_written(client_dir)
        assert MARKER not in err  # C6: no token, password or event content in its logs
        assert "notification" in err

        with httpx.Client(timeout=10) as http:
            deliveries = http.get(f"{sb}/_sandbox/deliveries", params={"provider": "google"})
            exists = [d for d in deliveries.json() if d["kind"] == "watch.exists"]
            assert [d["last_status"] for d in exists] == [200]
            metrics = http.get(f"{base}/metrics").text
        assert 'calgate_webhooks_received_total{kind="exists",provider="google"} 1.0' in metrics
        cli.stop(server)


def test_calgate_client_once_shows_the_vended_calendar_C1_C6(cli: Cli, tmp_path: Path) -> None:
    port, sandbox_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    operator_key = canary("operator-key")
    with spawn_sandbox(
        tmp_path, port=sandbox_port, marker=MARKER, redirects=(f"{base}/v1/oauth/callback",)
    ) as sandbox:
        server = start_serve(cli, port, sandbox, operator_key)
        with httpx.Client(timeout=30, follow_redirects=True) as http:
            _, password, session = setup_user(http, base, operator_key)
            connect(http, base, session, "microsoft", MS_USER)
            subject = canary("subject")
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
            r = http.post(
                f"{sandbox.url}/_sandbox/microsoft/users/{MS_USER}/events",
                json={
                    "subject": subject,
                    "body": {"contentType": "text", "content": canary("body")},
                    "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "end": {
                        "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "timeZone": "UTC",
                    },
                },
            )
            assert r.status_code == 201, r.text
        client_dir = tmp_path / "client"
        client_dir.mkdir()
        argv = [
            "client", "--url", base, "--email", "alice@acme.example", "--password-stdin",
            "--once", "--verbose",
        ]  # fmt: skip
        done = subprocess.run(
            [sys.executable, str(HARNESS)],
            input=json.dumps({"cli": True, "argv": argv}) + "\n" + password + "\n",
            capture_output=True,
            text=True,
            env=client_env(client_dir),
            cwd=client_dir / "cwd",
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert subject in done.stdout  # the user's meeting, fetched with a vended token
        assert json.loads(done.stdout.strip().splitlines()[-1])["file_events"] == []  # C1
        nothing_written(client_dir)
        assert MARKER not in done.stderr  # C6
        assert password not in done.stderr
        cli.stop(server)
