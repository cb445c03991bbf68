"""Change-notification benchmark (issue #6), every figure next to a baseline measured in the
same run on this machine:

(a) webhook ingest: Google notifications POSTed to ``/webhooks/google`` (valid channel ids
    and tokens, unique message numbers), each checked, stored in the inbox, a sync job
    enqueued, then acknowledged; persisted-and-acknowledged per second and ack p99, against
    ``GET /healthz`` (a bare endpoint of the same server) with the same load generator.
(b) idle WebSocket connections: the server's resident memory per open
    ``/v1/me/notifications/ws`` stream, against a bare ``websockets`` server holding the
    same number of connections.
(c) webhook → client latency: users' apps connected over WebSocket while their calendars
    change at a steady rate through the sandbox's control API; from the change (which makes
    the sandbox POST its webhook) to the app receiving ``calendar.changed``, after which its
    refetch shows the change (one message may deliver a burst of changes: coalescing).

    python bench/notify.py            # 60 users, 10,000 idle connections, longer runs
    python bench/notify.py --quick    # under a minute
    python bench/notify.py --only-idle   # part (b) alone (with --quick: 1,000 connections)
    python bench/notify.py --only-latency   # part (c) alone
    python bench/notify.py --only-ingest    # part (a) alone

Setup: the provider sandbox (``calgate sandbox``) and ``calgate serve`` on SQLite (embedded,
jobs in process), users connected to Google through the real OAuth flow, so calgate creates
their watch channels itself. (a) and (b) run against ``serve --no-jobs`` on the same
database, so the ingest figure is the receiver's own (queued syncs are not run meanwhile);
(c) runs with the job runner, as in the embedded deployment. Load for (a): Debian's ``wrk``
(64 connections, a Lua script for per-request headers) when installed, else a raw asyncio
HTTP/1.1 generator. Targets on 2 cores with SQLite: ≥ 1,500 notifications/s, ack p99 ≤ 50 ms,
≤ 25 KiB per idle connection, webhook → client p99 ≤ 250 ms. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

CONNECTIONS = 64
GOOGLE_CLIENT = "000000000000-calgate-sandbox.apps.googleusercontent.com"
PASSWORD = "bench-password-123"
OPERATOR = "bench-operator-key-" + "x" * 32

BARE_WS = textwrap.dedent(
    """
    import asyncio, sys
    from websockets.asyncio.server import serve

    async def handler(ws):
        await ws.wait_closed()

    async def main():
        # compression off, as calgate serves its notification streams
        async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
            await asyncio.Future()

    asyncio.run(main())
    """
)

WRK_SCRIPT = """
local channels = {%s}
local n = 0
request = function()
  n = n + 1
  local c = channels[(n %% #channels) + 1]
  local headers = {}
  headers["X-Goog-Channel-ID"] = c[1]
  headers["X-Goog-Channel-Token"] = c[2]
  headers["X-Goog-Resource-ID"] = c[3]
  headers["X-Goog-Message-Number"] = tostring(%d + n)
  headers["X-Goog-Resource-State"] = "exists"
  headers["X-Goog-Resource-URI"] = "https://www.googleapis.com/calendar/v3/calendars/x/events"
  headers["Content-Length"] = "0"
  return wrk.format("POST", "/webhooks/google", headers, "")
end
"""


# processes -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def wait_tcp(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


@contextmanager
def process(
    args: list[str], env: dict[str, str], log: Path, ready: str | int
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        if isinstance(ready, int):
            wait_tcp(ready)
        else:
            wait_http(ready)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def calgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "calgate.cli", *args]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# setup ---------------------------------------------------------------------------------------
@dataclass
class User:
    email: str
    session: str
    connection_id: str


def setup_users(base: str, sandbox: str, count: int) -> list[User]:
    users: list[User] = []
    with httpx.Client(timeout=60, follow_redirects=True) as http:
        operator = {"Authorization": f"Bearer {OPERATOR}"}
        account = http.post(f"{base}/v1/accounts", json={"name": "bench"}, headers=operator)
        account.raise_for_status()
        account_id = account.json()["id"]
        for i in range(count):
            email = f"user{i}@bench.example"
            google = f"user{i}@example.com"
            http.post(
                f"{sandbox}/_sandbox/google/users",
                json={"email": google, "display_name": f"User {i}", "time_zone": "UTC"},
            ).raise_for_status()
            http.post(
                f"{base}/v1/accounts/{account_id}/users",
                json={"email": email, "password": PASSWORD},
                headers=operator,
            ).raise_for_status()
            session = http.post(
                f"{base}/v1/sessions", json={"email": email, "password": PASSWORD}
            ).json()["token"]
            r = http.post(
                f"{base}/v1/me/connections/google/authorize",
                json={"login_hint": google},
                headers={"Authorization": f"Bearer {session}"},
            )
            r.raise_for_status()
            done = http.get(r.json()["authorization_url"])
            done.raise_for_status()
            users.append(User(email, session, str(done.json()["connection_id"])))
        deadline = time.monotonic() + 120
        while len(http.get(f"{sandbox}/_sandbox/google/channels").json()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("calgate did not subscribe every user in time")
            time.sleep(0.2)
    return users


async def _channel_secrets(data_dir: Path) -> list[tuple[str, str, str]]:
    """(channel id, token, resource id) of every subscription, read the way an operator's
    tooling would: through calgate's vault, with the deployment's keys."""
    import uuid

    from calgate.bootstrap import build_runtime
    from calgate.settings import Settings

    settings = Settings(data_dir=data_dir, operator_key=OPERATOR)  # type: ignore[call-arg]
    runtime = await build_runtime(settings, auto_migrate=False)
    try:
        with sqlite3.connect(data_dir / "calgate.db") as db:
            rows = db.execute(
                "SELECT id, account_id, external_id, resource_id FROM subscriptions "
                "WHERE state = 'active'"
            ).fetchall()
        out = []
        async with runtime.uow(readonly=True) as uow:
            for sub_id, account_id, external_id, resource_id in rows:
                secret = await runtime.vault.get(
                    uow,
                    account_id=uuid.UUID(str(account_id)),
                    owner="subscriptions",
                    owner_id=uuid.UUID(str(sub_id)),
                    field="secret",
                )
                assert secret is not None
                out.append((external_id, secret.reveal(), resource_id))
        return out
    finally:
        await runtime.aclose()


# (a) ingest ----------------------------------------------------------------------------------
@dataclass
class Load:
    rps: float
    p99_ms: float
    errors: int
    requests: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, seconds: int, script: Path | None) -> Load:
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    bad = int(errors.group(1)) if errors else 0
    if socket_errors:
        bad += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Load(rps, float(value) * _UNITS[unit], bad, total)


async def _raw_load(port: int, seconds: int, make: Any) -> Load:
    """A minimal HTTP/1.1 keep-alive generator (when wrk is missing)."""
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors, counter
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                counter += 1
                request = make(counter)
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                errors += not head.startswith(b"HTTP/1.1 2")
        finally:
            writer.close()

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    elapsed = time.monotonic() - began
    return Load(len(latencies) / elapsed, p99(latencies) * 1000, errors, len(latencies))


def ingest_load(
    port: int, seconds: int, channels: list[tuple[str, str, str]], offset: int, work: Path
) -> Load:
    if shutil.which("wrk"):
        rows = ",".join(f'{{"{c}","{t}","{r}"}}' for c, t, r in channels)
        script = work / f"ingest-{offset}.lua"
        script.write_text(WRK_SCRIPT % (rows, offset))
        return run_wrk(f"http://127.0.0.1:{port}/webhooks/google", seconds, script)

    def make(n: int) -> bytes:
        c, t, r = channels[n % len(channels)]
        return (
            f"POST /webhooks/google HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Goog-Channel-ID: {c}\r\nX-Goog-Channel-Token: {t}\r\n"
            f"X-Goog-Resource-ID: {r}\r\nX-Goog-Message-Number: {offset + n}\r\n"
            "X-Goog-Resource-State: exists\r\nX-Goog-Resource-URI: https://x.invalid/\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    return asyncio.run(_raw_load(port, seconds, make))


def baseline_load(port: int, seconds: int) -> Load:
    if shutil.which("wrk"):
        return run_wrk(f"http://127.0.0.1:{port}/healthz", seconds, None)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    return asyncio.run(_raw_load(port, seconds, lambda n: request))


# (b) idle WebSocket connections --------------------------------------------------------------
async def _hold(url: str, sessions: list[str], count: int, pid: int, ready: bool) -> int:
    """Open ``count`` connections (``ready``: wait for calgate's stream.ready), let the
    server settle, and return its RSS growth in KiB."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(200)
    opened: list[Any] = []
    before = rss_kib(pid)

    async def one(i: int) -> None:
        headers = {"Authorization": f"Bearer {sessions[i % len(sessions)]}"} if sessions else {}
        async with gate:
            ws = await connect(url, additional_headers=headers, open_timeout=60, max_queue=4)
            if ready:
                first = json.loads(await ws.recv())
                assert first["type"] == "stream.ready", first
            opened.append(ws)

    await asyncio.gather(*(one(i) for i in range(count)))
    await asyncio.sleep(2)
    after = rss_kib(pid)
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    return after - before


# (c) webhook → client latency -----------------------------------------------------------------
async def _latency(
    base: str, sandbox: str, users: list[User], rate: float, seconds: float
) -> list[float]:
    from websockets.asyncio.client import connect

    ws_url = base.replace("http://", "ws://") + "/v1/me/notifications/ws"
    sent: dict[str, list[list[Any]]] = {u.connection_id: [] for u in users}
    latencies: list[float] = []
    clients = []
    for u in users:
        ws = await connect(ws_url, additional_headers={"Authorization": f"Bearer {u.session}"})
        assert json.loads(await ws.recv())["type"] == "stream.ready"
        clients.append(ws)

    async def listen(ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "calendar.changed":
                # The app refetches on this message and sees every change already made:
                # each counts as delivered now (a burst coalesced into one message, as
                # calgate is asked to, is delivered with it). A change still being made
                # (its control call not answered yet) waits for the next message.
                pending = sent.get(message["data"]["connection_id"]) or []
                now = time.perf_counter()
                while pending and pending[0][1]:
                    latencies.append(now - pending.pop(0)[0])
                if len(latencies) >= total:
                    all_in.set()

    listeners = [asyncio.create_task(listen(ws)) for ws in clients]
    total = int(rate * seconds)
    all_in = asyncio.Event()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    async with httpx.AsyncClient(timeout=30) as http:
        before = (await http.get(f"{base}/metrics")).text  # (jobs left from (a) ran by now)
        began = time.perf_counter()
        for n in range(total):
            due = began + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            user = users[n % len(users)]
            google = user.email.replace("@bench.example", "@example.com")
            when = start + timedelta(minutes=n)
            change = [time.perf_counter(), False]  # [made at, made yet]
            sent[user.connection_id].append(change)
            r = await http.post(
                f"{sandbox}/_sandbox/google/calendars/{google}/events",
                json={
                    "summary": f"bench {n}",
                    "start": {"dateTime": when.isoformat()},
                    "end": {"dateTime": (when + timedelta(minutes=30)).isoformat()},
                },
            )
            r.raise_for_status()
            change[1] = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 10)
        after = (await http.get(f"{base}/metrics")).text
        print("    " + where_time_went(before, after))
    for task in listeners:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    lost = sum(len(v) for v in sent.values())
    if lost:
        print(f"  warning: {lost} changes were not announced within 10 s")
    return latencies


_STAGES = (
    ("webhook ack", "calgate_webhook_ack_seconds", 'provider="google"'),
    ("job queue lag", "calgate_jobs_queue_lag_seconds", ""),
    ("sync job", "calgate_jobs_duration_seconds", 'kind="sync.connection"'),
)


def _sum_count(metrics: str, metric: str, label: str) -> tuple[float, float]:
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith(metric) and label in line:
            if line.startswith(metric + "_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(metric + "_count"):
                count += float(line.rsplit(" ", 1)[1])
    return total, count


def where_time_went(before: str, after: str) -> str:
    """Mean of each stage of (c) from the server's own histograms (``/metrics``), over the
    measured span only."""
    parts = []
    for name, metric, label in _STAGES:
        s0, c0 = _sum_count(before, metric, label)
        s1, c1 = _sum_count(after, metric, label)
        n = c1 - c0
        parts.append(f"{name} {(s1 - s0) / n * 1000:.1f} ms" if n else f"{name} n/a")
    return "server means: " + ", ".join(parts)


def inbox_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_inbox").fetchone()[0])


def report_ingest(
    ingests: list[Load],
    bases: list[Load],
    rounds: int,
    seconds: int,
    stored: int,
    logged: int,
    *,
    last_line: bool,
) -> tuple[Load, Load]:
    ingest = max(ingests, key=lambda r: r.rps)
    baseline = max(bases, key=lambda r: r.rps)
    print(f"(a) ingest, {CONNECTIONS} connections, best of {rounds} × {seconds} s")
    print(f"    {'':34}{'req/s':>10}{'p99 ms':>10}{'errors':>8}")
    print(f"    {'GET /healthz (bare endpoint)':34}{baseline.rps:>10.0f}{baseline.p99_ms:>10.2f}"
          f"{baseline.errors:>8}")  # fmt: skip
    print(f"    {'POST /webhooks/google (stored+ack)':34}{ingest.rps:>10.0f}{ingest.p99_ms:>10.2f}"
          f"{ingest.errors:>8}")  # fmt: skip
    print(f"    inbox rows written: {stored} for {sum(i.requests for i in ingests)} requests;"
          f" server log lines during ingest: {logged}")  # fmt: skip
    print("    target ≥ 1,500 notifications/s, ack p99 ≤ 50 ms")
    if last_line:  # --only-ingest
        print(
            json.dumps(
                {
                    "ingest_per_s": round(ingest.rps, 1),
                    "ingest_baseline_per_s": round(baseline.rps, 1),
                    "ack_p99_ms": round(ingest.p99_ms, 2),
                    "ingest_errors": ingest.errors,
                }
            )
        )
    return ingest, baseline


def report_idle(
    idle: int, calgate_growth: int, bare_growth: int, *, last_line: bool = True
) -> tuple[float, float]:
    per_conn = calgate_growth / idle
    bare_per_conn = bare_growth / idle
    print(f"(b) {idle} idle WebSocket connections: calgate {per_conn:.1f} KiB/conn "
          f"(+{calgate_growth / 1024:.1f} MiB), bare websockets {bare_per_conn:.1f} KiB/conn "
          f"(+{bare_growth / 1024:.1f} MiB); target ≤ 25 KiB")  # fmt: skip
    if last_line:  # --only-idle
        print(
            json.dumps(
                {
                    "rss_per_conn_kib": round(per_conn, 2),
                    "baseline_rss_per_conn_kib": round(bare_per_conn, 2),
                    "idle_connections": idle,
                }
            )
        )
    return per_conn, bare_per_conn


def report_latency(
    latencies: list[float], n_users: int, rate: float, span: float, *, last_line: bool
) -> float:
    ms = sorted(x * 1000 for x in latencies)
    lat_p99 = p99(latencies) * 1000 if latencies else float("nan")
    at = (lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]) if ms else (lambda q: float("nan"))
    print(f"(c) webhook → client, {n_users} apps, {rate:.0f} changes/s for {span:.0f} s: "
          f"{len(latencies)} delivered, p50 {at(0.5):.0f} ms, p90 {at(0.9):.0f} ms, "
          f"p99 {lat_p99:.0f} ms, max {at(1.0):.0f} ms; target p99 ≤ 250 ms")  # fmt: skip
    if last_line:  # --only-latency
        print(json.dumps({"webhook_to_client_p99_ms": round(lat_p99, 1), "users": n_users}))
    return lat_p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument(
        "--only-idle",
        action="store_true",
        help="run part (b) alone (idle WebSocket connections), for iterating on its figure",
    )
    parser.add_argument(
        "--only-latency",
        action="store_true",
        help="run part (c) alone (webhook → client latency), for iterating on its figure",
    )
    parser.add_argument(
        "--only-ingest",
        action="store_true",
        help="run part (a) alone (webhook ingest), for iterating on its figures",
    )
    args = parser.parse_args()
    if args.quick:
        n_users, idle, rounds, seconds, rate, span = 10, 1000, 1, 5, 4.0, 5.0
    else:
        n_users, idle, rounds, seconds, rate, span = 60, 10_000, 3, 10, 20.0, 30.0
    if args.only_idle:
        n_users = min(n_users, 10)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, idle + 2000)), hard))
    generator = "wrk" if shutil.which("wrk") else "asyncio raw HTTP (wrk not installed)"

    with tempfile.TemporaryDirectory(prefix="calgate-bench-notify-") as tmp:
        work = Path(tmp)
        sandbox_port, port, bare_port = free_port(), free_port(), free_port()
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALGATE_")}
        env.update(
            CALGATE_DATA_DIR=str(work / "data"),
            CALGATE_PUBLIC_URL=base,
            CALGATE_SANDBOX_URL=sandbox,
            CALGATE_LOG_LEVEL="INFO",
            CALGATE_OPERATOR_KEY=OPERATOR,
            CALGATE_JOBS_POLL_SECONDS="0.5",
        )
        serve_log = work / "calgate.log"
        with process(
            calgate("sandbox", "--port", str(sandbox_port)),
            env,
            work / "sandbox.log",
            f"{sandbox}/_sandbox/healthz",
        ):
            httpx.patch(
                f"{sandbox}/_sandbox/google/clients/{GOOGLE_CLIENT}",
                json={"redirect_uris": [f"{base}/v1/oauth/callback"]},
            ).raise_for_status()
            t0 = time.monotonic()
            with process(calgate("serve", "--port", str(port)), env, serve_log, f"{base}/healthz"):
                users = setup_users(base, sandbox, n_users)
            setup_s = time.monotonic() - t0
            channels = [] if args.only_idle else asyncio.run(_channel_secrets(work / "data"))
            if args.only_latency:
                with process(
                    calgate("serve", "--port", str(port)), env, serve_log, f"{base}/healthz"
                ):
                    time.sleep(1)
                    latencies = asyncio.run(_latency(base, sandbox, users, rate, span))
                report_latency(latencies, n_users, rate, span, last_line=True)
                return

            # (a) and (b): the receiver alone
            with process(
                calgate("serve", "--port", str(port), "--no-jobs"),
                env,
                serve_log,
                f"{base}/healthz",
            ) as server:
                if not args.only_idle:
                    ingest_load(port, 1, channels, 10**9, work)  # warm up both
                    baseline_load(port, 1)
                before_rows = inbox_rows(work / "data" / "calgate.db")
                ingests, bases = [], []
                logged = 0  # server log lines written while webhooks were coming in
                for r in range(0 if args.only_idle else rounds):
                    bases.append(baseline_load(port, seconds))
                    log_lines = len(serve_log.read_text().splitlines())
                    ingests.append(ingest_load(port, seconds, channels, (r + 2) * 10**9, work))
                    new = serve_log.read_text().splitlines()[log_lines:]
                    logged += sum("/healthz" not in line for line in new)  # late baseline lines
                stored = inbox_rows(work / "data" / "calgate.db") - before_rows
                if args.only_ingest:
                    report_ingest(ingests, bases, rounds, seconds, stored, logged, last_line=True)
                    return
                ws_url = base.replace("http://", "ws://") + "/v1/me/notifications/ws"
                sessions = [u.session for u in users]
                calgate_growth = asyncio.run(_hold(ws_url, sessions, idle, server.pid, True))
            (work / "bare_ws.py").write_text(BARE_WS)
            with process(
                [sys.executable, str(work / "bare_ws.py"), str(bare_port)],
                env,
                work / "bare.log",
                bare_port,
            ) as bare:
                bare_growth = asyncio.run(
                    _hold(f"ws://127.0.0.1:{bare_port}/", [], idle, bare.pid, False)
                )
            if args.only_idle:
                report_idle(idle, calgate_growth, bare_growth)
                return

            # (c): embedded, with the job runner
            with process(calgate("serve", "--port", str(port)), env, serve_log, f"{base}/healthz"):
                time.sleep(1)
                latencies = asyncio.run(_latency(base, sandbox, users, rate, span))

    print(f"change notifications: {n_users} users connected in {setup_s:.0f} s; load: {generator}")
    ingest, baseline = report_ingest(
        ingests, bases, rounds, seconds, stored, logged, last_line=False
    )
    per_conn, bare_per_conn = report_idle(idle, calgate_growth, bare_growth, last_line=False)
    lat_p99 = report_latency(latencies, n_users, rate, span, last_line=False)
    print(
        json.dumps(
            {
                "ingest_per_s": round(ingest.rps, 1),
                "ingest_baseline_per_s": round(baseline.rps, 1),
                "ack_p99_ms": round(ingest.p99_ms, 2),
                "rss_per_conn_kib": round(per_conn, 2),
                "baseline_rss_per_conn_kib": round(bare_per_conn, 2),
                "webhook_to_client_p99_ms": round(lat_p99, 1),
                "ingest_errors": ingest.errors,
                "idle_connections": idle,
                "users": n_users,
                "load_generator": generator.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
