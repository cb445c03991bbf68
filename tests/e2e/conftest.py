"""End-to-end helpers: run the real ``calgate`` command in a subprocess with an explicit
environment (never the developer's CALGATE_* variables) on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.canary import CanaryGuard, canary


def calgate_command() -> list[str]:
    """The installed console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "calgate"
    if script.exists():
        return [str(script)]
    found = shutil.which("calgate")
    return [found] if found else [sys.executable, "-m", "calgate.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@dataclass
class Server:
    process: subprocess.Popen[str]
    base_url: str
    log: Path
    out: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@dataclass
class Cli:
    """Runs ``calgate`` with a clean environment rooted in a temporary directory."""

    home: Path
    guard: CanaryGuard
    servers: list[Server] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "CALGATE_DATA_DIR": str(self.home / "data"),
        }
        if "PYTHONPATH" in os.environ:  # running from a source tree
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 60, **env: str) -> Result:
        done = subprocess.run(
            [*calgate_command(), *args],
            env=self.env(**env),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.guard.check_text(f"`calgate {' '.join(args)}` stdout", done.stdout)
        self.guard.check_text(f"`calgate {' '.join(args)}` stderr", done.stderr)
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, scheme: str = "http", wait: bool = True, **env: str) -> Server:
        """Start a long-running command that serves on ``--port``; wait until /healthz
        answers (TLS-aware) or the process exits."""
        port = args[args.index("--port") + 1]
        log = self.home / f"server-{port}-{len(self.servers)}.log"
        handle = log.open("w")
        process = subprocess.Popen(
            [*calgate_command(), *args],
            env=self.env(**env),
            cwd=self.home,
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        handle.close()
        server = Server(process, f"{scheme}://127.0.0.1:{port}", log)
        self.servers.append(server)
        if wait:
            self.wait_ready(server)
        return server

    def wait_ready(self, server: Server, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise AssertionError(f"calgate exited early:\n{server.output()}")
            try:
                # certificate checks are the TLS tests' business; here we only wait
                r = httpx.get(f"{server.base_url}/healthz", verify=False, timeout=1)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # a subprocess gives no readiness event to await
        raise AssertionError(f"calgate did not answer within {timeout}s:\n{server.output()}")

    def stop(self, server: Server, timeout: float = 20, sig: int = signal.SIGINT) -> int:
        if server.process.poll() is None:
            server.process.send_signal(sig)
            try:
                server.process.wait(timeout)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
                raise AssertionError(
                    f"calgate did not stop on SIGINT:\n{server.output()}"
                ) from None
        self.guard.check_text(f"server output {server.base_url}", server.output())
        return server.process.returncode


@pytest.fixture
def cli(tmp_path: Path, canary_guard: CanaryGuard) -> Iterator[Cli]:
    runner = Cli(tmp_path, canary_guard)
    yield runner
    for server in runner.servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        canary_guard.check_text(f"server output {server.base_url}", server.output())


@dataclass(frozen=True)
class RemoteUser:
    """A user made over real HTTP: their account, id and session header."""

    account: str
    user: str
    auth: dict[str, str]


async def sign_up(
    http: httpx.AsyncClient,
    *,
    admin_url: str,
    session_url: str,
    operator_key: str,
    email: str = "alice@acme.example",
) -> RemoteUser:
    """An account and one user made through ``admin_url`` (as the operator), signed in through
    ``session_url`` (another process, where the test wants one)."""
    operator = {"Authorization": f"Bearer {operator_key}"}
    r = await http.post(f"{admin_url}/v1/accounts", json={"name": "Acme"}, headers=operator)
    assert r.status_code == 201, r.text
    account = r.json()["id"]
    password = canary("password")
    r = await http.post(
        f"{admin_url}/v1/accounts/{account}/users",
        json={"email": email, "password": password},
        headers=operator,
    )
    assert r.status_code == 201, r.text
    user = r.json()["id"]
    r = await http.post(f"{session_url}/v1/sessions", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    return RemoteUser(account, user, {"Authorization": f"Bearer {r.json()['token']}"})


async def connect_google(
    http: httpx.AsyncClient, url: str, who: RemoteUser, login_hint: str = "alice@example.com"
) -> str:
    """Connect ``who``'s Google calendar through calgate's real OAuth flow at the sandbox
    (``http`` must follow redirects); returns the connection id."""
    r = await http.post(
        f"{url}/v1/me/connections/google/authorize",
        json={"login_hint": login_hint},
        headers=who.auth,
    )
    assert r.status_code == 200, r.text
    done = await http.get(r.json()["authorization_url"])
    assert done.status_code == 200, done.text
    return str(done.json()["connection_id"])
