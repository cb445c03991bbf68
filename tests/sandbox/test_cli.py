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
        metadata = f"http://127.0.0.1:{port}/exchange/autodiscover/metadata/json/1"
        assert f"metadata_url {metadata}" in banner
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
        document = httpx.get(metadata, timeout=2)  # the printed URL is the one it serves
        assert document.status_code == 200
        assert document.json()["keys"], document.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()


def test_the_banner_shows_public_clients_and_the_exchange_metadata_url() -> None:
    """The Outlook add-in's registration is a public client (NAA): no secret to print, so
    it says so instead of a blank `secret`; the Exchange emulator's identity-token metadata
    URL is printed for an account's scheduling-auth settings; and how to point calgate at
    the sandbox."""
    from calgate.sandbox.app import create_sandbox_app
    from calgate.sandbox.microsoft.naa import SANDBOX_ADDIN_CLIENT_ID
    from calgate.sandbox.serve import banner_lines

    base = "http://127.0.0.1:8090"
    lines = banner_lines(create_sandbox_app(), base)

    addin = [line for line in lines if SANDBOX_ADDIN_CLIENT_ID in line]
    assert addin == [
        f"  client       {SANDBOX_ADDIN_CLIENT_ID}  public client, no secret: "
        "calgate Outlook add-in (sandbox)"
    ]
    clients = [line for line in lines if line.startswith("  client ")]
    assert len(clients) == 3  # Google's, Microsoft's confidential one, the add-in
    for line in clients:
        if line not in addin:
            assert "  secret " in line, line
            assert "not-a-real-secret" in line, line
            assert not line.rstrip().endswith("secret"), line
    metadata = [line for line in lines if line.startswith("  metadata_url ")]
    assert len(metadata) == 1
    assert metadata[0].split()[1] == f"{base}/exchange/autodiscover/metadata/json/1"
    assert "scheduling-auth" in metadata[0]
    assert any(f"CALGATE_SANDBOX_URL={base} " in line for line in lines)


def test_calgate_sandbox_refuses_non_loopback() -> None:
    from calgate.cli import main

    assert main(["sandbox", "--host", "0.0.0.0", "--port", str(_free_port())]) == 1
