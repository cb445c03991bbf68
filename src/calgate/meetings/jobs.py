"""The meetings purge job: a meeting past its expiry (R12) shows *expired* at once (that is
derived from the clock); its row is deleted CALGATE_MEETING_RETENTION_DAYS later, as is a
cancelled meeting's, after which its join page answers *unknown*."""

from __future__ import annotations

import logging
from datetime import timedelta

from calgate.clock import Clock
from calgate.jobs import Job, JobRegistry
from calgate.meetings.service import MeetingService
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.settings import Settings

__all__ = ["PURGE_MEETINGS", "purge_meetings", "register_meeting_jobs"]

log = logging.getLogger(__name__)

PURGE_MEETINGS = "meetings.purge"
_BATCH = 1000


async def purge_meetings(
    job: Job,
    *,
    uow: UnitOfWorkFactory,
    clock: Clock,
    settings: Settings,
    meetings: MeetingService,
) -> None:
    """Delete meetings that expired or were cancelled more than the retention ago, in
    batches of one transaction each; safe to repeat and to run concurrently."""
    before = clock.now() - timedelta(days=settings.meeting_retention_days)
    total = 0
    while True:
        async with uow() as u:
            deleted = await meetings.provider.purge(
                u, expired_before=before, cancelled_before=before, limit=_BATCH
            )
            await u.commit()
        total += deleted
        if deleted < _BATCH:
            break
    if total:
        log.info("purged %d expired or cancelled meetings", total)


def register_meeting_jobs(registry: JobRegistry) -> None:
    registry.register(PURGE_MEETINGS, purge_meetings, max_attempts=3, timeout=timedelta(minutes=30))
    registry.schedule("meetings-purge", PURGE_MEETINGS, every=timedelta(hours=1))
