"""``calgate sandbox``: serve every provider emulator with uvicorn on loopback and print what a
developer needs to point a client at it (base URLs, the seeded *fake* OAuth clients and users).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from calgate.sandbox.app import SandboxApp, create_sandbox_app

__all__ = ["banner_lines", "serve_sandbox"]

_URL_KEYS = ("base_url", "authority", "graph", "discovery", "token", "calendar")


def _user_label(user: Any) -> str:
    if isinstance(user, dict):
        return str(user.get("upn") or user.get("email") or user.get("id"))
    return str(user)


def banner_lines(app: SandboxApp, base: str) -> list[str]:
    """Plain lines: per emulator its URLs, clients (id + fake secret) and users."""
    lines = [f"calgate sandbox on {base}  (control API: {base}/_sandbox/docs)"]
    for name, emulator in app.emulators.items():
        info = emulator.describe(base)
        lines.append(f"[{name}]")
        endpoints = dict(info.get("endpoints") or {})
        for key in _URL_KEYS:
            value = info.get(key) or endpoints.get(key)
            if isinstance(value, str):
                lines.append(f"  {key:<13}{value}")
        for client in info.get("clients", []):
            lines.append(
                f"  client       {client.get('client_id')}  secret {client.get('client_secret')}"
                "  (sandbox fixture)"
            )
        for account in info.get("service_accounts", []):
            lines.append(
                f"  service acct {account.get('client_email')}  key: {account.get('key_file')}"
            )
        users = [_user_label(u) for u in info.get("users", [])]
        if users:
            lines.append(f"  users        {', '.join(users)}")
        rooms = [_user_label(r) for r in info.get("rooms", [])]
        if rooms:
            lines.append(f"  rooms        {', '.join(rooms)}")
    lines.append(f"health: curl {base}/_sandbox/healthz   stop: Ctrl-C")
    return lines


def serve_sandbox(host: str, port: int, console: Console) -> None:
    """Blocks until interrupted."""
    import uvicorn

    app = create_sandbox_app()
    base = f"http://{host}:{port}"
    for line in banner_lines(app, base):
        console.print(line, markup=False, soft_wrap=True)
    console.file.flush()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,  # query strings may carry codes and tokens
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run()
