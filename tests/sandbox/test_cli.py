"""`calgate sandbox`: a real process serving the emulators over HTTP on loopback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_calgate_sandbox_serves_and_prints_what_a_developer_needs() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "calgate.cli", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner ends with the health line, then uvicorn serves
            lines.append(line)
            if line.startswith("health:"):
                break
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/google" in banner
        assert "000000000000-calgate-sandbox.apps.googleusercontent.com" in banner
        assert "alice@example.com" in banner
        assert "-----BEGIN" not in banner  # the service account key is served, never printed
        deadline = time.monotonic() + 10
        while True:  # the banner comes just before uvicorn binds the port
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/_sandbox/healthz", timeout=2)
                break
            except httpx.ConnectError:
                assert proc.poll() is None, "calgate sandbox exited"
                assert time.monotonic() < deadline, "calgate sandbox did not start"
                time.sleep(0.05)
        assert r.json()["status"] == "ok"
        assert "google" in r.json()["emulators"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()


def test_calgate_sandbox_refuses_non_loopback() -> None:
    from calgate.cli import main

    assert main(["sandbox", "--host", "0.0.0.0", "--port", str(_free_port())]) == 1
