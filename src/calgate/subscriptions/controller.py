"""Keeping each connection subscribed to its provider's change notifications (R9).

- **create** right after a connection is made (and whenever the reconciliation sweep finds
  an active connection without one): a fresh 256-bit secret per subscription (Graph
  ``clientState``, Google channel token) kept in the vault, its SHA-256 on the row for the
  webhook check. Graph validates our endpoint before it answers (``/webhooks/…`` echoes the
  token); a Google channel's row is stored *before* ``events.watch`` so that its first
  (``sync``) message is recognised.
- **renew** when 80 % of the granted lifetime has passed: Graph ``PATCH expirationDateTime``
  (the granted expiry is read back); Google channels cannot be renewed, so a new channel is
  created first and the old one stopped after (both are accepted during the overlap).
- **lifecycle** (Graph): ``missed`` → sync; ``reauthorizationRequired`` → refresh the
  token and renew (which reauthorizes); ``subscriptionRemoved`` → recreate, then sync.
- **stop** on disconnect: locally always, in the removal's transaction; at the provider
  best effort, after the commit, with the access token still valid at that moment.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

from calgate.clock import Clock
from calgate.connections.flow import CONNECTION_OWNER
from calgate.connectors.base import CalendarConnector, Capability, PushSubscription
from calgate.connectors.errors import ConnectorError, NotFound, Unsupported
from calgate.domain.connections import Connection, ConnectionStatus
from calgate.errors import CalgateError, ReauthRequired, VaultError
from calgate.jobs.queue import JobQueue
from calgate.logging import redact
from calgate.persistence.tables import SubscriptionRow
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.settings import Settings
from calgate.subscriptions import store
from calgate.subscriptions.ingest import enqueue_sync
from calgate.subscriptions.metrics import PushMetrics
from calgate.subscriptions.model import SECRET_OWNER, SubscriptionState, digest, new_secret
from calgate.subscriptions.store import SubscriptionRecord
from calgate.sync import state
from calgate.sync.access import ProviderAccess
from calgate.vault.base import CredentialVault, Secret

__all__ = ["SubscriptionController", "webhook_base"]

log = logging.getLogger(__name__)

CALENDAR = "primary"
RENEW_AT = 0.8  # of the granted lifetime
_RETRY = timedelta(minutes=5)


def webhook_base(settings: Settings) -> str:
    return str(settings.webhook_base_url or settings.public_url).rstrip("/")


def _short(exc: BaseException) -> str:
    text = exc.detail if isinstance(exc, ConnectorError | CalgateError) else type(exc).__name__
    return redact(" ".join(text.split()))[:300]


class SubscriptionController:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        access: ProviderAccess,
        vault: CredentialVault,
        jobs: JobQueue,
        clock: Clock,
        settings: Settings,
        metrics: PushMetrics,
    ) -> None:
        self._uow = uow
        self._access = access
        self._vault = vault
        self._jobs = jobs
        self._clock = clock
        self._settings = settings
        self._metrics = metrics
        self.lifetime = timedelta(minutes=settings.subscription_minutes)
        self._background: set[asyncio.Task[None]] = set()

    def address(self, provider: str, *, lifecycle: bool = False) -> str:
        suffix = "/lifecycle" if lifecycle else ""
        return f"{webhook_base(self._settings)}/webhooks/{provider}{suffix}"

    def renew_due(self, created: datetime, expires: datetime) -> datetime:
        return created + (expires - created) * RENEW_AT

    def _op(self, provider: str, operation: str, outcome: str) -> None:
        self._metrics.subscription_ops.labels(provider, operation, outcome).inc()

    # create ------------------------------------------------------------------------------
    async def ensure(self, connection_id: uuid.UUID) -> SubscriptionRecord | None:
        """Subscribe ``connection_id`` unless it already has a live subscription."""
        connection = await self._access.connection(connection_id)
        if connection is None or connection.status is not ConnectionStatus.ACTIVE:
            return None
        now = self._clock.now()
        async with self._uow(readonly=True) as uow:
            rows = await store.for_connection(uow.session, connection.id)
        for row in rows:
            if row.state == SubscriptionState.ACTIVE and (row.expires_at or now) > now:
                return row
            if row.state == SubscriptionState.PENDING and now - row.created_at < _RETRY:
                return row  # another runner is creating it right now
        connector = await self._access.connector(connection)
        if not connector.capabilities & Capability.PUSH:
            return None
        try:
            token = await self._access.token(connection)
            return await self._create(connection, connector, token)
        except ReauthRequired:
            return None  # the broker marked the connection and told the apps
        except (ConnectorError, CalgateError) as exc:
            await self._defer(connection, exc)
            raise

    async def _defer(self, connection: Connection, exc: BaseException) -> None:
        """Let the sweep try again later, not every minute."""
        self._op(connection.provider.value, "create", "failed")
        log.warning(
            "connection %s: could not subscribe to %s notifications: %s",
            connection.id,
            connection.provider.value,
            _short(exc),
        )
        async with self._uow() as uow:
            now = self._clock.now()
            await state.ensure(uow.session, connection.id, connection.account_id, now)
            await state.update_state(uow.session, connection.id, next_subscribe_at=now + _RETRY)
            await uow.commit()

    async def _create(
        self, connection: Connection, connector: CalendarConnector, token: Secret
    ) -> SubscriptionRecord:
        provider = connection.provider.value
        secret = new_secret()
        sub_id = uuid.uuid4()
        now = self._clock.now()
        asked = now + self.lifetime
        google = provider == "google"
        if google:  # our channel id: store first, so its first message is recognised
            async with self._uow() as uow:
                await self._insert(uow, connection, sub_id, str(sub_id), secret, now, None)
                await uow.commit()
        try:
            got = await connector.subscribe(
                token,
                CALENDAR,
                address=self.address(provider),
                secret=secret,
                expires_at=asked,
                channel_id=str(sub_id) if google else None,
                lifecycle_address=None if google else self.address(provider, lifecycle=True),
            )
        except BaseException:
            if google:
                async with self._uow() as uow:
                    await self._drop(uow, connection.account_id, sub_id)
                    await uow.commit()
            raise
        async with self._uow() as uow:
            if google:
                await store.update_subscription(
                    uow.session,
                    sub_id,
                    state=SubscriptionState.ACTIVE.value,
                    resource_id=got.resource_id,
                    expires_at=got.expires_at,
                    renew_at=self.renew_due(now, got.expires_at),
                )
            else:
                await self._insert(uow, connection, sub_id, got.id, secret, now, got)
            await enqueue_sync(
                self._jobs,
                uow,
                account_id=connection.account_id,
                connection_id=connection.id,
                reason="subscribed",
            )
            row = await store.get(uow.session, sub_id)
            await uow.commit()
        assert row is not None
        self._op(provider, "create", "ok")
        log.info(
            "connection %s: subscribed to %s notifications until %s",
            connection.id,
            provider,
            got.expires_at.isoformat(),
        )
        return row

    async def _insert(
        self,
        uow: SqlUnitOfWork,
        connection: Connection,
        sub_id: uuid.UUID,
        external_id: str,
        secret: Secret,
        now: datetime,
        got: PushSubscription | None,
    ) -> None:
        uow.session.add(
            SubscriptionRow(
                id=sub_id,
                account_id=connection.account_id,
                user_id=connection.user_id,
                connection_id=connection.id,
                provider=connection.provider.value,
                external_id=external_id,
                resource_id=got.resource_id if got else None,
                state=(SubscriptionState.ACTIVE if got else SubscriptionState.PENDING).value,
                secret_digest=digest(secret.reveal()),
                created_at=now,
                expires_at=got.expires_at if got else None,
                renew_at=self.renew_due(now, got.expires_at) if got else None,
                failures=0,
            )
        )
        await uow.session.flush()
        await self._vault.put(
            uow,
            account_id=connection.account_id,
            owner=SECRET_OWNER,
            owner_id=sub_id,
            field="secret",
            value=secret,
        )

    async def _drop(self, uow: SqlUnitOfWork, account_id: uuid.UUID, sub_id: uuid.UUID) -> None:
        await store.delete_subscription(uow.session, sub_id)
        await self._vault.delete(uow, account_id=account_id, owner=SECRET_OWNER, owner_id=sub_id)

    # renew -------------------------------------------------------------------------------
    async def renew(self, subscription_id: uuid.UUID, *, force_token: bool = False) -> None:
        async with self._uow(readonly=True) as uow:
            row = await store.get(uow.session, subscription_id)
        if row is None or row.state != SubscriptionState.ACTIVE:
            return
        connection = await self._access.connection(row.connection_id)
        if connection is None or connection.status is not ConnectionStatus.ACTIVE:
            async with self._uow() as uow:
                await self._drop(uow, row.account_id, row.id)
                await uow.commit()
            return
        provider = row.provider
        try:
            connector = await self._access.connector(connection)
            token = await self._access.token(connection, force=force_token)
            current = PushSubscription(
                row.external_id, row.expires_at or self._clock.now(), row.resource_id
            )
            try:
                got = await connector.renew_subscription(
                    token, current, expires_at=self._clock.now() + self.lifetime
                )
            except Unsupported:
                await self._replace(connection, connector, token, row)
                return
            except NotFound:  # gone at the provider: subscribe again, then catch up
                self._op(provider, "renew", "gone")
                async with self._uow() as uow:
                    await self._drop(uow, row.account_id, row.id)
                    await uow.commit()
                await self._create(connection, connector, token)
                return
        except ReauthRequired:
            async with self._uow() as uow:
                await self._drop(uow, row.account_id, row.id)
                await uow.commit()
            self._op(provider, "renew", "reauth_required")
            return
        except (ConnectorError, CalgateError) as exc:
            await self._renew_failed(row, exc)
            return
        now = self._clock.now()
        async with self._uow() as uow:
            await store.update_subscription(
                uow.session,
                row.id,
                expires_at=got.expires_at,
                renew_at=self.renew_due(now, got.expires_at),
                renewed_at=now,
                failures=0,
                last_error=None,
            )
            await uow.commit()
        self._op(provider, "renew", "ok")
        log.info("subscription %s renewed until %s", row.id, got.expires_at.isoformat())

    async def _replace(
        self,
        connection: Connection,
        connector: CalendarConnector,
        token: Secret,
        old: SubscriptionRecord,
    ) -> None:
        """Google: a new channel first, then the old one stopped (overlap, no gap)."""
        async with self._uow() as uow:
            await store.update_subscription(
                uow.session, old.id, state=SubscriptionState.REPLACED.value, renew_at=None
            )
            await uow.commit()
        try:
            await self._create(connection, connector, token)
        except BaseException:
            async with self._uow() as uow:  # keep the old one until a new one exists
                await store.update_subscription(
                    uow.session, old.id, state=SubscriptionState.ACTIVE.value
                )
                await uow.commit()
            raise
        self._op(connection.provider.value, "replace", "ok")
        await self._stop_remote(connector, token, old)
        async with self._uow() as uow:
            await self._drop(uow, old.account_id, old.id)
            await uow.commit()

    async def _renew_failed(self, row: SubscriptionRecord, exc: BaseException) -> None:
        now = self._clock.now()
        failures = row.failures + 1
        remaining = (row.expires_at - now) if row.expires_at else _RETRY
        retry = min(_RETRY * 2 ** min(failures - 1, 6), max(remaining / 4, timedelta(minutes=1)))
        async with self._uow() as uow:
            await store.update_subscription(
                uow.session,
                row.id,
                failures=failures,
                last_error=_short(exc),
                renew_at=now + retry,
            )
            await uow.commit()
        self._op(row.provider, "renew", "failed")
        log.warning("subscription %s: renewal failed (%s); retrying", row.id, _short(exc))

    async def _stop_remote(
        self, connector: CalendarConnector, token: Secret, row: SubscriptionRecord
    ) -> None:
        try:
            await connector.unsubscribe(
                token,
                PushSubscription(
                    row.external_id, row.expires_at or self._clock.now(), row.resource_id
                ),
            )
            self._op(row.provider, "stop", "ok")
        except NotFound:
            self._op(row.provider, "stop", "gone")
        except ConnectorError as exc:
            self._op(row.provider, "stop", "failed")
            log.info("subscription %s: stopping at the provider failed: %s", row.id, _short(exc))

    # lifecycle (Graph) -------------------------------------------------------------------
    async def lifecycle(self, subscription_id: uuid.UUID, event: str) -> None:
        async with self._uow(readonly=True) as uow:
            row = await store.get(uow.session, subscription_id)
        if row is None:
            return
        self._op(row.provider, f"lifecycle.{event}", "received")
        if event == "reauthorizationRequired":
            await self.renew(row.id, force_token=True)
        elif event == "subscriptionRemoved":
            async with self._uow() as uow:
                await self._drop(uow, row.account_id, row.id)
                await uow.commit()
            await self.ensure(row.connection_id)
        async with self._uow() as uow:  # every lifecycle event may hide changes: catch up
            await enqueue_sync(
                self._jobs,
                uow,
                account_id=row.account_id,
                connection_id=row.connection_id,
                reason=f"lifecycle.{event}",
            )
            await uow.commit()

    # disconnect --------------------------------------------------------------------------
    async def on_removed(self, uow: SqlUnitOfWork, connection: Connection) -> None:
        """Removal hook (inside the removal's transaction): delete the subscriptions here,
        and stop them at the provider once the removal has committed (best effort)."""
        rows = await store.for_connection(uow.session, connection.id)
        if not rows:
            return
        token: Secret | None = None
        now = self._clock.now()
        if connection.access_expires_at and connection.access_expires_at > now:
            try:
                token = await self._vault.get(
                    uow,
                    account_id=connection.account_id,
                    owner=CONNECTION_OWNER,
                    owner_id=connection.id,
                    field="access_token",
                )
            except VaultError:
                token = None
        for row in rows:
            await self._drop(uow, row.account_id, row.id)
        if token is None:
            for row in rows:
                self._op(row.provider, "stop", "no_token")
            return
        connector = await self._access.connector(connection)
        held = token

        async def stop_all() -> None:
            for row in rows:
                await self._stop_remote(connector, held, row)

        uow.after_commit(stop_all)

    async def forget_user(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """A user is being deleted (their rows cascade): delete the secrets with them."""
        for row in await store.for_user(uow.session, user_id):
            await self._vault.delete(
                uow, account_id=account_id, owner=SECRET_OWNER, owner_id=row.id
            )

    async def drop_orphans(self, limit: int = 200) -> int:
        """Delete subscriptions of connections no longer active, and lapsed ones."""
        now = self._clock.now()
        async with self._uow() as uow:
            rows = await store.orphaned(uow.session, now, limit)
            for row in rows:
                await self._drop(uow, row.account_id, row.id)
            await uow.commit()
        return len(rows)
