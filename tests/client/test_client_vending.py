"""The client against calgate's real token vending (``GET /v1/me/credentials``, R10) and the
provider sandbox, when a grant dies at the provider or a connection is removed (R6): the
409 ``reauth-required`` and 404 ``removed`` problems become typed errors
(`ReauthRequired`, `ConnectionRemoved`), a 200 listing an unusable connection beside a
usable one keeps the usable one, the app says where to reconnect, and the notifications
drop the connection's token and events from memory.

calgate and the sandbox are those of ``support.client_fixtures``: the user connects both
calendars through calgate's real flow, and a grant dies when the sandbox revokes it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import UTC

import httpx
import pytest
from rich.console import Console

from calgate.client import (
    CalgateClient,
    ConnectionRemoved,
    NotConnected,
    ReauthRequired,
    Snapshot,
    Status,
)
from calgate.client.service import ServiceApi
from calgate.client.terminal import TerminalOptions, render, run_terminal

from support.canary import MARKER
from support.client_fixtures import REAUTH, User, seed_event
from support.client_world import ClientWorld

MakeClient = Callable[..., CalgateClient]


def subjects(snap: Snapshot, connection: str | None = None) -> list[str]:
    return [e.event.subject for e in snap.entries if connection in (None, e.connection_id)]


def text(snap: Snapshot) -> str:
    console = Console(width=400, file=io.StringIO())
    console.print(render(snap, zone=UTC))
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


async def wait(client: CalgateClient, predicate: Callable[[Snapshot], bool]) -> Snapshot:
    async with asyncio.timeout(10):
        return await client.wait_for(predicate)


async def test_a_revoked_grant_means_reconnect_there_and_the_other_calendar_stays_R6(
    make_client: MakeClient, world: ClientWorld, user: User, connected: dict[str, str]
) -> None:
    google, ms = connected["google"], connected["microsoft"]
    await world.seed(seed_event("Standup"))
    client = make_client()
    await client.sign_in(user.email, user.password)
    snap = await client.refresh_all()
    assert sorted(subjects(snap)) == ["Standup", "Standup"]

    await world.revoke("google")
    # The cached token is vended (200), Google refuses it (401), the client asks again with
    # force_refresh for that connection: calgate's refresh meets invalid_grant → 409.
    snap = await client.refresh_all()
    state = snap.connections[google]
    assert state.status is Status.REAUTH_REQUIRED
    assert state.reauth_url == REAUTH.format("google")
    assert "invalid_grant" in state.problem
    assert subjects(snap, google) == []  # its events are gone from memory
    assert subjects(snap, ms) == ["Standup"]
    assert snap.connections[ms].status is Status.OK

    # The next refresh: a 200 listing Google as unusable beside the usable Microsoft one.
    listed = (await world.counters()).get("google.events.list", 0)
    snap = await client.refresh_all()
    assert snap.connections[google].status is Status.REAUTH_REQUIRED
    assert snap.connections[google].reauth_url == REAUTH.format("google")
    assert "invalid_grant" in snap.connections[google].problem
    assert subjects(snap) == ["Standup"]
    assert (await world.counters()).get("google.events.list", 0) == listed  # not asked

    shown = text(snap)
    assert MARKER not in shown  # Google's sandbox tokens carry it: none is printed
    lines = [line for line in shown.splitlines() if line.startswith("!")]
    assert lines == [
        f"! google {google[:8]}: calgate's access was revoked or has expired — reconnect "
        f"this calendar at {REAUTH.format('google')}"
    ]


async def test_vending_with_no_usable_connection_is_ReauthRequired_R6(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    calgate_url: str,
    session: dict[str, str],
) -> None:
    await world.revoke("google")
    await world.revoke("microsoft")
    async with httpx.AsyncClient() as http:
        api = ServiceApi(http, calgate_url)
        token = session["Authorization"].removeprefix("Bearer ")
        with pytest.raises(ReauthRequired) as info:
            await api.vend(token, force_refresh=True)
    exc = info.value
    assert exc.connection_id in connected.values()
    assert exc.reauth_url == REAUTH.format(exc.provider)
    assert connected[exc.provider] == exc.connection_id
    assert "connect again" in exc.detail.lower()
    assert {
        c.id: (c.provider, c.status, c.reauth_url, c.access_token) for c in exc.connections
    } == {
        cid: (provider, "reauth_required", REAUTH.format(provider), "")
        for provider, cid in connected.items()
    }

    # The app does not fail: both connections say where to reconnect, nothing is shown.
    app = make_client()
    await app.sign_in(user.email, user.password)
    snap = await app.refresh_all()
    assert snap.entries == ()
    assert {c.id: (c.status, c.reauth_url) for c in snap.needing_attention()} == {
        cid: (Status.REAUTH_REQUIRED, REAUTH.format(provider))
        for provider, cid in connected.items()
    }
    assert snap.problem == ""


async def test_vending_after_removal_is_ConnectionRemoved_R6(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    calgate_url: str,
    session: dict[str, str],
) -> None:
    await world.seed(seed_event("Standup"))
    app = make_client()
    await app.sign_in(user.email, user.password)
    assert len((await app.refresh_all()).entries) == 2

    r = await client.delete(f"/v1/me/connections/{connected['google']}", headers=session)
    assert r.status_code == 204, r.text
    snap = await app.refresh_all()  # 200 without it: forgotten
    assert set(snap.connections) == {connected["microsoft"]}
    assert subjects(snap) == ["Standup"]

    r = await client.delete(f"/v1/me/connections/{connected['microsoft']}", headers=session)
    assert r.status_code == 204, r.text
    async with httpx.AsyncClient() as http:
        api = ServiceApi(http, calgate_url)
        token = session["Authorization"].removeprefix("Bearer ")
        with pytest.raises(ConnectionRemoved) as info:
            await api.vend(token)
        removed = {r.connection_id: (r.provider, r.removed_by) for r in info.value.removed}
        assert removed == {cid: (p, "user") for p, cid in connected.items()}
        assert all(r.removed_at is not None for r in info.value.removed)
        assert "removed by you" in info.value.detail
        with pytest.raises(ConnectionRemoved) as one:  # asked for one connection: the same
            await api.vend(token, connection_id=connected["google"])
        assert [r.connection_id for r in one.value.removed] == [connected["google"]]

    snap = await app.refresh_all()  # the app says why nothing is shown, and goes on
    assert snap.entries == ()
    assert snap.connections == {}
    assert snap.problem == info.value.detail
    assert f"! {info.value.detail}" in text(snap)


async def test_never_connected_is_NotConnected(
    user: User, calgate_url: str, session: dict[str, str]
) -> None:
    async with httpx.AsyncClient() as http:
        api = ServiceApi(http, calgate_url)
        with pytest.raises(NotConnected) as info:
            await api.vend(session["Authorization"].removeprefix("Bearer "))
    assert not isinstance(info.value, ConnectionRemoved)
    assert info.value.removed == ()
    assert "no calendar is connected" in info.value.detail


async def test_notifications_drop_a_dead_or_removed_connection_at_once_C3_R6(
    make_client: MakeClient,
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """calgate finds Google's grant dead (another app's forced vend) and announces it; the
    app drops Google's events and token without fetching, and learns where to reconnect.
    Then Microsoft is removed: listed as removed, its events gone."""
    google, ms = connected["google"], connected["microsoft"]
    await world.seed(seed_event("Standup"))
    app = make_client()
    await app.sign_in(user.email, user.password)
    await app.start()
    assert len(app.snapshot.entries) == 2
    listed = await world.counters()

    await world.revoke("google")
    r = await client.get("/v1/me/credentials", params={"force_refresh": "true"}, headers=session)
    assert r.status_code == 200, r.text  # Microsoft is still usable
    snap = await wait(
        app,
        lambda s: (
            s.connections[google].status is Status.REAUTH_REQUIRED
            and bool(s.connections[google].reauth_url)
        ),
    )
    assert snap.connections[google].reauth_url == REAUTH.format("google")
    assert subjects(snap) == ["Standup"]
    assert [e.connection_id for e in snap.entries] == [ms]
    counters = await world.counters()
    assert counters.get("google.events.list") == listed.get("google.events.list")

    r = await client.delete(f"/v1/me/connections/{ms}", headers=session)
    assert r.status_code == 204, r.text
    snap = await wait(app, lambda s: s.connections[ms].status is Status.REMOVED)
    assert snap.entries == ()
    lines = [line for line in text(snap).splitlines() if line.startswith("!")]
    assert (
        f"! microsoft {ms[:8]}: removed — removed in calgate; its events are no longer shown"
        in (lines)
    )
    assert any(REAUTH.format("google") in line for line in lines)

    snap = await app.refresh_all()  # calgate lists Google only: 409, as reconnect
    assert set(snap.connections) == {google}
    assert snap.connections[google].status is Status.REAUTH_REQUIRED


async def test_the_terminal_app_says_where_to_reconnect_R6(
    world: ClientWorld,
    user: User,
    connected: dict[str, str],
    calgate_url: str,
    client: httpx.AsyncClient,
    session: dict[str, str],
) -> None:
    """`calgate client --once` with every grant dead (found by another app's forced vend):
    one line per calendar saying to reconnect and where, not a failure."""
    await world.revoke("google")
    await world.revoke("microsoft")
    r = await client.get("/v1/me/credentials", params={"force_refresh": "true"}, headers=session)
    assert r.status_code == 409, r.text
    out = io.StringIO()
    options = TerminalOptions(url=calgate_url, email=user.email, once=True)
    await run_terminal(options, user.password, Console(width=400, file=out))
    assert MARKER not in out.getvalue()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("!")]
    assert sorted(lines) == sorted(
        f"! {provider} {cid[:8]}: calgate's access was revoked or has expired — reconnect "
        f"this calendar at {REAUTH.format(provider)}"
        for provider, cid in connected.items()
    )
