"""The ``calgate`` command line (Typer).

Every failure prints one line on stderr and exits 1; ``--debug`` (or ``CALGATE_DEBUG=1``)
shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import ipaddress
import logging
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from calgate import __version__
from calgate.cli_audit import audit_app
from calgate.cli_keys import keys_app
from calgate.errors import CalgateError, ConfigurationError
from calgate.settings import Settings

if TYPE_CHECKING:
    from calgate.bootstrap import Runtime

__all__ = [
    "app",
    "check_listen",
    "load_settings",
    "main",
    "server_ssl_context",
]

app = typer.Typer(
    name="calgate",
    help="calgate: the Web Calendaring Service between meeting apps and users' calendars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

log = logging.getLogger("calgate")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"calgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Run `calgate COMMAND --help` for each command's options. Settings come from
    CALGATE_* environment variables (see the README)."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ())]
        name = f"CALGATE_{loc[0].upper()}: " if loc else ""
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigurationError(f"configuration error: {name}{msg}") from exc


# serve --------------------------------------------------------------------------------------
def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Server TLS (R4): TLS 1.2 minimum, the system's default ciphers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load TLS certificate/key: {exc.strerror or exc}") from exc
    return ctx


def check_listen(host: str, port: int, *, tls: bool, behind_proxy: bool) -> None:
    if not tls and not behind_proxy and not _is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve plain HTTP on {host}: give --tls-cert and --tls-key, or "
            "--behind-proxy if a TLS-terminating proxy is in front"
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


async def _close_before_cancelling(runtime: Runtime) -> None:
    """Close the runtime (database pool, HTTP client) completely, even when Ctrl-C arrives.

    After its graceful shutdown uvicorn re-raises the SIGINT it caught, and asyncio.run
    answers by cancelling the main task: that cancellation must not cut the database
    pool's close short (SQLAlchemy would log a traceback). It is delivered afterwards."""
    closing = asyncio.ensure_future(runtime.aclose())
    cancelled = False
    while not closing.done():
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            cancelled = True
    if not closing.cancelled():
        closing.result()
    if cancelled:
        raise asyncio.CancelledError


async def _start_runtime(settings: Settings) -> Runtime:
    """Logging first, then the runtime; every secret the process holds (operator key, server
    secret, the vault's key material) is then masked in whatever any logger writes."""
    from calgate.bootstrap import build_runtime
    from calgate.logging import configure_logging

    redaction = configure_logging(settings)
    runtime = await build_runtime(settings)
    redaction.add_literal(runtime.secrets.operator_key)
    redaction.add_literal(runtime.secrets.secret_key)
    for literal in runtime.vault.redaction_literals():
        redaction.add_literal(literal)
    return runtime


def _sigterm_is_a_stop() -> Callable[[], None]:
    """SIGTERM (systemd, Kubernetes, docker stop) stops ``serve`` like Ctrl-C, runtime closed.

    uvicorn catches SIGTERM for its graceful shutdown and then raises it again with the
    handler that was in place before it started; with the default one the process would die
    right there, before the runtime (database pool, bus, HTTP client) is closed. This handler
    is that earlier one: the re-raised signal is a no-op, ``serve`` returns and closes the
    runtime, and the process exits 0. Returns the function restoring the previous handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: None)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


async def _run_server(
    settings: Settings,
    host: str,
    port: int,
    *,
    ssl_ctx: ssl.SSLContext | None,
    behind_proxy: bool,
    banner: Callable[[Runtime], Awaitable[None]] | None = None,
    run_jobs: bool = True,
    after_start: Callable[[Runtime], Awaitable[None]] | None = None,
) -> None:
    import uvicorn

    from calgate.api.app import create_app
    from calgate.api.stream import direct_streams

    runtime = await _start_runtime(settings)
    restore_sigterm = _sigterm_is_a_stop()
    try:
        if banner is not None:
            await banner(runtime)
        app_ = create_app(settings, runtime=runtime, run_jobs=run_jobs)
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall every request for tens of ms.
        gc.collect()
        gc.freeze()
        config = uvicorn.Config(
            direct_streams(app_),  # notification WebSockets skip the middleware (issue #6)
            host=host,
            port=port,
            log_config=None,
            access_log=True,
            # Notifications are a few hundred bytes: per-message deflate would cost each
            # idle stream its compression buffers for nothing.
            ws_per_message_deflate=False,
            proxy_headers=behind_proxy,
            forwarded_allow_ips=",".join(settings.trusted_proxies) if behind_proxy else None,
            ssl_context_factory=(lambda _cfg, _default: ssl_ctx) if ssl_ctx else None,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        server = _make_server(config, runtime)
        if after_start is None:
            await server.serve()
        else:
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # uvicorn offers no event to wait on
            if server.started:
                await after_start(runtime)
            await serving
    finally:
        try:
            await _close_before_cancelling(runtime)
        finally:
            restore_sigterm()
            log.info("calgate stopped")


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """Ends notification streams as soon as shutdown begins, so that apps reconnect
        (to another process) instead of holding the shutdown open."""

        def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
            super().__init__(config)
            self._runtime = runtime

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            self._runtime.hub.close_streams()
            await super().shutdown(sockets)

    return Server


def _make_server(config: Any, runtime: Runtime) -> Any:
    return _server_class()(config, runtime)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate chain for HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for HTTPS.")] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            "--behind-proxy",
            help="Plain HTTP is fine: a TLS-terminating proxy is in front "
            "(X-Forwarded-* trusted from CALGATE_TRUSTED_PROXIES).",
        ),
    ] = False,
    no_jobs: Annotated[
        bool,
        typer.Option(
            "--no-jobs",
            help="Serve HTTP only; background jobs run in `calgate worker` processes.",
        ),
    ] = False,
) -> None:
    """Run the calgate service (HTTP API, webhook receivers, notification streams, and
    background jobs unless --no-jobs).

    The embedded SQLite database is created and upgraded automatically; with
    CALGATE_DATABASE_URL pointing at PostgreSQL, run `calgate migrate` first. Scaled out:
    N × `calgate serve --no-jobs` behind a load balancer, M × `calgate worker`, and
    CALGATE_BUS_URL pointing at Redis so notifications reach every process.
    """
    if (tls_cert is None) != (tls_key is None):
        raise ConfigurationError("give both --tls-cert and --tls-key, or neither")
    settings = load_settings()
    ssl_ctx = server_ssl_context(tls_cert, tls_key) if tls_cert and tls_key else None
    check_listen(host, port, tls=ssl_ctx is not None, behind_proxy=behind_proxy)
    asyncio.run(
        _run_server(
            settings,
            host,
            port,
            ssl_ctx=ssl_ctx,
            behind_proxy=behind_proxy,
            run_jobs=not no_jobs,
        )
    )


@app.command()
def migrate(
    check: Annotated[
        bool, typer.Option("--check", help="Only report; exit 1 if not current.")
    ] = False,
) -> None:
    """Create or upgrade the database schema to this version of calgate."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from calgate.persistence import migrate as m
    from calgate.persistence.db import create_engine, database_problem

    settings = load_settings()
    url = settings.resolved_database_url
    shown = make_url(url).render_as_string(hide_password=True)

    async def run() -> None:
        engine = create_engine(url)
        try:
            before = await m.current_revision(engine)
            head = m.head_revision()
            if check:
                if before != head:
                    raise ConfigurationError(f"{shown} is at {before or 'nothing'}; head is {head}")
                out.print(f"{shown} is current ({head})")
                return
            with out.status(f"migrating {shown} …"):
                await m.upgrade(engine)
            out.print(f"{shown}: {before or 'empty'} → {head}")
        except OSError as exc:
            raise ConfigurationError(f"cannot reach {shown}: {database_problem(exc)}") from exc
        except DBAPIError as exc:
            raise ConfigurationError(f"cannot use {shown}: {database_problem(exc)}") from exc
        finally:
            await engine.dispose()

    asyncio.run(run())


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the demo service.")] = 8080,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database and keys.")
    ] = Path("calgate-data"),
    sandbox_port: Annotated[
        int, typer.Option(help="Port of the provider sandbox served beside it (0: any free port).")
    ] = 0,
) -> None:
    """Run calgate on localhost with seeded demo data and the provider sandbox beside it:
    the demo users are connected to the sandbox's Google and Microsoft accounts, so token
    vending works with no provider account."""
    from calgate.connections.demo import SandboxThread, connect_demo_users
    from calgate.demo import seed_demo

    if os.environ.get("CALGATE_ENV", "development") == "production":
        raise ConfigurationError("`calgate demo` is for development; unset CALGATE_ENV=production")
    check_listen("127.0.0.1", port, tls=False, behind_proxy=False)
    base = f"http://127.0.0.1:{port}"
    sandbox = SandboxThread("127.0.0.1", sandbox_port, callback=f"{base}/v1/oauth/callback")
    demo_settings = {
        "data_dir": data_dir,
        "public_url": base,
        "google_client_id": None,  # the sandbox's fake apps, whatever the environment says
        "microsoft_client_id": None,
        "google_oauth_base_url": None,
        "google_api_base_url": None,
        "microsoft_oauth_base_url": None,
        "microsoft_graph_base_url": None,
        "oauth_redirect_uri": None,
    }
    credentials: list[Path] = []

    async def banner(runtime: Runtime) -> None:
        seeded = await seed_demo(runtime)
        state = "seeded" if seeded.created else "reusing"
        out.print(f"\n[bold]calgate demo[/] ({state} demo account {seeded.account_id})")
        out.print(f"  API          {base}  (OpenAPI: {base}/docs)")
        out.print(f"  health       curl {base}/healthz")
        out.print(f"  credentials  {seeded.credentials_file}  (admin key, demo users; mode 0600)")
        out.print(
            "  try          KEY=$(python3 -c \"import json;print(json.load(open('"
            f"{seeded.credentials_file}'))['admin_api_key'])\")"
        )
        out.print(f'               curl -H "Authorization: Bearer $KEY" {base}/v1/accounts')
        docs = f"{sandbox.url}/_sandbox/docs"
        out.print(f"  sandbox      {sandbox.url}  (fake Google and Microsoft; control API {docs})")
        out.file.flush()
        credentials.append(seeded.credentials_file)

    async def connect_calendars(runtime: Runtime) -> None:
        try:
            lines = await connect_demo_users(base, credentials[0])
        except Exception as exc:  # the service still runs; say why calendars are missing
            err.print(f"calgate demo: could not connect the demo calendars: {exc}", markup=False)
            return
        for line in lines:
            out.print(f"  calendar     {line}", markup=False)
        file = credentials[0]
        recipe = [
            "PW=$(python3 -c \"import json;print([u['password'] for u in json.load(open("
            f"'{file}'))['users'] if u['email'] == 'alice@example.com'][0])\")",
            "TOKEN=$(curl -s -H 'content-type: application/json' -d "
            '"{\\"email\\": \\"alice@example.com\\", \\"password\\": \\"$PW\\"}" '
            f"{base}/v1/sessions | python3 -c "
            "\"import json,sys;print(json.load(sys.stdin)['token'])\")",
        ]
        out.print(f"  vend         {recipe[0]}", markup=False)
        out.print(f"               {recipe[1]}", markup=False)
        out.print(
            f'               curl -H "Authorization: Bearer $TOKEN" {base}/v1/me/credentials',
            markup=False,
        )
        out.print("  stop         Ctrl-C\n")
        out.file.flush()

    sandbox.start()
    try:
        settings = load_settings(**demo_settings, sandbox_url=sandbox.url)
        asyncio.run(
            _run_server(
                settings,
                "127.0.0.1",
                port,
                ssl_ctx=None,
                behind_proxy=False,
                banner=banner,
                after_start=connect_calendars,
            )
        )
    finally:
        sandbox.stop()


async def _run_worker(settings: Settings, concurrency: int | None) -> None:
    import signal

    runtime = await _start_runtime(settings)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        runner = runtime.job_runner(concurrency=concurrency)
        for sig in signals:
            loop.add_signal_handler(sig, runner.stop)
        await runner.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await runtime.aclose()
    log.info("calgate worker stopped")


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Jobs run at once by this process. Default: CALGATE_JOBS_CONCURRENCY.",
        ),
    ] = None,
) -> None:
    """Run background jobs only (sync, subscription renewal, token refresh, purges) until
    SIGINT/SIGTERM; running jobs then get a grace period to finish, the rest are released.

    Any number of workers (and `calgate serve` processes without --no-jobs) share the jobs
    table in the database; each job runs once at a time, recurring work needs no leader.
    """
    settings = load_settings()
    asyncio.run(_run_worker(settings, concurrency))


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the Google and Microsoft provider emulators (OAuth, calendars, webhooks, fault
    injection) with seeded demo data, for demos and tests; see docs/sandbox.md.

    Prints each emulator's base URL and the seeded fake OAuth clients and users; the
    control API is under /_sandbox (GET /_sandbox/healthz, /_sandbox/docs).
    """
    from calgate.sandbox.serve import serve_sandbox

    if not _is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve the sandbox on {host}: it hands out fake credentials over "
            "plain HTTP, so it listens on a loopback address only (e.g. 127.0.0.1)"
        )
    check_listen(host, port, tls=False, behind_proxy=False)
    serve_sandbox(host, port, out)


@app.command()
def client(
    url: Annotated[
        str, typer.Option(help="calgate's base URL.", show_default=True)
    ] = "http://127.0.0.1:8080",
    email: Annotated[str, typer.Option(help="Your calgate sign-in email.", prompt=True)] = "",
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from the first line of standard input."
        ),
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="Print the table once and exit (for scripts).")
    ] = False,
    days: Annotated[float, typer.Option(min=0.1, max=60, help="Days ahead to show.")] = 7,
    refresh_minutes: Annotated[
        float,
        typer.Option(min=0.5, max=1440, help="Refresh at least this often without a notification."),
    ] = 30,
    websocket: Annotated[
        bool,
        typer.Option(
            "--websocket/--sse", help="Notification transport (WebSocket falls back to SSE)."
        ),
    ] = True,
    join_base: Annotated[
        list[str] | None,
        typer.Option(help="Base of the platform's join links (default: <url>/j/). Repeatable."),
    ] = None,
    platform_room: Annotated[
        list[str] | None,
        typer.Option(
            help="Room address or name pattern of the platform's own rooms, e.g. "
            "'vc-*@rooms.example.com'. Repeatable."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log (ids and counts only) to stderr.")
    ] = False,
    ipc: Annotated[
        bool,
        typer.Option(
            "--ipc",
            help="Serve the local plugin endpoint (JSON-RPC 2.0 over a private Unix socket, "
            "mode 0600) so that an Outlook plugin schedules meetings through this app "
            "(R13); see examples/outlook_plugin.py.",
        ),
    ] = False,
    ipc_socket: Annotated[
        Path | None,
        typer.Option(
            help="Where to serve it (default $XDG_RUNTIME_DIR/calgate/client.sock, else "
            "<tmp>/calgate-<uid>/client.sock; its directory must be private)."
        ),
    ] = None,
) -> None:
    """The reference client app: sign in, show your upcoming meetings with their join
    links, and follow changes live (Ctrl-C to quit).

    Gets your calendar access from calgate (token vending), fetches events directly from
    Google or Microsoft, keeps only what a meeting list needs, and holds it in memory only.
    The password is asked for (never on the command line), or read from stdin.
    """
    import getpass

    from calgate.client.terminal import TerminalOptions, configure_client_logging, run_terminal

    if ipc and once:
        raise ConfigurationError("--ipc serves plugins while the app runs: drop --once")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if not password:
        raise ConfigurationError("no password given")
    configure_client_logging(verbose)
    options = TerminalOptions(
        url=url,
        email=email,
        once=once,
        days=days,
        refresh_minutes=refresh_minutes,
        websocket=websocket,
        join_bases=tuple(join_base or ()),
        platform_rooms=tuple(platform_room or ()),
        ipc=ipc,
        ipc_socket=ipc_socket,
    )
    asyncio.run(run_terminal(options, password, out))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# The click that typer runs on: its own copy in recent typer, click itself before; either way
# the module that defines typer.BadParameter.
_CLICK: Any = importlib.import_module(typer.BadParameter.__module__)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("CALGATE_DEBUG") == "1"
    try:
        result = app(args=args, prog_name="calgate", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except (KeyboardInterrupt, typer.Abort):
        return 130
    except _CLICK.NoArgsIsHelpError:
        # `calgate` or `calgate keys` alone: the help that the verb's --help shows.
        app(args=[*args, "--help"], prog_name="calgate", standalone_mode=False)
        return 2
    except _CLICK.UsageError as exc:
        # A mistyped verb or option: one line naming it and where to look, exit 2.
        where = exc.ctx.command_path if exc.ctx is not None else "calgate"
        message = _first_line(exc.format_message()) or "usage error"
        err.print(f"calgate: {message} (see `{where} --help`)", markup=False, soft_wrap=True)
        return int(exc.exit_code)
    except _CLICK.ClickException as exc:
        err.print(f"calgate: {_first_line(exc.format_message())}", markup=False, soft_wrap=True)
        return int(exc.exit_code)
    except CalgateError as exc:
        if debug:
            raise
        err.print(f"calgate: {exc.detail}", markup=False, soft_wrap=True)
        return 1
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"calgate: unexpected {type(exc).__name__}: {_first_line(exc)} "
            "(run with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        return 1
    # standalone_mode=False hands back the exit code of `--help`, `--version` and typer.Exit.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
