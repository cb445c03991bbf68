"""Housekeeping jobs: the ``purge`` job deletes what calgate no longer needs to keep."""

from __future__ import annotations

import logging
from datetime import timedelta

from calgate.clock import Clock
from calgate.jobs import store
from calgate.jobs.model import Job, JobState
from calgate.notify import store as notifications
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.settings import Settings

__all__ = ["PURGE", "purge"]

log = logging.getLogger(__name__)

PURGE = "purge"
_BATCH = 5000


async def purge(job: Job, *, uow: UnitOfWorkFactory, clock: Clock, settings: Settings) -> None:
    """Delete finished jobs past their retention (``done`` after CALGATE_JOBS_RETENTION_DAYS,
    ``dead`` after four times that) and notifications older than
    CALGATE_NOTIFICATION_RETENTION_HOURS. Works in batches, one transaction each, so it
    never holds long locks; safe to run concurrently and to repeat."""
    now = clock.now()
    keep = timedelta(days=settings.jobs_retention_days)
    counts = {"done_jobs": 0, "dead_jobs": 0, "notifications": 0}
    while True:
        async with uow() as u:
            deleted = await store.delete_finished(
                u.session, state=JobState.DONE, before=now - keep, batch=_BATCH
            )
            await u.commit()
        counts["done_jobs"] += deleted
        if deleted < _BATCH:
            break
    while True:
        async with uow() as u:
            deleted = await store.delete_finished(
                u.session, state=JobState.DEAD, before=now - 4 * keep, batch=_BATCH
            )
            await u.commit()
        counts["dead_jobs"] += deleted
        if deleted < _BATCH:
            break
    before = now - timedelta(hours=settings.notification_retention_hours)
    while True:
        async with uow() as u:
            deleted = await notifications.purge(u.session, before=before, batch=_BATCH)
            await u.commit()
        counts["notifications"] += deleted
        if deleted < _BATCH:
            break
    if any(counts.values()):
        log.info(
            "purged %d done jobs, %d dead jobs and %d notifications",
            counts["done_jobs"],
            counts["dead_jobs"],
            counts["notifications"],
        )
