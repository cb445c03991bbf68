"""Real calgate processes for end-to-end tests: ``calgate serve`` (or any subcommand) in a
subprocess on a free loopback port, with an explicit environment (never the test runner's),
waited for until ``/healthz`` answers.

    with spawn_serve(env, tmp_path) as server:
        httpx.get(f"{server.url}/healthz")
    canary_guard.check_text("serve log", server.log())
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "base_env", "free_port", "run_calgate", "spawn_serve"]

_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**calgate: str) -> dict[str, str]:
    """A minimal environment: PATH and friends, plus the given ``CALGATE_*`` values."""
    env = {k: os.environ[k] for k in _KEEP if k in os.environ}
    env.update(calgate)
    return env


def run_calgate(args: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run ``calgate ARGS`` to completion; return its output or fail with it."""
    done = subprocess.run(
        [sys.executable, "-m", "calgate.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"calgate {' '.join(args)} exited {done.returncode}:\n{output}")
    return output


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> int:
        """Ctrl-C (SIGINT), then SIGKILL after ``timeout``; returns the exit code (130 after
        a graceful Ctrl-C shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


@contextmanager
def spawn_serve(
    env: Mapping[str, str],
    workdir: Path,
    *,
    args: Sequence[str] = (),
    command: str = "serve",
    startup_timeout: float = 60,
    name: str = "serve",
) -> Iterator[ServerProcess]:
    """Start ``calgate serve --port P ARGS`` and yield once ``/healthz`` answers 200; the
    process is stopped (SIGINT, then SIGKILL) on exit. Output goes to ``<workdir>/<name>.log``."""
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        log_path = workdir / f"{name}-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "calgate.cli", command, "--port", str(port), *args],
                env=dict(env),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        if process.poll() is None and time.monotonic() < deadline:
            try:
                yield server
            finally:
                server.stop()
            return
        server.stop()
        last_error = server.log()[-3000:]
        if "cannot listen" not in last_error:
            break
    raise AssertionError(f"calgate {command} did not become healthy:\n{last_error}")
