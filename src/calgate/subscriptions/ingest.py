"""Receiving provider notifications: check, store, enqueue, acknowledge.

The acknowledgement path does no provider call and no vault decryption. A notification is
parsed into an item naming its subscription (the provider's id), the secret it presents,
and a dedupe key; items from concurrent requests are then stored together by one writer
(group commit: one short transaction per batch, so SQLite's single writer is never queued
behind itself): the subscriptions are read by id, each presented secret's SHA-256 is
compared with the stored one in constant time, the notifications go into ``webhook_inbox``
under their unique dedupe key (a repeat is dropped there), and one deduplicated
``sync.connection`` job is enqueued per connection (a burst coalesces into the job already
queued). Each request is answered once its batch has committed. Unknown or forged
notifications are counted and never processed. Nothing is logged per notification at INFO.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from calgate.clock import Clock
from calgate.jobs.queue import JobQueue
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.subscriptions import store
from calgate.subscriptions.metrics import PushMetrics
from calgate.subscriptions.model import SubscriptionState, digest
from calgate.subscriptions.store import Verifier

__all__ = ["LIFECYCLE_EVENTS", "Ingest", "IngestResult", "enqueue_sync"]

log = logging.getLogger(__name__)

SYNC_KIND = "sync.connection"
LIFECYCLE_KIND = "subscriptions.lifecycle"
LIFECYCLE_EVENTS = frozenset({"missed", "reauthorizationRequired", "subscriptionRemoved"})
_LIVE = (SubscriptionState.PENDING, SubscriptionState.ACTIVE, SubscriptionState.REPLACED)
_MAX_ITEMS = 1000  # per request
_MAX_BATCH = 500  # per transaction
_TOUCH = timedelta(seconds=1)  # last_notification_at is kept to the second


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)  # reasons


@dataclass(slots=True)
class _Item:
    provider: str
    external_id: str
    secret: str | None
    dedupe_key: str
    kind: str
    lifecycle: str | None = None
    resource_id: str | None = None  # Google's presented resource id
    outcome: str = ""  # accepted, duplicate, or a refusal reason


async def enqueue_sync(
    jobs: JobQueue,
    uow: SqlUnitOfWork,
    *,
    account_id: uuid.UUID,
    connection_id: uuid.UUID,
    reason: str,
) -> None:
    """One queued sync per connection: a new request coalesces into a queued one."""
    await jobs.enqueue(
        uow,
        SYNC_KIND,
        account_id=account_id,
        payload={"connection_id": str(connection_id), "reason": reason},
        dedupe_key=f"sync:{connection_id}",
    )


def _secret_ok(row: Verifier, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(row.secret_digest, digest(presented))


def _graph_key(item: Mapping[str, Any], received: datetime) -> str:
    """Graph sends no stable notification id: the same change repeated has the same
    subscription, change type, resource and etag; without an etag the notification's own id
    (if any) or the minute it arrived bounds the window."""
    data = item.get("resourceData")
    etag = data.get("@odata.etag") if isinstance(data, dict) else None
    discriminator = etag or item.get("id") or received.strftime("%Y%m%d%H%M")
    parts = (
        item.get("subscriptionId"),
        item.get("changeType") or item.get("lifecycleEvent"),
        item.get("resource"),
        discriminator,
        item.get("subscriptionExpirationDateTime") if item.get("lifecycleEvent") else None,
    )
    raw = "\x1f".join(str(p or "") for p in parts)
    return "m:" + hashlib.sha256(raw.encode()).hexdigest()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Ingest:
    def __init__(
        self, *, uow: UnitOfWorkFactory, jobs: JobQueue, clock: Clock, metrics: PushMetrics
    ) -> None:
        self._uow = uow
        self._jobs = jobs
        self._clock = clock
        self._metrics = metrics
        self._pending: list[tuple[list[_Item], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    def _refuse(self, result: IngestResult, provider: str, reason: str) -> None:
        result.refused.append(reason)
        self._metrics.refused.labels(provider, reason).inc()
        log.debug("%s notification refused: %s", provider, reason)

    # parsing -----------------------------------------------------------------------------
    async def google(self, headers: Mapping[str, str]) -> IngestResult:
        """Google (§5.3): an empty body and ``X-Goog-*`` headers."""
        result = IngestResult()
        channel = headers.get("x-goog-channel-id", "")
        state = headers.get("x-goog-resource-state", "")
        number = headers.get("x-goog-message-number", "")
        if not channel or len(channel) > 200 or not number.isdigit() or not state:
            self._refuse(result, "google", "malformed")
            return result
        item = _Item(
            provider="google",
            external_id=channel,
            secret=headers.get("x-goog-channel-token"),
            dedupe_key=f"g:{channel}:{int(number)}"[:120],
            kind=state[:40],
            resource_id=headers.get("x-goog-resource-id"),
        )
        await self._submit([item])
        return self._tally([item], result)

    async def microsoft(self, body: Any, *, lifecycle: bool) -> IngestResult:
        """Microsoft Graph (§3.3, §3.4): a changeNotificationCollection."""
        result = IngestResult()
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list) or not values or len(values) > _MAX_ITEMS:
            self._refuse(result, "microsoft", "malformed")
            return result
        now = self._clock.now()
        items: list[_Item] = []
        for value in values:
            sub_id = _str(value.get("subscriptionId")) if isinstance(value, dict) else None
            event = _str(value.get("lifecycleEvent")) if isinstance(value, dict) else None
            if (
                not isinstance(value, dict)
                or sub_id is None
                or lifecycle != (event is not None)
                or (event is not None and event not in LIFECYCLE_EVENTS)
            ):
                self._refuse(result, "microsoft", "malformed")
                continue
            items.append(
                _Item(
                    provider="microsoft",
                    external_id=sub_id[:200],
                    secret=_str(value.get("clientState")),
                    dedupe_key=_graph_key(value, now),
                    kind=(event or _str(value.get("changeType")) or "changed")[:40],
                    lifecycle=event,
                )
            )
        if items:
            await self._submit(items)
        return self._tally(items, result)

    def _tally(self, items: list[_Item], result: IngestResult) -> IngestResult:
        for item in items:
            if item.outcome == "accepted":
                result.accepted += 1
                self._metrics.received.labels(item.provider, item.kind[:24]).inc()
            elif item.outcome == "duplicate":
                result.duplicates += 1
                self._metrics.duplicates.labels(item.provider).inc()
            else:
                self._refuse(result, item.provider, item.outcome)
        return result

    # group commit ------------------------------------------------------------------------
    async def _submit(self, items: list[_Item]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((items, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="calgate-webhook-ingest")
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        while self._pending:
            batch: list[tuple[list[_Item], asyncio.Future[None]]] = []
            size = 0
            while self._pending and (not batch or size + len(self._pending[0][0]) <= _MAX_BATCH):
                entry = self._pending.pop(0)
                batch.append(entry)
                size += len(entry[0])
            try:
                await self._store([item for items, _ in batch for item in items])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _store(self, items: list[_Item]) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            rows: dict[tuple[str, str], Verifier] = {}
            for provider in {i.provider for i in items}:
                found = await store.verifiers(
                    uow.session, provider, [i.external_id for i in items if i.provider == provider]
                )
                rows.update({(provider, k): v for k, v in found.items()})
            valid: list[tuple[_Item, Verifier]] = []
            for item in items:
                row = rows.get((item.provider, item.external_id))
                if row is None or row.state not in _LIVE:
                    item.outcome = "unknown_subscription"
                elif not _secret_ok(row, item.secret):
                    item.outcome = "bad_secret"
                elif item.resource_id is not None and row.resource_id not in (
                    None,
                    item.resource_id,
                ):
                    item.outcome = "bad_resource"
                else:
                    valid.append((item, row))
            inserted = await store.insert_inbox_many(
                uow.session,
                [
                    {
                        "dedupe_key": item.dedupe_key,
                        "provider": item.provider,
                        "kind": item.kind,
                        "subscription_id": row.id,
                        "connection_id": row.connection_id,
                        "received_at": now,
                    }
                    for item, row in valid
                ],
            )
            touched: dict[uuid.UUID, Verifier] = {}
            syncs: dict[uuid.UUID, uuid.UUID] = {}
            lifecycles: set[tuple[uuid.UUID, uuid.UUID, str]] = set()
            for item, row in valid:
                if item.dedupe_key not in inserted:
                    item.outcome = "duplicate"
                    continue
                inserted.discard(item.dedupe_key)  # a repeat within this batch is a duplicate
                item.outcome = "accepted"
                touched[row.id] = row
                if item.lifecycle is not None:
                    lifecycles.add((row.id, row.account_id, item.lifecycle))
                elif item.kind != "sync":  # Google's handshake message: nothing changed
                    syncs[row.connection_id] = row.account_id
            if not touched:
                return
            for row in touched.values():
                if row.last_notification_at is None or now - row.last_notification_at >= _TOUCH:
                    await store.update_subscription(uow.session, row.id, last_notification_at=now)
            # A sync still queued (not started) will read the provider after this change:
            # no second job is needed. A running one may have read before it: enqueue.
            keys = {f"sync:{c}": (c, a) for c, a in syncs.items()}
            waiting = await store.queued_keys(uow.session, SYNC_KIND, list(keys))
            for key, (connection_id, account_id) in keys.items():
                if key not in waiting:
                    await enqueue_sync(
                        self._jobs,
                        uow,
                        account_id=account_id,
                        connection_id=connection_id,
                        reason="webhook",
                    )
            for subscription_id, account_id, event in lifecycles:
                await self._jobs.enqueue(
                    uow,
                    LIFECYCLE_KIND,
                    account_id=account_id,
                    payload={"subscription_id": str(subscription_id), "event": event},
                    dedupe_key=f"lifecycle:{subscription_id}:{event}",
                )
            await uow.commit()
