"""The jobs table's SQL, on one session (the caller's unit of work).

Claiming is one statement: on PostgreSQL a ``SELECT … FOR UPDATE SKIP LOCKED`` picks due rows
that no other runner holds and the same statement leases them; on SQLite the write unit of
work already began with ``BEGIN IMMEDIATE``, so the single ``UPDATE … RETURNING`` runs alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from calgate.jobs.model import Job, JobState
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import JobRow, JobScheduleRow

__all__ = [
    "claim",
    "count_by_state",
    "delete_finished",
    "ensure_schedule",
    "extend_leases",
    "finish",
    "insert",
    "reap_expired",
    "release",
    "reschedule",
    "take_due_schedule",
]

_QUEUED_WITH_KEY = text("state = 'queued' AND dedupe_key IS NOT NULL")


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    assert bind is not None, "the session must be bound to an engine"
    return bind.dialect.name


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        account_id=row.account_id,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        run_at=row.run_at,
        dedupe_key=row.dedupe_key,
    )


async def insert(
    session: AsyncSession,
    *,
    kind: str,
    account_id: uuid.UUID | None,
    payload: dict[str, Any],
    dedupe_key: str | None,
    run_at: datetime,
    max_attempts: int,
    now: datetime,
) -> int:
    """Insert a queued job; with a ``dedupe_key`` that a queued job of the same kind already
    has, coalesce into it instead (its due time moves to the earlier of the two)."""
    values = {
        "kind": kind,
        "account_id": account_id,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "state": JobState.QUEUED.value,
        "run_at": run_at,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        result = await session.execute(
            postgresql.insert(JobRow).values(**values).returning(JobRow.id)
            if _dialect(session) == "postgresql"
            else sqlite.insert(JobRow).values(**values).returning(JobRow.id)
        )
        return int(result.scalar_one())
    if _dialect(session) == "postgresql":
        pg = postgresql.insert(JobRow).values(**values)
        stmt = pg.on_conflict_do_update(
            index_elements=["kind", "dedupe_key"],
            index_where=_QUEUED_WITH_KEY,
            set_={"run_at": func.least(JobRow.run_at, pg.excluded.run_at), "updated_at": now},
        ).returning(JobRow.id)
    else:
        lite = sqlite.insert(JobRow).values(**values)
        stmt = lite.on_conflict_do_update(
            index_elements=["kind", "dedupe_key"],
            index_where=_QUEUED_WITH_KEY,
            set_={"run_at": func.min(JobRow.run_at, lite.excluded.run_at), "updated_at": now},
        ).returning(JobRow.id)
    return int((await session.execute(stmt)).scalar_one())


def _due(now: datetime) -> Any:
    return or_(
        and_(
            JobRow.state.in_((JobState.QUEUED.value, JobState.FAILED.value)),
            JobRow.run_at <= now,
        ),
        and_(
            JobRow.state == JobState.RUNNING.value,
            JobRow.lease_until < now,
            JobRow.attempts < JobRow.max_attempts,
        ),
    )


async def claim(
    session: AsyncSession, *, owner: str, now: datetime, lease: timedelta, limit: int = 1
) -> list[Job]:
    """Lease up to ``limit`` due jobs (including ones whose runner's lease expired)."""
    values = {
        "state": JobState.RUNNING.value,
        "lease_owner": owner,
        "lease_until": now + lease,
        "attempts": JobRow.attempts + 1,
        "updated_at": now,
    }
    picked = (
        select(JobRow.id)
        .where(_due(now))
        .order_by(JobRow.run_at, JobRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if _dialect(session) == "postgresql":
        cte = picked.cte("picked")
        stmt = update(JobRow).where(JobRow.id == cte.c.id).values(**values).returning(JobRow)
    else:
        stmt = (
            update(JobRow)
            .where(JobRow.id.in_(picked.scalar_subquery()))
            .values(**values)
            .returning(JobRow)
        )
    rows = (await session.scalars(stmt, execution_options={"synchronize_session": False})).all()
    return [_job(r) for r in sorted(rows, key=lambda r: (r.run_at, r.id))]


def _held(job: Job, owner: str) -> Any:
    return and_(
        JobRow.id == job.id,
        JobRow.state == JobState.RUNNING.value,
        JobRow.lease_owner == owner,
        JobRow.attempts == job.attempts,
    )


async def finish(
    session: AsyncSession,
    job: Job,
    *,
    owner: str,
    state: JobState,
    now: datetime,
    error: str | None = None,
    run_at: datetime | None = None,
) -> bool:
    """Record an attempt's outcome (done, failed with its retry time, or dead). False when
    this runner no longer holds the job (its lease expired and another runner took it)."""
    values: dict[str, Any] = {
        "state": state.value,
        "lease_owner": None,
        "lease_until": None,
        "last_error": error,
        "updated_at": now,
    }
    if run_at is not None:
        values["run_at"] = run_at
    result = await session.execute(
        update(JobRow).where(_held(job, owner)).values(**values),
        execution_options={"synchronize_session": False},
    )
    return bool(getattr(result, "rowcount", 0))


async def reschedule(
    session: AsyncSession,
    job: Job,
    *,
    owner: str,
    run_at: datetime,
    now: datetime,
    reason: str | None,
) -> bool:
    """Put a held job back in the queue without counting its attempt (RetryLater, or a
    runner shutting down). If a queued duplicate (same dedupe key) exists meanwhile, this
    one is finished as coalesced into it."""
    values: dict[str, Any] = {
        "state": JobState.QUEUED.value,
        "lease_owner": None,
        "lease_until": None,
        "attempts": JobRow.attempts - 1,
        "run_at": run_at,
        "last_error": reason,
        "updated_at": now,
    }
    try:
        async with session.begin_nested():
            result = await session.execute(
                update(JobRow).where(_held(job, owner)).values(**values),
                execution_options={"synchronize_session": False},
            )
    except IntegrityError:
        return await finish(
            session,
            job,
            owner=owner,
            state=JobState.DONE,
            now=now,
            error="coalesced into a queued duplicate",
        )
    return bool(getattr(result, "rowcount", 0))


async def release(session: AsyncSession, job: Job, *, owner: str, now: datetime) -> bool:
    return await reschedule(
        session, job, owner=owner, run_at=now, now=now, reason="released at runner shutdown"
    )


async def extend_leases(
    session: AsyncSession, ids: Sequence[int], *, owner: str, until: datetime, now: datetime
) -> int:
    if not ids:
        return 0
    result = await session.execute(
        update(JobRow)
        .where(
            JobRow.id.in_(list(ids)),
            JobRow.lease_owner == owner,
            JobRow.state == JobState.RUNNING.value,
        )
        .values(lease_until=until, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))


async def reap_expired(session: AsyncSession, *, now: datetime) -> int:
    """Jobs whose runner died holding their last allowed attempt are dead, not retried."""
    result = await session.execute(
        update(JobRow)
        .where(
            JobRow.state == JobState.RUNNING.value,
            JobRow.lease_until < now,
            JobRow.attempts >= JobRow.max_attempts,
        )
        .values(
            state=JobState.DEAD.value,
            lease_owner=None,
            lease_until=None,
            last_error="the runner holding the last attempt stopped without finishing it",
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))


async def delete_finished(
    session: AsyncSession, *, state: JobState, before: datetime, batch: int = 5000
) -> int:
    """Delete up to ``batch`` jobs in ``state`` last updated before ``before``."""
    ids = select(JobRow.id).where(JobRow.state == state.value, JobRow.updated_at < before)
    result = await session.execute(
        delete(JobRow).where(JobRow.id.in_(ids.limit(batch).scalar_subquery())),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0))


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(JobRow.state, func.count()).group_by(JobRow.state))
    return {state: int(n) for state, n in rows.all()}


# schedules ----------------------------------------------------------------------------------
async def ensure_schedule(
    session: AsyncSession, *, name: str, kind: str, every: timedelta, now: datetime
) -> None:
    """Create the schedule (first due now) or update its kind and interval; a shortened
    interval pulls the next due time in."""
    seconds = int(every.total_seconds())
    row = await session.get(JobScheduleRow, name, with_for_update=True)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(
                    JobScheduleRow(name=name, kind=kind, interval_seconds=seconds, next_run_at=now)
                )
        except IntegrityError:
            pass  # another runner created it at the same moment
        return
    row.kind = kind
    if row.interval_seconds != seconds:
        row.interval_seconds = seconds
        row.next_run_at = min(row.next_run_at, now + every)
    await session.flush()


async def take_due_schedule(
    session: AsyncSession, *, now: datetime
) -> tuple[JobScheduleRow, datetime] | None:
    """Move one due schedule to its next due time (compare-and-swap on ``next_run_at``) and
    return it with the due time taken; None when nothing is due. Exactly one runner wins
    each due time."""
    candidates = (
        await session.scalars(
            select(JobScheduleRow)
            .where(JobScheduleRow.next_run_at <= now)
            .order_by(JobScheduleRow.next_run_at)
            .limit(10)
        )
    ).all()
    for row in candidates:
        due = row.next_run_at
        interval = timedelta(seconds=row.interval_seconds)
        missed = int((now - due) / interval) + 1
        following = due + missed * interval
        result = await session.execute(
            update(JobScheduleRow)
            .where(JobScheduleRow.name == row.name, JobScheduleRow.next_run_at == due)
            .values(next_run_at=following, last_run_at=now),
            execution_options={"synchronize_session": False},
        )
        if getattr(result, "rowcount", 0) == 1:
            return row, due
    return None
