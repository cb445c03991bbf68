"""The provider sandbox as a process of its own, for end-to-end tests: like ``calgate
sandbox``, plus a canary ``--marker`` in every token it issues and extra redirect URIs for
its seeded apps (calgate's callback on a free port).

    with spawn_sandbox(tmp_path, marker=MARKER, redirect=f"{calgate}/v1/oauth/callback") as s:
        httpx.get(f"{s.url}/_sandbox/healthz")
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["SandboxProcess", "main", "spawn_sandbox"]

GOOGLE_CLIENT = "000000000000-calgate-sandbox.apps.googleusercontent.com"
MS_APP = "5a4db0c5-a99c-4000-8000-000000000001"


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from calgate.sandbox.app import create_sandbox_app
    from calgate.sandbox.core import SandboxCore
    from calgate.sandbox.google import GoogleEmulator
    from calgate.sandbox.microsoft import MicrosoftEmulator

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--marker", default="")
    parser.add_argument("--redirect", action="append", default=[])
    args = parser.parse_args(argv)
    core = SandboxCore()
    google = GoogleEmulator(core, token_marker=args.marker)
    microsoft = MicrosoftEmulator(core, token_marker=args.marker)
    google.state.clients[GOOGLE_CLIENT].redirect_uris.extend(args.redirect)
    microsoft.state.apps[MS_APP].redirect_uris.extend(args.redirect)
    app = create_sandbox_app([google, microsoft], core=core)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


@dataclass
class SandboxProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def spawn_sandbox(
    workdir: Path, *, port: int, marker: str = "", redirects: tuple[str, ...] = ()
) -> Iterator[SandboxProcess]:
    tests = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALGATE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH", "")]))
    args = [sys.executable, "-m", "support.sandbox_process", "--port", str(port)]
    if marker:
        args += ["--marker", marker]
    for uri in redirects:
        args += ["--redirect", uri]
    log_path = workdir / f"sandbox-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    sandbox = SandboxProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the sandbox exited:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{sandbox.url}/_sandbox/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the sandbox did not start")
            time.sleep(0.05)  # a subprocess gives no readiness event to await
        yield sandbox
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


if __name__ == "__main__":
    main()
