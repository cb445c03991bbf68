"""The Outlook-plugin path and bi-directional sync over real HTTP between real processes
(R13, R12, R8, C1): ``calgate serve`` (jobs in process), the provider sandbox firing real
webhooks, ``calgate client --ipc`` in its own process (empty HOME/TMPDIR, an audit hook on
file writes) and the sample plugin ``examples/outlook_plugin.py`` in another.

The plugin asks the app to schedule; the app schedules with its own session; the
appointment (written by Outlook, here through the sandbox's user API) carries the join
link; the user moves it 45 days later in their calendar and calgate's meeting follows."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from .conftest import Cli, free_port
from .test_push import (  # noqa: F401 - _browser_history: the test browser's own log lines
    GOOGLE_USER,
    HARNESS,
    _browser_history,
    client_env,
    connect,
    nothing_written,
    setup_user,
    start_serve,
    wait_until,
)
from support.canary import MARKER, canary
from support.sandbox_process import spawn_sandbox

pytestmark = pytest.mark.slow

PLUGIN = Path(__file__).parents[2] / "examples" / "outlook_plugin.py"


def lines_of(stream: object) -> queue.Queue[str]:
    """The lines a process writes, as they come (its stderr is read in a thread)."""
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            found.put(line)
        found.put("")

    threading.Thread(target=pump, daemon=True).start()
    return found


def endpoint(found: queue.Queue[str], seen: list[str], timeout: float = 60) -> Path:
    while True:
        line = found.get(timeout=timeout)
        seen.append(line)
        if not line:
            raise AssertionError("the app exited: " + "".join(seen)[-3000:])
        if line.startswith("plugin endpoint: "):
            return Path(line.removeprefix("plugin endpoint: ").strip())


def test_plugin_app_calgate_and_the_calendar_follow_each_other_R13_R12(
    cli: Cli, tmp_path: Path
) -> None:
    port, sandbox_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    operator_key = canary("operator-key")
    operator = {"Authorization": f"Bearer {operator_key}"}
    with spawn_sandbox(
        tmp_path, port=sandbox_port, marker=MARKER, redirects=(f"{base}/v1/oauth/callback",)
    ) as sandbox:
        server = start_serve(cli, port, sandbox, operator_key)
        sb = sandbox.url
        with httpx.Client(timeout=30, follow_redirects=True) as http:
            account, password, session = setup_user(http, base, operator_key)
            user = {"Authorization": f"Bearer {session}"}
            r = http.patch(
                f"{base}/v1/accounts/{account}/policy",
                json={"bidirectional_sync": True},
                headers=operator,
            )
            assert r.status_code == 200, r.text
            connect(http, base, session, "google", GOOGLE_USER)
            wait_until(
                "a Google channel", lambda: http.get(f"{sb}/_sandbox/google/channels").json()
            )

            # the desktop app, serving the plugin endpoint
            client_dir = tmp_path / "client"
            client_dir.mkdir()
            argv = ["client", "--url", base, "--email", "alice@acme.example",
                    "--password-stdin", "--ipc", "--verbose"]  # fmt: skip
            app = subprocess.Popen(
                [sys.executable, str(HARNESS)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=client_env(client_dir),
                cwd=client_dir / "cwd",
                text=True,
            )
            assert app.stdin is not None
            app.stdin.write(json.dumps({"cli": True, "argv": argv}) + "\n" + password + "\n")
            app.stdin.close()
            app.stdin = None
            seen: list[str] = []
            sock = endpoint(lines_of(app.stderr), seen)
            assert sock.is_relative_to(client_dir / "tmp")  # private, in the app's TMPDIR
            assert oct(sock.stat().st_mode & 0o777) == "0o600"

            # the plugin, as its own process, with the appointment's fields
            start = (datetime.now(UTC) + timedelta(days=1)).replace(
                hour=9, minute=0, second=0, microsecond=0
            )
            plugin = subprocess.run(
                [sys.executable, str(PLUGIN), "--subject", "Design review",
                 "--start", start.strftime("%Y-%m-%dT%H:%M"), "--time-zone", "UTC",
                 "--duration", "30", "--socket", str(sock)],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert plugin.returncode == 0, plugin.stderr
            meeting = json.loads(plugin.stdout)
            got = http.get(f"{base}/v1/meetings/{meeting['id']}", headers=user).json()
            assert got["subject"] == "Design review"
            assert got["start"] == start.isoformat().replace("+00:00", "Z")

            # Outlook writes the appointment with the invitation; the user moves it 45 days
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            made = http.post(
                f"{sb}/_sandbox/google/calendars/{GOOGLE_USER}/events",
                json={
                    "summary": "Design review",
                    "description": meeting["invitation"],
                    "location": meeting["join_url"],
                    "start": {"dateTime": start.strftime(fmt)},
                    "end": {"dateTime": (start + timedelta(minutes=30)).strftime(fmt)},
                },
            )
            assert made.status_code == 201, made.text
            later = start + timedelta(days=45)
            moved = http.patch(
                f"{sb}/_sandbox/google/calendars/{GOOGLE_USER}/events/{made.json()['id']}",
                json={
                    "start": {"dateTime": later.strftime(fmt)},
                    "end": {"dateTime": (later + timedelta(minutes=30)).strftime(fmt)},
                },
            )
            assert moved.status_code == 200, moved.text
            want = later.isoformat().replace("+00:00", "Z")

            def followed() -> bool:
                m = http.get(f"{base}/v1/meetings/{meeting['id']}", headers=user).json()
                return bool(m["start"] == want)

            wait_until("the meeting to follow its event", followed)
            after = http.get(f"{base}/v1/meetings/{meeting['id']}", headers=user).json()
            expected = (later + timedelta(days=30)).isoformat().replace("+00:00", "Z")
            assert after["expires_at"] == expected

            app.send_signal(signal.SIGINT)
            out, _ = app.communicate(timeout=60)
        cli.stop(server)
    assert not sock.exists()  # removed on exit
    # the harness's last word (the live table's last line has no newline when interrupted)
    events = json.loads('{"file_events"' + out.rsplit('{"file_events"', 1)[1])["file_events"]
    assert events, "the socket's directory and mode are set through the file system"
    assert all(str(sock.parent) in e for e in events), events  # nothing but the socket (C1)
    nothing_written(client_dir)
    assert MARKER not in "".join(seen)  # C6: no token or password in the app's log
