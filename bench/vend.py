"""Token-vending benchmark: ``GET /v1/me/credentials`` with a warm cache, against a bare
Starlette JSON endpoint, both served by uvicorn subprocesses on this machine, measured in
the same run with the same load generator.

    python bench/vend.py            # 3 rounds of 15 s per server
    python bench/vend.py --quick    # under a minute: 2 rounds of 6 s per server

Setup: the provider sandbox (``calgate sandbox``), ``calgate serve`` on SQLite pointed at it,
one user connected to Google and Microsoft through the real OAuth flow, one vend to warm the
cache. calgate runs as deployed (``calgate serve``: all middleware, metrics, the job runner)
with ``CALGATE_LOG_LEVEL=WARNING``, so no access log, like the baseline's ``--no-access-log``.
The baseline serves the same JSON body with no auth and no database. Load: Debian's
``wrk`` (64 connections, 1 thread, latency percentiles) when installed, else an asyncio
httpx generator (slower: it may become the bottleneck, and the table says so). Each round
measures both servers back to back; the best round of each counts. Target: vend at ≥ 45 %
of the baseline's requests per second, p99 ≤ 25 ms. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CONNECTIONS = 64
GOOGLE_CLIENT = "000000000000-calgate-sandbox.apps.googleusercontent.com"
MS_APP = "5a4db0c5-a99c-4000-8000-000000000001"

BASELINE = textwrap.dedent(
    """
    import json, os
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    BODY = json.loads(os.environ["BENCH_BODY"])

    async def endpoint(request):
        return JSONResponse(BODY, headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route("/v1/me/credentials", endpoint)])
    """
)


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


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(ready)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def calgate(*args: str) -> list[str]:
    return [sys.executable, "-m", "calgate.cli", *args]


def connect(http: httpx.Client, base: str, session: str, provider: str, login: str) -> None:
    r = http.post(
        f"{base}/v1/me/connections/{provider}/authorize",
        json={"login_hint": login},
        headers={"Authorization": f"Bearer {session}"},
    )
    r.raise_for_status()
    http.get(r.json()["authorization_url"]).raise_for_status()


@dataclass
class Result:
    rps: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, token: str | None, seconds: int) -> Result:
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    bad = int(errors.group(1)) if errors else 0
    if socket_errors:
        bad += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(rps, float(value) * _UNITS[unit], bad)


async def _run_httpx(url: str, token: str | None, seconds: int) -> Result:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                start = time.perf_counter()
                r = await http.get(url, headers=headers)
                latencies.append(time.perf_counter() - start)
                errors += r.status_code != 200

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.monotonic() - began
    latencies.sort()
    return Result(len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000, errors)


def load(url: str, token: str | None, seconds: int) -> Result:
    if shutil.which("wrk"):
        return run_wrk(url, token, seconds)
    return asyncio.run(_run_httpx(url, token, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    args = parser.parse_args()
    rounds, seconds = (2, 6) if args.quick else (3, 15)
    generator = "wrk" if shutil.which("wrk") else "httpx (wrk not installed)"

    with tempfile.TemporaryDirectory(prefix="calgate-bench-vend-") as tmp:
        work = Path(tmp)
        sandbox_port, calgate_port, baseline_port = free_port(), free_port(), free_port()
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        base = f"http://127.0.0.1:{calgate_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALGATE_")}
        env.update(
            CALGATE_DATA_DIR=str(work / "data"),
            CALGATE_PUBLIC_URL=base,
            CALGATE_SANDBOX_URL=sandbox,
            CALGATE_LOG_LEVEL="WARNING",
            CALGATE_OPERATOR_KEY="bench-operator-key-" + "x" * 32,
        )
        with process(
            calgate("sandbox", "--port", str(sandbox_port)),
            env,
            work / "sandbox.log",
            f"{sandbox}/_sandbox/healthz",
        ):
            callback = f"{base}/v1/oauth/callback"
            httpx.patch(
                f"{sandbox}/_sandbox/google/clients/{GOOGLE_CLIENT}",
                json={"redirect_uris": [callback]},
            ).raise_for_status()
            httpx.patch(
                f"{sandbox}/_sandbox/microsoft/apps/{MS_APP}", json={"redirect_uris": [callback]}
            ).raise_for_status()
            with process(
                calgate("serve", "--port", str(calgate_port)),
                env,
                work / "calgate.log",
                f"{base}/healthz",
            ):
                with httpx.Client(timeout=30, follow_redirects=True) as http:
                    operator = {"Authorization": f"Bearer {env['CALGATE_OPERATOR_KEY']}"}
                    account = http.post(
                        f"{base}/v1/accounts", json={"name": "bench"}, headers=operator
                    ).json()["id"]
                    http.post(
                        f"{base}/v1/accounts/{account}/users",
                        json={"email": "alice@bench.example", "password": "bench-password-123"},
                        headers=operator,
                    ).raise_for_status()
                    session = http.post(
                        f"{base}/v1/sessions",
                        json={"email": "alice@bench.example", "password": "bench-password-123"},
                    ).json()["token"]
                    connect(http, base, session, "google", "alice@example.com")
                    connect(http, base, session, "microsoft", "alice@contoso.example")
                    warm = http.get(
                        f"{base}/v1/me/credentials", headers={"Authorization": f"Bearer {session}"}
                    )
                    warm.raise_for_status()
                    body = warm.text
                benv = {**env, "BENCH_BODY": body, "PYTHONPATH": str(work)}
                (work / "baseline_app.py").write_text(BASELINE)
                with process(
                    [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port",
                     str(baseline_port), "--log-level", "warning", "--no-access-log"],
                    benv,
                    work / "baseline.log",
                    f"http://127.0.0.1:{baseline_port}/v1/me/credentials",
                ):  # fmt: skip
                    vend_url = f"{base}/v1/me/credentials"
                    base_url = f"http://127.0.0.1:{baseline_port}/v1/me/credentials"
                    load(vend_url, session, 2)  # warm up both
                    load(base_url, None, 2)
                    vend_runs, base_runs = [], []
                    for _ in range(rounds):
                        base_runs.append(load(base_url, None, seconds))
                        vend_runs.append(load(vend_url, session, seconds))

    vend = max(vend_runs, key=lambda r: r.rps)
    baseline = max(base_runs, key=lambda r: r.rps)
    ratio = vend.rps / baseline.rps
    print(f"token vending, warm cache, {CONNECTIONS} connections, load: {generator}")
    print(f"{'':28}{'req/s':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in (("bare Starlette JSON", baseline), ("GET /v1/me/credentials", vend)):
        print(f"{name:28}{r.rps:>10.0f}{r.p99_ms:>10.2f}{r.errors:>8}")
    print(f"ratio {ratio:.1%} (target ≥ 45 %), vend p99 {vend.p99_ms:.1f} ms (target ≤ 25 ms)")
    print(
        json.dumps(
            {
                "vend_rps": round(vend.rps, 1),
                "baseline_rps": round(baseline.rps, 1),
                "ratio": round(ratio, 3),
                "vend_p99_ms": round(vend.p99_ms, 2),
                "baseline_p99_ms": round(baseline.p99_ms, 2),
                "errors": vend.errors + baseline.errors,
                "load_generator": generator.split()[0],
                "connections": CONNECTIONS,
            }
        )
    )


if __name__ == "__main__":
    main()
