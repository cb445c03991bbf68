"""``CalgateClient``: the SDK a desktop or mobile app embeds (C1–C6).

    async with CalgateClient("https://calgate.example.com") as client:
        await client.sign_in("alice@example.com", password)
        client.on_change(lambda snap: redraw(snap.entries))
        await client.start()          # stream + full refresh (C2) + 30-minute refresh (C4)

Everything lives in this object's memory (C1): the session token, vended access tokens
(never written, never logged) and sanitized events (:mod:`calgate.sanitize`, C5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import httpx

from calgate.client.errors import (
    CalendarReadOnly,
    ClientError,
    EventNotWritten,
    NotConnected,
    ProviderBusy,
    ProviderError,
    ProviderUnauthorized,
    ReauthRequired,
    SessionExpired,
    SignInFailed,
)
from calgate.client.listener import NotificationListener
from calgate.client.providers import FETCHERS, Fetched, fetch_events
from calgate.client.service import ServiceApi, Session, VendedConnection
from calgate.client.state import (
    AsyncioTimer,
    ConnectionState,
    Entry,
    Snapshot,
    Status,
    Timer,
    jittered,
)
from calgate.client.tagging import ScheduledMeeting, write_event
from calgate.clock import Clock, SystemClock
from calgate.sanitize import Platform, SanitizedEvent

__all__ = ["CalgateClient", "Vendor"]

log = logging.getLogger(__name__)

Vendor = Callable[[bool, str | None], Awaitable[list[VendedConnection]]]
"""``(force_refresh, connection_id) -> connections``: where vended credentials come from."""

_MAX_RETRY_AFTER = 30.0


class CalgateClient:
    def __init__(
        self,
        base_url: str,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock | None = None,
        timer: Timer | None = None,
        rng: random.Random | None = None,
        days_ahead: float = 7,
        refresh_interval: float = 1800,
        refresh_jitter: float = 0.1,
        platform: Platform | None = None,
        websocket: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
        vendor: Vendor | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(20.0, connect=5.0), verify=ssl_context or True
        )
        self.api = ServiceApi(self.http, self.base_url)
        self.clock = clock or SystemClock()
        self.timer = timer or AsyncioTimer()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self.days_ahead = days_ahead
        self.refresh_interval = refresh_interval
        self.refresh_jitter = refresh_jitter
        self.platform = platform or Platform.of(join_bases=[f"{self.base_url}/j/"])
        self._vendor = vendor or self._vend_from_service
        self._session: Session | None = None
        self._renew: Callable[[], Awaitable[Session]] | None = None
        self._connections: dict[str, VendedConnection] = {}
        self._states: dict[str, ConnectionState] = {}
        self._events: dict[str, tuple[SanitizedEvent, ...]] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._snapshot = Snapshot()
        self._vend_problem = ""  # e.g. nothing is connected (any more), and why
        self._session_problem = ""  # the session could not be renewed
        self._callbacks: list[Callable[[Snapshot], None]] = []
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background_tasks: set[asyncio.Task[None]] = set()
        self.listener = NotificationListener(
            base_url=self.base_url,
            http=self.http,
            token=self._session_token,
            handle=self._on_notification,
            websocket=websocket,
            ssl_context=ssl_context,
            backoff=reconnect_backoff,
            rng=self.rng,
        )

    async def __aenter__(self) -> CalgateClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # sign-in -----------------------------------------------------------------------------
    async def sign_in(self, email: str, password: str) -> None:
        """Local sign-in. The password stays in memory to renew the short-lived session."""
        body = {"email": email, "password": password}
        self._renew = lambda: self.api.sign_in(body)
        self._session = await self._renew()

    async def sign_in_with_id_token(self, id_token: str | Callable[[], Awaitable[str]]) -> None:
        """OIDC sign-in. Pass a callable to let the client get a fresh ID token when the
        session must be renewed; with a plain string it cannot renew."""

        async def renew() -> Session:
            token = id_token if isinstance(id_token, str) else await id_token()
            return await self.api.sign_in({"id_token": token})

        self._renew = renew
        self._session = await renew()

    async def _session_token(self, force_new: bool = False) -> str:
        session = self._session
        stale = session is None or self.clock.now() >= session.expires_at - timedelta(seconds=60)
        if force_new or stale:
            if self._renew is None:
                raise SessionExpired("not signed in")
            try:
                session = self._session = await self._renew()
            except SignInFailed as exc:
                raise SessionExpired(f"session could not be renewed: {exc.detail}") from None
        assert session is not None
        return session.token

    async def _vend_from_service(
        self, force_refresh: bool, connection_id: str | None
    ) -> list[VendedConnection]:
        try:
            token = await self._session_token()
            return await self.api.vend(
                token, force_refresh=force_refresh, connection_id=connection_id
            )
        except SessionExpired:
            token = await self._session_token(force_new=True)
            return await self.api.vend(
                token, force_refresh=force_refresh, connection_id=connection_id
            )

    # running -----------------------------------------------------------------------------
    async def start(self, *, stream_wait: float = 5.0) -> None:
        """Open the notification stream, do the full refresh (C2) once it is open (or after
        ``stream_wait`` seconds without it), then refresh every ``refresh_interval`` (C4)."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._listen(), name="calgate-notifications"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listener.connected.wait(), stream_wait)
        await self.refresh_all()
        self._tasks.append(asyncio.create_task(self._periodic(), name="calgate-refresh"))

    async def _listen(self) -> None:
        try:
            await self.listener.run()
        except SessionExpired as exc:
            log.warning("notifications stopped: %s", exc.detail)
            self._session_problem = f"{exc.detail}; sign in again"
            self._publish()

    async def _periodic(self) -> None:
        while True:
            await self.timer.sleep(jittered(self.refresh_interval, self.refresh_jitter, self.rng))
            log.info("periodic refresh")
            try:
                await self.refresh_all()
            except ClientError as exc:
                log.warning("periodic refresh failed: %s", exc.detail)

    async def aclose(self) -> None:
        """Stop, and forget everything: events, tokens, the session."""
        tasks = [*self._tasks, *self._background_tasks, *self._inflight.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._inflight.clear()
        self._connections.clear()
        self._events.clear()
        self._states.clear()
        self._session = self._renew = None
        self._vend_problem = self._session_problem = ""
        self._snapshot = Snapshot(generation=self._snapshot.generation + 1)
        if self._own_http:
            await self.http.aclose()

    # refreshing --------------------------------------------------------------------------
    async def refresh_all(self) -> Snapshot:
        """Vend (``GET /v1/me/credentials``), then fetch every connection's upcoming events
        straight from its provider (C2). A connection calgate cannot vend because the
        provider no longer accepts its grant (R6) is listed as ``REAUTH_REQUIRED`` with its
        ``reauth_url`` and no events, beside the others; with nothing connected (any more)
        the snapshot's ``problem`` says why."""
        try:
            vended = await self._vendor(False, None)
            self._vend_problem = ""
        except ReauthRequired as exc:  # nothing usable: every connection's status
            vended = list(exc.connections)
            self._vend_problem = "" if vended else exc.detail
            log.info("no usable connection: %d need reconnecting", len(vended))
        except NotConnected as exc:  # removed (by whom, when) or never connected
            vended = []
            self._vend_problem = exc.detail
            log.info("no connection to vend (%d removed)", len(exc.removed))
        current = {c.id: c for c in vended}
        for gone in (set(self._connections) | set(self._states)) - set(current):
            self._forget(gone)
        self._connections.update(current)
        await asyncio.gather(*(self._refresh_one(cid) for cid in current))
        return self._publish(full=True)

    async def refresh_connection(self, connection_id: str) -> None:
        """Fetch one connection again (C3). Calls while one runs coalesce into one more."""
        if connection_id not in self._connections:
            await self.refresh_all()
            return
        await asyncio.shield(self._schedule(connection_id))

    def _schedule(self, connection_id: str) -> asyncio.Task[None]:
        task = self._inflight.get(connection_id)
        if task is None:
            task = asyncio.create_task(self._refresh_loop(connection_id))
            self._inflight[connection_id] = task
        else:
            self._again.add(connection_id)
        return task

    async def _refresh_loop(self, connection_id: str) -> None:
        try:
            while True:
                self._again.discard(connection_id)
                await self._refresh_one(connection_id)
                self._publish()
                if connection_id not in self._again:
                    return
        except ClientError as exc:
            log.warning("refreshing connection %s failed: %s", connection_id, exc.detail)
        finally:
            self._inflight.pop(connection_id, None)

    async def _full_refresh_task(self) -> None:
        try:
            await self.refresh_all()
        except ClientError as exc:
            log.warning("full refresh failed: %s", exc.detail)

    async def _refresh_one(self, connection_id: str) -> None:
        conn = self._connections.get(connection_id)
        if conn is None:
            return
        if conn.status == "reauth_required":
            self._mark_reauth(conn)
            return
        if conn.provider not in FETCHERS:
            self._set(conn, Status.UNSUPPORTED, problem=f"{conn.provider} is not supported yet")
            return
        if not conn.access_token:
            self._set(conn, Status.ERROR, problem=conn.detail or f"no access token ({conn.status})")
            return
        try:
            fetched = await self._fetch(conn)
        except ProviderError as exc:
            log.warning("connection %s: %s", conn.id, exc.detail)
            latest = self._connections.get(conn.id)
            if latest is None:
                return
            if latest.status == "reauth_required":
                self._mark_reauth(latest)
            else:
                self._set(latest, Status.ERROR, problem=exc.detail)
            return
        latest = self._connections.get(conn.id)
        if latest is None or not latest.access_token:
            return  # removed, or its grant died, while fetching: keep none of it
        self._events[conn.id] = fetched.events
        self._set(conn, Status.OK, count=len(fetched.events))
        log.info(
            "connection %s (%s): %d upcoming events, %d skipped, %d page(s)",
            conn.id, conn.provider, len(fetched.events), fetched.skipped, fetched.pages,
        )  # fmt: skip

    async def _fetch(self, conn: VendedConnection) -> Fetched:
        start = self.clock.now()
        kw: dict[str, Any] = {
            "start": start,
            "end": start + timedelta(days=self.days_ahead),
            "platform": self.platform,
        }
        for attempt in range(3):
            try:
                return await fetch_events(
                    self.http,
                    provider=conn.provider,
                    api_base_url=conn.api_base_url,
                    access_token=conn.access_token,
                    **kw,
                )
            except ProviderUnauthorized:
                if attempt:
                    raise
                log.info("connection %s: provider refused the token, re-vending", conn.id)
                conn = await self._revend(conn)
            except ProviderBusy as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if attempt == 2 or wait > _MAX_RETRY_AFTER:
                    raise
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _revend(self, conn: VendedConnection) -> VendedConnection:
        try:
            fresh = {c.id: c for c in await self._vendor(True, conn.id)}
        except ReauthRequired as exc:  # calgate's refresh found the grant dead (R6)
            fresh = {c.id: c for c in exc.connections}
        except NotConnected:  # removed meanwhile
            fresh = {}
        renewed = fresh.get(conn.id)
        if renewed is None:
            self._mark_removed(conn.id, conn.provider)
            raise ProviderError(f"connection {conn.id} is gone")
        self._connections[conn.id] = renewed
        if renewed.status == "reauth_required":
            raise ProviderUnauthorized(f"connection {conn.id} needs to be reconnected")
        if not renewed.access_token:
            raise ProviderError(f"connection {conn.id}: {renewed.detail or renewed.status}")
        return renewed

    # scheduling (R11, R13) ------------------------------------------------------------------
    async def schedule_and_tag(
        self,
        fields: Mapping[str, Any],
        *,
        tag: bool = True,
        connection_id: str | None = None,
        event_id: str | None = None,
    ) -> ScheduledMeeting:
        """Schedule a meeting with the R11 ``fields`` (``POST /v1/meetings``, with this
        app's session) and, with ``tag``, write its calendar event at the provider carrying
        calgate's tag, the join link and the invitation (:mod:`calgate.client.tagging`), or
        tag the existing ``event_id``. With read-only calendar access (the policy) this
        refuses before anything is scheduled (`CalendarReadOnly`). A failed event write
        raises `EventNotWritten` carrying the scheduled meeting."""
        target: VendedConnection | None = None
        if tag:
            vended = [
                c
                for c in await self._vendor(False, connection_id)
                if c.access_token and (connection_id is None or c.id == connection_id)
            ]
            if not vended:
                raise ProviderError("no connected calendar to write the meeting's event to")
            target = next((c for c in vended if c.can_write), None)
            if target is None:
                raise CalendarReadOnly(
                    "your calendar access is read-only (your administrator's policy): the "
                    "meeting's event cannot be written"
                )
        try:
            body = await self.api.create_meeting(await self._session_token(), fields)
        except SessionExpired:
            body = await self.api.create_meeting(await self._session_token(True), fields)
        if target is None:
            return ScheduledMeeting.of(body)
        try:
            try:
                written = await write_event(self.http, target, body, event_id=event_id)
            except ProviderUnauthorized:
                target = await self._revend(target)
                written = await write_event(self.http, target, body, event_id=event_id)
        except ProviderError as exc:
            raise EventNotWritten(
                f"meeting {body['id']} was scheduled, but its event was not written: {exc.detail}",
                meeting=ScheduledMeeting.of(body),
            ) from None
        return ScheduledMeeting.of(
            body, event_id=written, connection_id=target.id, provider=target.provider
        )

    # notifications -----------------------------------------------------------------------
    async def _on_notification(self, kind: str, data: dict[str, Any]) -> None:
        cid = data.get("connection_id")
        if kind == "stream.reset":
            log.info("notification history is gone: full refresh")
            self._background(self._full_refresh_task())
        elif kind == "connection.connected":  # a calendar (re)connected: vend everything again
            self._background(self._full_refresh_task())
        elif not isinstance(cid, str):
            return
        elif kind == "calendar.changed":
            conn = self._connections.get(cid)
            if conn is not None and conn.access_token:
                self._schedule(cid)
            else:  # a calendar connected (or reconnected) after the last refresh
                self._background(self._full_refresh_task())
        elif kind == "connection.reauth_required":
            conn = self._connections.get(cid)
            if conn is not None:  # R6: its token and events go now; where to reconnect next
                self._mark_reauth(conn)
                self._publish()
                self._background(self._learn_reauth_url(cid))
        elif kind == "connection.removed":
            known = self._states.get(cid) or self._connections.get(cid)
            if known is not None:
                self._mark_removed(cid, known.provider)
                self._publish()

    async def _learn_reauth_url(self, connection_id: str) -> None:
        """The notification names the connection only: ask calgate (a vend of that
        connection, answered 409) where the user reconnects it."""
        try:
            found = await self._vendor(False, connection_id)
        except ReauthRequired as exc:
            found = list(exc.connections)
        except ClientError as exc:
            log.info("connection %s: no reconnect URL: %s", connection_id, exc.detail)
            return
        for conn in found:
            current = self._connections.get(connection_id)
            if conn.id != connection_id or conn.status != "reauth_required":
                continue
            if current is not None and current.status == "reauth_required":
                self._mark_reauth(conn)
                self._publish()

    # state -------------------------------------------------------------------------------
    def _set(
        self,
        conn: VendedConnection,
        status: Status,
        *,
        count: int | None = None,
        problem: str = "",
        reauth_url: str = "",
    ) -> None:
        old = self._states.get(conn.id)
        ok = status is Status.OK
        self._states[conn.id] = ConnectionState(
            id=conn.id,
            provider=conn.provider,
            status=status,
            event_count=count if count is not None else len(self._events.get(conn.id, ())),
            refreshed_at=self.clock.now() if ok else (old.refreshed_at if old else None),
            problem=problem,
            reauth_url=reauth_url,
        )

    def _mark_reauth(self, conn: VendedConnection) -> None:
        """The provider no longer accepts the connection's grant (R6): keep neither its
        token nor its events; say where to reconnect (kept from before if not known now)."""
        old = self._states.get(conn.id)
        known = old if old is not None and old.status is Status.REAUTH_REQUIRED else None
        dead = replace(
            conn,
            status="reauth_required",
            access_token="",
            expires_at=None,
            reauth_url=conn.reauth_url or (known.reauth_url if known else ""),
            detail=conn.detail or (known.problem if known else ""),
        )
        self._connections[conn.id] = dead
        self._events.pop(conn.id, None)
        self._set(dead, Status.REAUTH_REQUIRED, problem=dead.detail, reauth_url=dead.reauth_url)

    def _mark_removed(self, connection_id: str, provider: str) -> None:
        """Removed in calgate (R6): its token and events go; the connection stays listed as
        ``REMOVED`` until the next full refresh, so the app can say what happened."""
        self._forget(connection_id)
        self._states[connection_id] = ConnectionState(connection_id, provider, Status.REMOVED)

    def _forget(self, connection_id: str) -> None:
        self._connections.pop(connection_id, None)
        self._events.pop(connection_id, None)
        self._states.pop(connection_id, None)

    def _publish(self, *, full: bool = False) -> Snapshot:
        entries = sorted(
            (Entry(cid, e) for cid, events in self._events.items() for e in events),
            key=lambda x: (x.event.start, x.event.end, x.connection_id, x.event.id),
        )
        old = self._snapshot
        self._snapshot = snap = Snapshot(
            generation=old.generation + 1,
            entries=tuple(entries),
            connections=MappingProxyType(dict(self._states)),
            refreshed_at=self.clock.now() if full else old.refreshed_at,
            problem="; ".join(p for p in (self._vend_problem, self._session_problem) if p),
        )
        for callback in list(self._callbacks):
            try:
                callback(snap)
            except Exception:
                log.exception("change callback failed")
        self._changed.set()
        self._changed = asyncio.Event()
        return snap

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_tasks.discard)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def stream_transport(self) -> str | None:
        """``websocket`` or ``sse`` while the notification stream is open."""
        return self.listener.transport

    def on_change(self, callback: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` after every change; returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    async def wait_for(self, predicate: Callable[[Snapshot], bool]) -> Snapshot:
        """The first snapshot (the current one included) for which ``predicate`` holds; wrap
        it in ``asyncio.timeout`` to bound the wait."""
        while not predicate(self._snapshot):
            await self._changed.wait()
        return self._snapshot
