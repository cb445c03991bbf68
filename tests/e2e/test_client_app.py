"""The reference client as its own process: memory only (C1), nothing of tokens or events in
its logs (C6), and the ``calgate client`` command's one-line errors. calgate and the
provider sandbox are served on loopback by the test; the user's calendars are connected
through calgate's flow and the client vends its tokens from calgate, which hands out API
base URLs on the served sandbox. The client runs in a subprocess with an empty HOME and
TMPDIR and an audit hook on file creation and writes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from calgate.bootstrap import Runtime

from support.canary import MARKER, canary
from support.client_fixtures import *  # noqa: F403 - the client fixtures
from support.client_fixtures import User, publish, seed_event
from support.client_world import SANDBOX, ClientWorld
from support.live import serve_app
from support.settings import IsolatedSettings

HARNESS = Path(__file__).with_name("client_harness.py")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    file_events: list[str]


@pytest.fixture
async def sandbox_url(world: ClientWorld) -> AsyncIterator[str]:
    async with serve_app(world.app) as url:
        yield url


@pytest.fixture
def settings(
    make_settings: Callable[..., IsolatedSettings],
    calgate_apps: dict[str, Any],
    sandbox_url: str,
) -> IsolatedSettings:
    """calgate as in the other client tests (OAuth at the in-process sandbox), vending the
    provider API base URLs of the served sandbox, which the client's process can reach."""
    return make_settings(
        heartbeat_seconds=0.5,
        sandbox_url=SANDBOX,
        google_api_base_url=f"{sandbox_url}/google/calendar/v3",
        microsoft_graph_base_url=f"{sandbox_url}/microsoft/graph/v1.0",
        **calgate_apps,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    home, tmp, cwd = tmp_path / "home", tmp_path / "tmp", tmp_path / "cwd"
    for d in (home, tmp, cwd):
        d.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
        "COLUMNS": "200",
        "TZ": "UTC",
    }


async def _start(cfg: dict[str, object], tmp_path: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HARNESS),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_env(tmp_path), cwd=tmp_path / "cwd",
    )  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(cfg).encode() + b"\n")
    await proc.stdin.drain()
    proc.stdin.close()
    return proc


async def _finish(proc: asyncio.subprocess.Process, out: bytes = b"") -> Run:
    async with asyncio.timeout(60):
        rest, err = await proc.communicate()
    stdout = (out + rest).decode()
    lines = stdout.strip().splitlines()
    assert lines, err.decode()[-3000:]
    found: list[str] = json.loads(lines[-1])["file_events"]  # the harness's last word
    return Run(proc.returncode or 0, stdout, err.decode(), found)


def _assert_nothing_written(tmp_path: Path) -> None:
    for d in ("home", "tmp", "cwd"):
        assert list((tmp_path / d).iterdir()) == [], f"the client left files in {d}"


async def test_the_client_writes_no_file_and_logs_no_content_C1_C6(
    tmp_path: Path,
    world: ClientWorld,
    sandbox_url: str,
    calgate_url: str,
    runtime: Runtime,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    subject, body = canary("subject"), canary("body")
    (gid,), _ = await world.seed(
        seed_event(
            subject,
            body=f"{body}\n{calgate_url}/j/12345678901",
            location=f"Room {MARKER}",
            attendees=[{"email": f"bob-{MARKER}@example.com", "display_name": f"Bob {MARKER}"}],
        )
    )
    cfg = {"url": calgate_url, "email": user.email, "password": user.password}
    proc = await _start(cfg, tmp_path)
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        ready = await proc.stdout.readline()
    assert ready == b"READY\n", ready + (await proc.communicate())[1]
    renamed = canary("renamed-subject")
    await world.rename(gid, None, renamed)
    await publish(runtime, user, "calendar.changed", connected["google"])
    run = await _finish(proc, ready)

    assert run.code == 0, run.stderr[-3000:]
    # The data went through the client: shown on its screen (stdout)…
    assert renamed in run.stdout
    assert subject in run.stdout  # the Microsoft copy, unchanged
    assert f"{calgate_url}/j/12345678901" in run.stdout
    # …its logs ran at DEBUG and said what it did…
    assert "calgate.client.core" in run.stderr
    assert "notification stream open (websocket" in run.stderr
    assert "vended credentials for 2 connection(s)" in run.stderr  # from calgate
    # …but never a token, a password or event content (C6): not the access tokens calgate
    # vended it (served from calgate's cache, so the same ones vended here).
    assert MARKER not in run.stderr
    r = await client.get("/v1/me/credentials", headers=session)
    assert r.status_code == 200, r.text
    vended = {c["provider"]: c for c in r.json()["connections"]}
    assert {p: c["api_base_url"] for p, c in vended.items()} == {
        "google": f"{sandbox_url}/google/calendar/v3",
        "microsoft": f"{sandbox_url}/microsoft/graph/v1.0",
    }
    tokens = [c["access_token"] for c in vended.values()]
    assert all(tokens)
    for secret in [*tokens, user.password]:
        assert secret not in run.stderr
    # And it created or wrote no file, anywhere (C1).
    assert run.file_events == []
    _assert_nothing_written(tmp_path)


async def test_the_audit_hook_sees_a_file_write(tmp_path: Path) -> None:
    """The C1 probe can fail: the same harness reports a file the process writes."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        f"import runpy, sys; sys.argv=['h']; g = runpy.run_path({str(HARNESS)!r}, "
        "run_name='probe'); open('written.txt', 'w').close(); print(g['EVENTS'])",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_env(tmp_path), cwd=tmp_path / "cwd",
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert "open for writing: 'written.txt'" in out.decode()


async def _cli(tmp_path: Path, argv: list[str], password: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "calgate.cli", *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_env(tmp_path), cwd=tmp_path / "cwd",
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate(password.encode() + b"\n")
    return Run(proc.returncode or 0, out.decode(), err.decode(), [])


async def test_wrong_password_is_one_line(tmp_path: Path, calgate_url: str, user: User) -> None:
    wrong = canary("wrong-password")
    argv = ["client", "--url", calgate_url, "--email", user.email, "--password-stdin", "--once"]
    run = await _cli(tmp_path, argv, wrong)
    assert run.code == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("calgate: sign-in refused: ")
    assert MARKER not in run.stdout + run.stderr
    _assert_nothing_written(tmp_path)


async def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    from support.processes import free_port

    url = f"http://127.0.0.1:{free_port()}"
    argv = ["client", "--url", url, "--email", "a@example.com", "--password-stdin", "--once"]
    run = await _cli(tmp_path, argv, canary("password"))
    assert run.code == 1
    assert (
        run.stderr.strip()
        == f"calgate: cannot reach calgate at {url}: All connection attempts failed"
    )
