"""The ``calgate`` command as a user runs it: version, help, one-line errors, serve, migrate."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import uuid

import httpx
import pytest

from calgate import __version__
from calgate.persistence.migrate import head_revision

from .conftest import Cli, Result, free_port
from support.canary import canary

pytestmark = pytest.mark.slow


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) +\S+: ")


def _one_line_error(result: Result, *needles: str) -> str:
    """Exit 1 and exactly one error line on stderr, `calgate: …`, last, with no traceback.
    (`serve` may have logged a few ordinary records before it gave up.)"""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr_lines
    assert lines, result.stdout
    line = lines[-1]
    assert line.startswith("calgate: "), result.stderr
    assert all(LOG_LINE.match(other) for other in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in line, line
    return line


def test_version(cli: Cli) -> None:
    r = cli.run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"calgate {__version__}"


def test_help_lists_every_verb(cli: Cli) -> None:
    r = cli.run("--help")
    assert r.returncode == 0
    for verb in ("serve", "worker", "demo", "sandbox", "migrate", "keys", "audit", "client"):
        assert verb in r.stdout
    r = cli.run("keys", "--help")
    for verb in ("generate", "status", "rotate", "rewrap"):
        assert verb in r.stdout


def test_client_never_takes_the_password_on_the_command_line(cli: Cli) -> None:
    r = cli.run("client", "--help")
    assert r.returncode == 0
    for option in ("--url", "--email", "--password-stdin", "--once", "--refresh-minutes"):
        assert option in r.stdout
    r = cli.run("client", "--email", "a@example.com", "--password", "x")
    assert r.returncode == 2
    assert "No such option" in r.stderr


def test_unknown_verb_is_a_usage_error(cli: Cli) -> None:
    r = cli.run("frobnicate")
    assert r.returncode == 2
    assert r.stderr_lines == ["calgate: No such command 'frobnicate'. (see `calgate --help`)"]


def test_a_mistyped_option_is_one_line_naming_the_verbs_help(cli: Cli) -> None:
    r = cli.run("keys", "rotate", "--frobnicate")
    assert r.returncode == 2
    assert r.stderr_lines == [
        "calgate: No such option: --frobnicate (see `calgate keys rotate --help`)"
    ]
    assert r.stdout == ""


def test_a_verb_group_alone_shows_its_help(cli: Cli) -> None:
    r = cli.run("keys")
    assert r.returncode == 2
    for verb in ("generate", "status", "rotate", "rewrap"):
        assert verb in r.stdout


def test_serve_refuses_plain_http_on_a_public_address_R4(cli: Cli) -> None:
    port = free_port()
    r = cli.run("serve", "--host", "0.0.0.0", "--port", str(port))
    line = _one_line_error(r, "refusing to serve plain HTTP on 0.0.0.0")
    assert "--tls-cert" in line
    assert "--behind-proxy" in line
    assert not (cli.home / "data").exists()  # refused before touching anything


def test_serve_needs_both_tls_files(cli: Cli) -> None:
    _one_line_error(cli.run("serve", "--tls-cert", "cert.pem"), "--tls-cert and --tls-key")


def test_serve_with_unreadable_tls_files(cli: Cli) -> None:
    r = cli.run("serve", "--tls-cert", "missing.pem", "--tls-key", "missing.key")
    _one_line_error(r, "cannot load TLS certificate/key")


def test_bad_setting_is_one_line_naming_the_variable(cli: Cli) -> None:
    short = "cgcanary-too-short"
    r = cli.run("serve", CALGATE_OPERATOR_KEY=short)
    line = _one_line_error(r, "CALGATE_OPERATOR_KEY", "at least 32 characters")
    assert short not in line


def test_production_without_keys_is_one_line(cli: Cli) -> None:
    r = cli.run("migrate", CALGATE_ENV="production")
    _one_line_error(r, "production needs", "CALGATE_OPERATOR_KEY")


def test_debug_shows_the_traceback(cli: Cli) -> None:
    r = cli.run("--debug", "serve", "--host", "0.0.0.0")
    assert r.returncode == 1
    assert "Traceback" in r.stderr
    assert "ConfigurationError" in r.stderr


def test_busy_port_is_one_line(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli.run("serve", "--port", str(port))
    _one_line_error(r, f"cannot listen on 127.0.0.1:{port}")


def test_migrate_creates_the_embedded_database(cli: Cli) -> None:
    r = cli.run("migrate", "--check")
    _one_line_error(r, "is at nothing", f"head is {head_revision()}")

    r = cli.run("migrate")
    assert r.returncode == 0, r.stderr
    assert f"empty → {head_revision()}" in r.stdout

    r = cli.run("migrate", "--check")
    assert r.returncode == 0
    assert f"is current ({head_revision()})" in r.stdout
    db = cli.home / "data" / "calgate.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_serve_embedded_answers_and_stops_cleanly(cli: Cli) -> None:
    operator_key = canary("operator-key")
    port = free_port()

    server = cli.start("serve", "--port", str(port), CALGATE_OPERATOR_KEY=operator_key)

    health = httpx.get(f"{server.base_url}/healthz")
    assert health.json()["version"] == __version__
    assert httpx.get(f"{server.base_url}/readyz").json()["database"] == "ok"
    auth = {"Authorization": f"Bearer {operator_key}"}
    r = httpx.post(f"{server.base_url}/v1/accounts", json={"name": "E2E"}, headers=auth)
    assert r.status_code == 201, r.text
    r = httpx.get(f"{server.base_url}/v1/accounts/not-a-uuid", headers=auth)
    assert r.headers["content-type"] == "application/problem+json"
    # the embedded database was created and migrated on start, readable by its owner only
    # (password hashes, audit log), like the generated secret key file
    data = cli.home / "data"
    for name in ("secret.key", "calgate.db", "calgate.db-wal", "calgate.db-shm"):
        assert (data / name).stat().st_mode & 0o777 == 0o600, name
    assert not (data / "operator.key").exists()  # configured, not generated

    assert cli.stop(server) == 130  # Ctrl-C: the shell convention, after a graceful shutdown
    output = server.output()
    assert "Traceback" not in output
    assert "Finished server process" in output
    assert "calgate stopped" in output  # the runtime was closed
    cli.guard.watch_file(data / "calgate.db")


def test_serve_stops_cleanly_on_sigterm(cli: Cli) -> None:
    """What systemd, Kubernetes and `docker stop` send: a graceful shutdown, the runtime
    closed (the embedded database's write-ahead log checkpointed away), exit 0."""
    server = cli.start("serve", "--port", str(free_port()))
    assert httpx.get(f"{server.base_url}/readyz").json()["database"] == "ok"
    assert cli.stop(server, sig=signal.SIGTERM) == 0
    output = server.output()
    assert "Finished server process" in output
    assert "calgate stopped" in output
    assert "Traceback" not in output
    assert not (cli.home / "data" / "calgate.db-wal").exists()


def test_json_logs(cli: Cli) -> None:
    port = free_port()
    server = cli.start("serve", "--port", str(port), CALGATE_LOG_FORMAT="json")
    httpx.get(f"{server.base_url}/healthz")
    cli.stop(server)

    records = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    assert records, server.output()
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/healthz" in r["message"] for r in access)


def test_audit_verify_finds_an_edited_entry_R3(cli: Cli) -> None:
    operator_key = canary("operator-key")
    server = cli.start("serve", "--port", str(free_port()), CALGATE_OPERATOR_KEY=operator_key)
    auth = {"Authorization": f"Bearer {operator_key}"}
    account = httpx.post(f"{server.base_url}/v1/accounts", json={"name": "A"}, headers=auth).json()
    httpx.post(f"{server.base_url}/v1/accounts", json={"name": "B"}, headers=auth)
    cli.stop(server)

    r = cli.run("audit", "verify")
    assert r.returncode == 0, r.stderr
    assert f"ok      account:{account['id']}  (1 entries)" in r.stdout
    assert r.stdout.count("ok      account:") == 2

    db = cli.home / "data" / "calgate.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE audit_events SET details = '{}' WHERE chain = ?", (f"account:{account['id']}",)
        )

    r = cli.run("audit", "verify")
    line = _one_line_error(r, "1 of 2 audit chains failed verification")
    assert f"account:{account['id']} at entry 1" in line
    assert f"BROKEN  account:{account['id']}  at entry 1: entry 1 was altered" in r.stdout

    r = cli.run("audit", "verify", "--account", account["id"], "--json")
    assert json.loads(r.stdout.splitlines()[0])["first_bad_seq"] == 1
    _one_line_error(cli.run("audit", "verify", "--account", str(uuid.uuid4())), "no account")
