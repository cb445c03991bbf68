#!/usr/bin/env python3
"""A sample Outlook plugin's side of the R13 path: schedule a meeting through the calgate
desktop app's local IPC endpoint (JSON-RPC 2.0 over a Unix socket), then put the join
information into the appointment.

A real plugin (a COM add-in in Outlook for Windows, an AppleScript/JXA bridge on macOS)
reads the open appointment's subject, start, time zone and recurrence, sends exactly those
(R11: nothing else — no body, no attendees), and writes the returned invitation into the
appointment's body. The plugin holds no credentials: the app schedules with its own
session. Standard library only, so it can ship inside any plugin.

    calgate client --ipc &            # the app, signed in, serving the endpoint
    python examples/outlook_plugin.py --subject "Design review" \\
        --start 2026-12-01T10:00 --time-zone "W. Europe Standard Time" --duration 30

Prints the meeting as JSON (id, join_url, passcode, invitation). Exit 1 with one line on
stderr when the app refuses (the JSON-RPC error's message), 2 when no app is listening.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def default_socket() -> Path:
    """Where ``calgate client --ipc`` listens unless told otherwise."""
    given = os.environ.get("CALGATE_CLIENT_SOCKET")
    if given:
        return Path(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "calgate" / "client.sock"
    tmp = next((v for v in map(os.environ.get, ("TMPDIR", "TEMP", "TMP")) if v), "/tmp")  # noqa: S108
    return Path(tmp) / f"calgate-{os.getuid()}" / "client.sock"


def call(path: Path, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
    """One JSON-RPC request, one answer (a line each way)."""
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as answers:
            line = answers.readline()
    if not line:
        raise ConnectionError("the app closed the connection without answering")
    answer = json.loads(line)
    if "error" in answer:
        raise RuntimeError(answer["error"].get("message", "the app refused"))
    return answer["result"]


def appointment_fields(args: argparse.Namespace) -> dict[str, Any]:
    """What a plugin reads from the open appointment — and only that (R11)."""
    start = datetime.fromisoformat(args.start)
    fields: dict[str, Any] = {
        "subject": args.subject,
        "start_date": start.date().isoformat(),
        "start_time": start.strftime("%H:%M"),
        "time_zone": args.time_zone,
        "duration_minutes": args.duration,
        "recurring": bool(args.rrule),
    }
    if args.rrule:
        fields["recurrence_rule"] = args.rrule
    return fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subject", required=True)
    parser.add_argument("--start", required=True, help="local start, e.g. 2026-12-01T10:00")
    parser.add_argument("--time-zone", required=True, help="IANA or Windows zone name")
    parser.add_argument("--duration", type=int, default=30, help="minutes")
    parser.add_argument("--rrule", default="", help="RRULE of a series, e.g. FREQ=WEEKLY")
    parser.add_argument("--socket", type=Path, default=None, help="the app's endpoint")
    args = parser.parse_args(argv)
    path = args.socket or default_socket()
    try:
        meeting = call(path, "schedule_meeting", appointment_fields(args))
    except (FileNotFoundError, ConnectionRefusedError):
        print(f"no calgate app is serving {path}: start `calgate client --ipc`", file=sys.stderr)
        return 2
    except (RuntimeError, ConnectionError, TimeoutError) as exc:
        print(f"not scheduled: {exc}", file=sys.stderr)
        return 1
    # A real plugin now sets appointment.Body / Location from meeting["invitation"] and
    # meeting["join_url"]; this sample prints them.
    print(json.dumps(meeting, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
