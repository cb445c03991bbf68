"""Jobs of change notifications: sync one connection, subscribe, renew, handle a Graph
lifecycle event, and the minute-by-minute reconciliation sweep."""

from __future__ import annotations

import uuid
from datetime import timedelta

from calgate.jobs.model import Job
from calgate.jobs.registry import JobRegistry
from calgate.subscriptions.ingest import LIFECYCLE_KIND, SYNC_KIND
from calgate.subscriptions.service import ENSURE_KIND, RENEW_KIND, PushServices

__all__ = ["RECONCILE_KIND", "register_push_jobs"]

RECONCILE_KIND = "sync.reconcile"


def _id(job: Job, key: str) -> uuid.UUID:
    return uuid.UUID(str(job.payload[key]))


async def sync_connection(job: Job, *, push: PushServices) -> None:
    await push.run_sync(_id(job, "connection_id"), str(job.payload.get("reason", "")))


async def ensure_subscription(job: Job, *, push: PushServices) -> None:
    await push.subscriptions.ensure(_id(job, "connection_id"))


async def renew_subscription(job: Job, *, push: PushServices) -> None:
    await push.subscriptions.renew(_id(job, "subscription_id"))


async def lifecycle_event(job: Job, *, push: PushServices) -> None:
    await push.subscriptions.lifecycle(_id(job, "subscription_id"), str(job.payload["event"]))


async def reconcile(job: Job, *, push: PushServices) -> None:
    await push.reconcile()


def register_push_jobs(registry: JobRegistry) -> None:
    registry.register(SYNC_KIND, sync_connection, max_attempts=5, timeout=timedelta(minutes=10))
    registry.register(ENSURE_KIND, ensure_subscription, max_attempts=3)
    registry.register(RENEW_KIND, renew_subscription, max_attempts=3)
    registry.register(LIFECYCLE_KIND, lifecycle_event, max_attempts=5)
    registry.register(RECONCILE_KIND, reconcile, max_attempts=2)
    registry.schedule("sync-reconcile", RECONCILE_KIND, every=timedelta(minutes=1))
