"""Token vending (R10): at sign-in an app gets, per connection of its user, a fresh access
token, its expiry, the API base URL and what it may do, and talks to the provider itself.

The user, their policy inputs and connections come from one statement; a process keeps
that view for ``vend_cache_seconds`` (re-read in the background once it is older, so a busy
user's vends never queue behind the database). Every change made through a process drops
its views at once (connect, refresh, dead grant, removal, policy change). A removal or a
dead grant in another process drops them too, as soon as its ``connection.removed`` or
``connection.reauth_required`` message arrives over the notification bus (R6: calendaring
stops at once everywhere; a bus outage drops every view); other changes made through
another process are seen within about ``vend_cache_seconds``. The warm path awaits nothing.
The refresh token itself is never vended.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from calgate.clock import Clock
from calgate.connections.apps import ProviderApps
from calgate.connections.flow import effective_policy
from calgate.connections.store import ConnectionStore, UserView
from calgate.connections.tokens import IssuedToken, TokenBroker
from calgate.domain.connections import (
    Connection,
    ConnectionStatus,
    Permissions,
    allowed_permissions,
)
from calgate.domain.policy import EffectivePolicy
from calgate.domain.principal import Principal
from calgate.errors import NotFound, PolicyDenied, ReauthRequired, Unauthenticated
from calgate.persistence.uow import UnitOfWorkFactory

__all__ = ["ConnectionGone", "Unavailable", "VendResult", "Vended", "Vending"]

_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft 365"}
_TOUCH_EVERY = timedelta(hours=1)
_VIEWS_MAX = 50_000


class ConnectionGone(NotFound):
    """No connection to vend; ``problem_extra`` says which were removed, when and by whom."""

    problem_extra: dict[str, object]

    def __init__(self, detail: str, removed: list[dict[str, str]]) -> None:
        super().__init__(detail)
        self.problem_extra = {"removed": removed}


@dataclass(frozen=True, slots=True, repr=False)
class Vended:
    connection: Connection
    token: IssuedToken
    permissions: Permissions
    api_base_url: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    connection: Connection
    status: str
    detail: str
    reauth_url: str | None = None


@dataclass(frozen=True, slots=True)
class VendResult:
    credentials: list[Vended]
    unavailable: list[Unavailable]


def _gone(tombstones: list[Connection], provider: str | None) -> ConnectionGone:
    removed = [
        {
            "connection_id": str(c.id),
            "provider": c.provider.value,
            "removed_at": c.removed_at.isoformat() if c.removed_at else "",
            "removed_by": c.removed_by or "",
        }
        for c in tombstones
    ]
    if tombstones:
        last = max(tombstones, key=lambda c: c.removed_at or c.updated_at)
        who = "an administrator" if last.removed_by == "admin" else "you"
        when = (last.removed_at or last.updated_at).strftime("%Y-%m-%d %H:%M UTC")
        name = _NAMES.get(last.provider.value, last.provider.value)
        detail = (
            f"no calendar is connected: your {name} "
            f"connection was removed by {who} on {when} and its tokens were deleted; connect "
            f"again with POST /v1/me/connections/{last.provider.value}/authorize"
        )
    else:
        target = f"{_NAMES.get(provider, provider)} " if provider else ""
        detail = (
            f"no {target}calendar is connected: connect one with "
            f"POST /v1/me/connections/{provider or '{provider}'}/authorize"
        )
    return ConnectionGone(detail, removed)


class Vending:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        broker: TokenBroker,
        apps: ProviderApps,
        clock: Clock,
        cache_seconds: float = 0.0,
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._apps = apps
        self._clock = clock
        self._ttl = cache_seconds
        # user id → (fresh until (monotonic), account id, view, policy)
        self._views: OrderedDict[uuid.UUID, tuple[float, uuid.UUID, UserView, EffectivePolicy]] = (
            OrderedDict()
        )
        self._loading: dict[uuid.UUID, asyncio.Task[tuple[UserView, EffectivePolicy]]] = {}
        self._touched: dict[uuid.UUID, datetime] = {}

    async def aclose(self) -> None:
        """Wait for view reads still running (the runtime is closing)."""
        await asyncio.gather(*list(self._loading.values()), return_exceptions=True)

    # the per-process view ------------------------------------------------------------------
    def invalidate_user(self, user_id: uuid.UUID) -> None:
        self._views.pop(user_id, None)

    def invalidate_all(self) -> None:
        self._views.clear()

    def invalidate_account(self, account_id: uuid.UUID) -> None:
        for user_id in [u for u, v in self._views.items() if v[1] == account_id]:
            del self._views[user_id]

    async def load(
        self, principal: Principal, *, fresh: bool = True
    ) -> tuple[UserView, EffectivePolicy]:
        """The user's connections and effective policy: read now, or (``fresh`` False, the
        vend path) this process's view while it is recent enough."""
        assert principal.account_id is not None
        assert principal.user_id is not None
        if fresh or self._ttl <= 0:
            return await self._read(principal)
        hit = self._views.get(principal.user_id)
        now = time.monotonic()
        if hit is not None and hit[1] == principal.account_id:
            if now < hit[0]:
                return hit[2], hit[3]
            if now < hit[0] + self._ttl:
                self._reload(principal)  # stale: read again in the background, serve this
                return hit[2], hit[3]
        return await asyncio.shield(self._reload(principal))

    def _reload(self, principal: Principal) -> asyncio.Task[tuple[UserView, EffectivePolicy]]:
        """One read per user at a time: concurrent callers share it."""
        assert principal.user_id is not None
        user_id = principal.user_id
        task = self._loading.get(user_id)
        if task is None:
            task = asyncio.create_task(self._read(principal))
            self._loading[user_id] = task

            def done(finished: asyncio.Task[tuple[UserView, EffectivePolicy]]) -> None:
                self._loading.pop(user_id, None)
                if not finished.cancelled():
                    finished.exception()  # retrieved: awaiting callers re-raise it

            task.add_done_callback(done)
        return task

    async def _read(self, principal: Principal) -> tuple[UserView, EffectivePolicy]:
        assert principal.account_id is not None
        assert principal.user_id is not None
        async with self._uow(readonly=True) as uow:
            view = await ConnectionStore(uow.session).user_view(
                principal.account_id, principal.user_id
            )
        if view is None:
            self._views.pop(principal.user_id, None)
            raise Unauthenticated("the user of this session no longer exists")
        policy = effective_policy(view.account_policy, view.group_policy, view.group_name)
        if self._ttl > 0:
            until = time.monotonic() + self._ttl
            self._views[principal.user_id] = (until, principal.account_id, view, policy)
            self._views.move_to_end(principal.user_id)
            if len(self._views) > _VIEWS_MAX:
                self._views.popitem(last=False)
        return view, policy

    # vending -------------------------------------------------------------------------------
    async def vend(
        self,
        principal: Principal,
        *,
        force: bool = False,
        connection_id: uuid.UUID | None = None,
        provider: str | None = None,
    ) -> VendResult:
        view, policy = await self.load(principal, fresh=False)
        chosen = [
            c
            for c in view.connections
            if (connection_id is None or c.id == connection_id)
            and (provider is None or c.provider.value == provider)
        ]
        live = [c for c in chosen if c.status is not ConnectionStatus.REMOVED]
        if not live:
            if connection_id is not None and not chosen:
                raise NotFound(f"connection {connection_id} not found")
            raise _gone([c for c in chosen if c.status is ConnectionStatus.REMOVED], provider)
        outcomes: list[Vended | BaseException | None] = [
            self._cached(c, policy, force) for c in live
        ]
        missing = [i for i, outcome in enumerate(outcomes) if outcome is None]
        if missing:  # read or refresh only those, concurrently
            found = await asyncio.gather(
                *(self._one(live[i], policy, force) for i in missing), return_exceptions=True
            )
            for i, outcome in zip(missing, found, strict=True):
                outcomes[i] = outcome
        result = VendResult([], [])
        refusals: list[ReauthRequired | PolicyDenied] = []
        for connection, done in zip(live, outcomes, strict=True):
            if isinstance(done, Vended):
                result.credentials.append(done)
            elif isinstance(done, ReauthRequired):
                refusals.append(done)
                result.unavailable.append(
                    Unavailable(
                        connection,
                        ConnectionStatus.REAUTH_REQUIRED.value,
                        done.detail,
                        str(done.problem_extra["reauth_url"]),
                    )
                )
            elif isinstance(done, PolicyDenied):
                refusals.append(done)
                result.unavailable.append(Unavailable(connection, "policy_denied", done.detail))
            elif isinstance(done, BaseException):
                raise done
        if not result.credentials:  # nothing usable: a problem, listing each connection
            statuses = [
                {
                    "connection_id": str(u.connection.id),
                    "provider": u.connection.provider.value,
                    "status": u.status,
                    "reauth_url": u.reauth_url,
                }
                for u in result.unavailable
            ]
            reauth = [r for r in refusals if isinstance(r, ReauthRequired)]
            if reauth:
                reauth[0].problem_extra["connections"] = statuses
                raise reauth[0]
            raise refusals[0]
        await self._touch(result.credentials)
        return result

    def _vended(self, connection: Connection, token: IssuedToken, allowed: Permissions) -> Vended:
        permissions = self._broker.permissions_of(connection.provider, token.scopes)
        return Vended(
            connection,
            token,
            permissions.within(allowed),
            self._apps.api_base_url(connection.provider),
        )

    def _cached(
        self, connection: Connection, policy: EffectivePolicy, force: bool
    ) -> Vended | BaseException | None:
        """The warm path, awaiting nothing: a refusal, a cached token, or None when the
        token must be read or refreshed."""
        if not policy.allows_provider(connection.provider):
            return PolicyDenied(
                f"your account's policy no longer allows {connection.provider.value} calendars",
                policy="allowed_providers",
            )
        if connection.status is ConnectionStatus.REAUTH_REQUIRED:
            return self._broker.reauth_error(connection)
        if force:
            return None
        allowed = allowed_permissions(policy, connection.provider)
        token = self._broker.cached(connection, allowed)
        return self._vended(connection, token, allowed) if token is not None else None

    async def _one(self, connection: Connection, policy: EffectivePolicy, force: bool) -> Vended:
        allowed = allowed_permissions(policy, connection.provider)
        token = await self._broker.token(connection, allowed, force=force)
        return self._vended(connection, token, allowed)

    async def _touch(self, vended: list[Vended]) -> None:
        """Record use at most hourly (keep-alive and admins read it), never on every vend."""
        now = self._clock.now()
        stale = []
        for v in vended:
            seen = self._touched.get(v.connection.id) or v.connection.last_used_at
            if seen is None or now - seen > _TOUCH_EVERY:
                stale.append(v.connection)
                self._touched[v.connection.id] = now
        if len(self._touched) > _VIEWS_MAX:
            self._touched.clear()
        if not stale:
            return
        async with self._uow() as uow:
            store = ConnectionStore(uow.session)
            for connection in stale:
                await store.touch(connection.id, now, now - _TOUCH_EVERY)
            await uow.commit()
