"""``calgate sandbox``: serve every provider emulator with uvicorn on loopback and print what a
developer needs to point a client at it (base URLs, the seeded *fake* OAuth clients and users).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from calgate.sandbox.app import SandboxApp, create_sandbox_app

__all__ = ["banner_lines", "serve_sandbox"]

_URL_KEYS = ("base_url", "authority", "graph", "discovery", "token", "calendar")
_HINTS = {
    # Exchange identity tokens (R14): an admin lists this server in the account's
    # PUT /v1/accounts/{a}/scheduling-auth `exchange_servers`, with the add-in URL as audience.
    "metadata_url": "(Exchange identity tokens: list it in an account's scheduling-auth "
    "exchange_servers)",
    "addin_url": "(their audience: the add-in page)",
}


def _user_label(user: Any) -> str:
    if isinstance(user, dict):
        return str(user.get("upn") or user.get("email") or user.get("id"))
    return str(user)


def banner_lines(app: SandboxApp, base: str) -> list[str]:
    """Plain lines: per emulator its URLs, clients (id + fake secret, or "public client"
    for one without a secret, like the Outlook add-in's NAA registration) and users; for
    Exchange the identity-token metadata URL an admin puts in an account's scheduling-auth."""
    lines = [f"calgate sandbox on {base}  (control API: {base}/_sandbox/docs)"]
    for name, emulator in app.emulators.items():
        info = emulator.describe(base)
        lines.append(f"[{name}]")
        endpoints = dict(info.get("endpoints") or {})
        for key in _URL_KEYS:
            value = info.get(key) or endpoints.get(key)
            if isinstance(value, str):
                lines.append(f"  {key:<13}{value}")
        for key, hint in _HINTS.items():
            value = info.get(key)
            if isinstance(value, str):
                lines.append(f"  {key:<13}{value}  {hint}")
        for client in info.get("clients", []):
            secret = client.get("client_secret")
            if client.get("public_client") or not secret:
                name = client.get("display_name") or client.get("name")
                lines.append(
                    f"  client       {client.get('client_id')}  public client, no secret"
                    + (f": {name}" if name else "")
                )
            else:
                lines.append(
                    f"  client       {client.get('client_id')}  secret {secret}  (sandbox fixture)"
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
    lines.append(
        f"point calgate at it: CALGATE_SANDBOX_URL={base} (provider URLs and the Entra ID "
        "authority for add-in tokens)"
    )
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
