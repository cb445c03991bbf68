"""Runs the reference client in its own process for the C1/C6 tests: an audit hook, set
before calgate is imported, records every attempt to create or write a file; logging is at
DEBUG to stderr (C6 checks it). Reads its configuration as one JSON line on stdin (never a
file), signs in, starts the client (stream + full refresh), prints READY, waits for a
notification-driven change, prints the table, then the audit findings as the last line.

The connections' provider tokens are vended by calgate (``GET /v1/me/credentials``);
``wait_subject`` waits for an event with that subject instead of the next change. With
``"cli": true`` it runs ``calgate client`` (``argv``) instead.
"""

from __future__ import annotations

import json
import os
import sys

EVENTS: list[str] = []
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
FILE_EVENTS = {
    "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link", "os.truncate",
    "os.chmod", "os.chown", "os.utime", "shutil.copyfile", "shutil.move", "shutil.rmtree",
    "sqlite3.connect", "tempfile.mkstemp", "tempfile.mkdtemp", "os.mkfifo", "os.mknod",
}  # fmt: skip


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE
        )
        if writing:
            EVENTS.append(f"open for writing: {path!r}")
    elif event in FILE_EVENTS:
        EVENTS.append(f"{event}: {args!r}"[:300])


sys.addaudithook(_hook)


async def _run_sdk(cfg: dict[str, object]) -> None:
    import asyncio

    from rich.console import Console

    from calgate.client import CalgateClient
    from calgate.client.terminal import render
    from calgate.sanitize import Platform

    url = str(cfg["url"])
    async with CalgateClient(
        url, platform=Platform.of(join_bases=[f"{url}/j/"]), reconnect_backoff=(0.05, 0.5)
    ) as client:
        await client.sign_in(str(cfg["email"]), str(cfg["password"]))
        await client.start()
        first = client.snapshot.generation
        print("READY", flush=True)
        wanted = cfg.get("wait_subject")  # or: the first change after READY
        async with asyncio.timeout(30):
            if wanted:
                await client.wait_for(lambda s: any(e.subject == wanted for e in s.events))
            else:
                await client.wait_for(lambda s: s.generation > first)
        from datetime import UTC

        Console(width=200).print(render(client.snapshot, zone=UTC))


def main() -> int:
    cfg = json.loads(sys.stdin.readline())
    from calgate.client.terminal import configure_client_logging

    if cfg.get("cli"):
        from calgate.cli import main as cli_main

        code = cli_main(list(cfg["argv"]))
    else:
        import asyncio

        configure_client_logging(verbose=True)
        asyncio.run(_run_sdk(cfg))
        code = 0
    sys.stdout.flush()
    print(json.dumps({"file_events": EVENTS}), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
