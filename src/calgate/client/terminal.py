"""``calgate client``: the reference terminal app on the SDK. A live table of the user's
upcoming meetings (time, subject, join link, platform room, connection) that redraws when
calgate says a calendar changed, and every refresh interval.

Event content goes to the screen only; logs (stderr, off unless ``--verbose``) carry ids
and counts (C6). Nothing is written to disk (C1).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from tzlocal import get_localzone

from calgate.client.core import CalgateClient
from calgate.client.ipc import IpcServer
from calgate.client.state import ConnectionState, Snapshot, Status
from calgate.logging import RedactionFilter
from calgate.sanitize import Platform

__all__ = [
    "TerminalOptions",
    "attention_line",
    "configure_client_logging",
    "render",
    "run_terminal",
]

_ATTENTION = {
    Status.ERROR: "could not refresh",
    Status.UNSUPPORTED: "not shown by this client",
    Status.PENDING: "waiting",
    Status.REMOVED: "removed in calgate; its events are no longer shown",
}


@dataclass(frozen=True, slots=True)
class TerminalOptions:
    url: str
    email: str
    once: bool = False
    days: float = 7
    refresh_minutes: float = 30
    websocket: bool = True
    join_bases: tuple[str, ...] = ()
    platform_rooms: tuple[str, ...] = ()
    ipc: bool = False  # serve the plugin endpoint (R13, calgate.client.ipc)
    ipc_socket: Path | None = None


def configure_client_logging(verbose: bool) -> None:
    """Warnings only (or everything with ``--verbose``) to stderr, through calgate's
    redaction filter as the second line of defence."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        for noisy in ("httpx", "httpcore", "websockets"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _when(start: datetime, end: datetime, all_day: bool, zone: tzinfo) -> str:
    if all_day:
        return f"{start:%a %d %b} (all day)"
    local, until = start.astimezone(zone), end.astimezone(zone)
    return f"{local:%a %d %b %H:%M}–{until:%H:%M}"


def attention_line(conn: ConnectionState) -> str:
    """One line about a connection that needs the user: for a dead grant (R6), that they
    must reconnect it, and where."""
    head = f"! {conn.provider} {conn.id[:8]}:"
    if conn.status is Status.REAUTH_REQUIRED:
        where = f"at {conn.reauth_url}" if conn.reauth_url else "in calgate"
        return (
            f"{head} calgate's access was revoked or has expired — reconnect this calendar {where}"
        )
    why = conn.problem or _ATTENTION.get(conn.status, conn.status.value)
    return f"{head} {conn.status.value} — {why}"


def render(
    snap: Snapshot, *, zone: tzinfo, transport: str | None = None, title: str = "calgate"
) -> Group:
    """The table for ``snap`` (and a line per connection that needs attention)."""
    live = f"live ({transport})" if transport else "not following changes"
    refreshed = f"refreshed {snap.refreshed_at.astimezone(zone):%H:%M}" if snap.refreshed_at else ""
    table = Table(
        title=f"{title} — {len(snap.entries)} upcoming — {live} {refreshed}".strip(),
        expand=False,
    )
    table.add_column("When", no_wrap=True)
    table.add_column("Subject")
    table.add_column("Join")
    table.add_column("Room", justify="center")
    table.add_column("Calendar", no_wrap=True)
    for entry in snap.entries:
        ev = entry.event
        table.add_row(
            _when(ev.start, ev.end, ev.all_day, zone),
            Text(ev.subject or "(no subject)"),
            Text(ev.meeting_url or "—", style=f"link {ev.meeting_url}" if ev.meeting_url else ""),
            "✓" if ev.platform_room else "",
            f"{ev.provider} {entry.connection_id[:8]}",
        )
    lines: list[Text | Table] = [table]
    for conn in snap.needing_attention():
        lines.append(Text(attention_line(conn)))
    if snap.problem:
        lines.append(Text(f"! {snap.problem}"))
    return Group(*lines)


async def run_terminal(options: TerminalOptions, password: str, console: Console) -> None:
    platform = Platform.of(
        join_bases=options.join_bases or [f"{options.url.rstrip('/')}/j/"],
        room_patterns=options.platform_rooms,
    )
    zone = get_localzone()
    async with CalgateClient(
        options.url,
        days_ahead=options.days,
        refresh_interval=options.refresh_minutes * 60,
        platform=platform,
        websocket=options.websocket,
    ) as client:
        await client.sign_in(options.email, password)
        del password
        if options.ipc:
            async with IpcServer(
                lambda fields: client.schedule_and_tag(fields, tag=False), options.ipc_socket
            ) as ipc:
                print(f"plugin endpoint: {ipc.path}", file=sys.stderr, flush=True)
                await _show(client, options, console, zone)
            return
        await _show(client, options, console, zone)


async def _show(
    client: CalgateClient, options: TerminalOptions, console: Console, zone: tzinfo
) -> None:
    if options.once:
        snap = await client.refresh_all()
        console.print(render(snap, zone=zone))
        return
    with Live(
        render(client.snapshot, zone=zone, title="calgate — signing in"),
        console=console,
        refresh_per_second=4,
        transient=False,
    ) as live:

        def redraw(snap: Snapshot) -> None:
            live.update(render(snap, zone=zone, transport=client.stream_transport))

        client.on_change(redraw)
        await client.start()
        while True:  # until Ctrl-C; the stream state can change without a snapshot
            await asyncio.sleep(1)
            redraw(client.snapshot)
