"""``calgate demo``'s calendars: the provider sandbox served beside calgate (its own thread
and event loop, real HTTP on loopback), and the demo users connected to both sandbox
providers through the real OAuth flow — sign in, start, open in a "browser", consent,
callback — exactly as a user's app and browser would do it."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from calgate.errors import ConfigurationError

__all__ = ["DEMO_LOGINS", "SandboxThread", "connect_demo_users"]

log = logging.getLogger(__name__)

# calgate demo user → the sandbox accounts they connect (Google, Microsoft).
DEMO_LOGINS = {
    "alice@example.com": ("alice@example.com", "alice@contoso.example"),
    "bob@example.com": ("bob@example.com", "bob@contoso.example"),
    "carol@example.com": ("carol@example.com", "carol@contoso.example"),
}
_GOOGLE_CLIENT = "000000000000-calgate-sandbox.apps.googleusercontent.com"
_MS_APP = "5a4db0c5-a99c-4000-8000-000000000001"


class _NotTheSandbox(logging.Filter):
    """Both servers share uvicorn's access logger; keep only calgate's lines (the sandbox's
    request lines are the fake providers' business)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD


_THREAD = "calgate-sandbox"
_QUIET = _NotTheSandbox()


@dataclass
class SandboxThread:
    """The sandbox on ``host:port`` (port 0: any free one) in a background thread."""

    host: str
    port: int
    callback: str  # calgate's redirect URI, registered with the sandbox's fake apps
    _server: Any = None
    _socket: Any = None
    _thread: threading.Thread | None = None
    _errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15) -> None:
        import uvicorn

        from calgate.sandbox.app import create_sandbox_app

        app = create_sandbox_app()
        google = getattr(app.emulators.get("google"), "state", None)
        microsoft = getattr(app.emulators.get("microsoft"), "state", None)
        if google is not None:
            google.clients[_GOOGLE_CLIENT].redirect_uris.append(self.callback)
        if microsoft is not None:
            microsoft.apps[_MS_APP].redirect_uris.append(self.callback)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_config=None,
            access_log=False,  # query strings carry codes and tokens
            lifespan="on",
            server_header=False,
        )
        self._server = uvicorn.Server(config)

        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigurationError(
                f"cannot listen on {self.host}:{self.port} for the sandbox: {exc.strerror}"
            ) from exc
        self.port = int(sock.getsockname()[1])
        self._socket = sock

        def run() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as exc:  # reported by start()
                self._errors.append(exc)

        logging.getLogger("uvicorn.access").addFilter(_QUIET)
        self._thread = threading.Thread(target=run, name=_THREAD, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"the sandbox did not start on {self.url}")
            time.sleep(0.02)  # uvicorn offers no event to wait on

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        logging.getLogger("uvicorn.access").removeFilter(_QUIET)


async def _connect(
    http: httpx.AsyncClient, base: str, session: str, provider: str, login: str
) -> str:
    r = await http.post(
        f"{base}/v1/me/connections/{provider}/authorize",
        json={"login_hint": login},
        headers={"Authorization": f"Bearer {session}"},
    )
    r.raise_for_status()
    # The "browser": calgate's start URL → the sandbox's consent (automatic for a seeded
    # user) → calgate's callback, carrying the flow's cookie.
    done = await http.get(r.json()["authorization_url"], headers={"Accept": "application/json"})
    if done.status_code != 200:
        raise ConfigurationError(f"connecting {provider} failed: {done.text[:200]}")
    return str(done.json()["status"])


async def connect_demo_users(base: str, credentials_file: Path) -> list[str]:
    """Connect every demo user to both sandbox providers; returns one line per user."""
    creds = json.loads(await asyncio.to_thread(credentials_file.read_text))
    lines = []
    async with httpx.AsyncClient(timeout=30, follow_redirects=True) as http:
        for user in creds["users"]:
            logins = DEMO_LOGINS.get(user["email"])
            if logins is None:
                continue
            r = await http.post(
                f"{base}/v1/sessions",
                json={
                    "email": user["email"],
                    "password": user["password"],
                    "account_id": creds["account_id"],
                },
            )
            r.raise_for_status()
            session = r.json()["token"]
            auth = {"Authorization": f"Bearer {session}"}
            # The sandbox starts afresh on every run: the accounts connected last time no
            # longer exist there. Remove those connections, then connect the new ones.
            previous = await http.get(f"{base}/v1/me/connections", headers=auth)
            previous.raise_for_status()
            for old in previous.json():
                gone = await http.delete(f"{base}/v1/me/connections/{old['id']}", headers=auth)
                gone.raise_for_status()
            done = []
            for provider, login in zip(("google", "microsoft"), logins, strict=True):
                await _connect(http, base, session, provider, login)
                done.append(f"{provider} {login}")
            lines.append(f"{user['email']} → {', '.join(done)}")
    return lines
