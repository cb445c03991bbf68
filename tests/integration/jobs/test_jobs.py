"""Durable jobs on SQLite and PostgreSQL: enqueue in the caller's transaction, leases,
retries with back-off, dedupe, schedules, purge, and concurrent runners."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import Clock
from calgate.jobs import GiveUp, Job, JobState, RetryLater
from calgate.persistence.tables import JobRow, UserEventRow
from calgate.persistence.uow import UnitOfWorkFactory

from support.canary import MARKER, canary

pytestmark = pytest.mark.usefixtures("backend")


async def _job(runtime: Runtime, job_id: int) -> JobRow:
    async with runtime.uow(readonly=True) as uow:
        row = await uow.session.get(JobRow, job_id)
        assert row is not None
        uow.session.expunge(row)
        return row


async def _enqueue(runtime: Runtime, kind: str, **kwargs: object) -> int:
    async with runtime.uow() as uow:
        job_id = await runtime.jobs.enqueue(uow, kind, **kwargs)  # type: ignore[arg-type]
        await uow.commit()
    return job_id


async def test_enqueue_claim_complete_with_injected_deps(runtime, clock):
    seen: list[tuple[Job, Clock]] = []

    async def handler(job: Job, *, clock: Clock) -> None:
        seen.append((job, clock))

    runtime.job_registry.register("test.echo", handler)
    runner = runtime.job_runner(concurrency=1)
    account = uuid.uuid4()
    job_id = await _enqueue(runtime, "test.echo", payload={"connection_id": str(account)})

    assert await runner.run_pending() >= 1
    [(job, injected)] = [(j, c) for j, c in seen if j.id == job_id]
    assert job.payload == {"connection_id": str(account)}
    assert job.attempts == 1
    assert injected is clock
    row = await _job(runtime, job_id)
    assert row.state == JobState.DONE
    assert row.lease_owner is None
    assert row.lease_until is None
    assert await runner.run_pending() == 0  # nothing runs twice


async def test_a_rolled_back_enqueue_never_runs(runtime):
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)

    runtime.job_registry.register("test.tx", handler)
    async with runtime.uow() as uow:
        await runtime.jobs.enqueue(uow, "test.tx")
        # leaving without commit rolls back
    runner = runtime.job_runner(concurrency=1)
    await runner.run_pending()
    assert ran == []
    async with runtime.uow(readonly=True) as uow:
        assert (
            await uow.session.scalar(
                select(func.count()).select_from(JobRow).where(JobRow.kind == "test.tx")
            )
            == 0
        )


async def test_payloads_carry_ids_only(runtime):
    async def handler(job: Job) -> None:
        return None

    runtime.job_registry.register("test.payload", handler)
    async with runtime.uow() as uow:
        with pytest.raises(ValueError, match="too long"):
            await runtime.jobs.enqueue(uow, "test.payload", payload={"body": "x" * 500})
        with pytest.raises(ValueError, match="must be an id"):
            await runtime.jobs.enqueue(uow, "test.payload", payload={"event": {"subject": "x"}})
        with pytest.raises(ValueError, match="no handler"):
            await runtime.jobs.enqueue(uow, "test.unknown")


async def test_dedupe_key_coalesces_queued_jobs(runtime, clock):
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)

    runtime.job_registry.register("test.sync", handler)
    later = clock.now() + timedelta(minutes=5)
    first = await _enqueue(runtime, "test.sync", dedupe_key="conn-1", run_at=later)
    ids = {first}
    for _ in range(4):
        ids.add(await _enqueue(runtime, "test.sync", dedupe_key="conn-1"))
    other = await _enqueue(runtime, "test.sync", dedupe_key="conn-2")
    assert ids == {first}
    assert other != first
    assert (await _job(runtime, first)).run_at == clock.now()  # pulled in to the earliest

    runner = runtime.job_runner(concurrency=1)
    await runner.run_pending()
    assert sorted(ran) == sorted([first, other])
    # once it ran (no longer queued), the same key queues a new job
    again = await _enqueue(runtime, "test.sync", dedupe_key="conn-1")
    assert again not in (first, other)


async def test_an_expired_lease_is_claimed_again(runtime, settings, clock):
    """At least once: a runner that stops answering loses its job to another runner once
    the lease expires; the first runner's late outcome is then refused."""
    started = asyncio.Event()
    release = asyncio.Event()
    runs: list[str] = []

    async def handler(job: Job, *, runtime: Runtime) -> None:
        runs.append(str(id(runtime)))
        if len(runs) == 1:
            started.set()
            await release.wait()

    runtime.job_registry.register("test.slow", handler)
    other = await build_runtime(settings, clock=clock, auto_migrate=False)
    try:
        other.job_registry.register("test.slow", handler)
        stalled = runtime.job_runner(concurrency=1, lease=timedelta(seconds=30))
        rescuer = other.job_runner(concurrency=1, lease=timedelta(seconds=30))
        await stalled.run_pending()  # the housekeeping schedule's first run, out of the way
        job_id = await _enqueue(runtime, "test.slow")

        task = asyncio.create_task(stalled.run_pending())
        await started.wait()
        assert await rescuer.run_pending() == 0  # lease still valid: nobody else runs it
        clock.advance(seconds=31)
        assert await rescuer.run_pending() == 1
        row = await _job(runtime, job_id)
        assert row.state == JobState.DONE
        assert row.attempts == 2

        release.set()
        await task
        assert (await _job(runtime, job_id)).state == JobState.DONE
        samples = runtime.metrics.registry.get_sample_value(
            "calgate_jobs_finished_total", {"kind": "test.slow", "outcome": "lost"}
        )
        assert samples == 1.0
        assert len(runs) == 2
    finally:
        await other.aclose()


async def test_failures_retry_with_backoff_then_die(runtime, clock):
    secret = canary("refresh-token")
    attempts: list[int] = []

    async def handler(job: Job) -> None:
        attempts.append(job.attempts)
        raise RuntimeError(f"provider refused Bearer {secret}")

    runtime.job_registry.register("test.flaky", handler, max_attempts=3)
    job_id = await _enqueue(runtime, "test.flaky")
    runner = runtime.job_runner(concurrency=1)

    await runner.run_pending()
    row = await _job(runtime, job_id)
    assert row.state == JobState.FAILED
    assert row.attempts == 1
    assert row.last_error is not None
    assert MARKER not in row.last_error
    assert "RuntimeError" in row.last_error
    first_delay = row.run_at - clock.now()
    assert timedelta(seconds=5) <= first_delay <= timedelta(seconds=10)
    assert await runner.run_pending() == 0  # not before its retry time

    clock.advance(first_delay)
    await runner.run_pending()
    row = await _job(runtime, job_id)
    assert row.state == JobState.FAILED
    assert row.attempts == 2
    second_delay = row.run_at - clock.now()
    assert timedelta(seconds=10) <= second_delay <= timedelta(seconds=20)

    clock.advance(second_delay)
    await runner.run_pending()
    row = await _job(runtime, job_id)
    assert row.state == JobState.DEAD
    assert row.attempts == 3
    assert attempts == [1, 2, 3]
    clock.advance(hours=2)
    await runner.run_pending()
    assert attempts == [1, 2, 3]  # dead jobs stay dead (and visible)
    assert (await _job(runtime, job_id)).state == JobState.DEAD


async def test_retry_later_does_not_spend_an_attempt_and_give_up_is_final(runtime, clock):
    calls: list[int] = []

    async def polite(job: Job) -> None:
        calls.append(job.attempts)
        if len(calls) == 1:
            raise RetryLater(timedelta(seconds=42), "rate limited")

    async def hopeless(job: Job) -> None:
        raise GiveUp("the connection was removed")

    runtime.job_registry.register("test.polite", polite, max_attempts=1)
    runtime.job_registry.register("test.hopeless", hopeless)
    polite_id = await _enqueue(runtime, "test.polite")
    hopeless_id = await _enqueue(runtime, "test.hopeless")
    runner = runtime.job_runner(concurrency=1)
    await runner.run_pending()

    row = await _job(runtime, polite_id)
    assert row.state == JobState.QUEUED
    assert row.attempts == 0
    assert row.run_at == clock.now() + timedelta(seconds=42)
    dead = await _job(runtime, hopeless_id)
    assert dead.state == JobState.DEAD
    assert dead.last_error == "GiveUp: the connection was removed"

    clock.advance(seconds=42)
    await runner.run_pending()
    assert (await _job(runtime, polite_id)).state == JobState.DONE
    assert calls == [1, 1]


async def test_scheduled_work_runs_once_per_due_time_with_several_runners(settings, clock):
    runtimes = [await build_runtime(settings, clock=clock, auto_migrate=False) for _ in range(3)]
    executions: list[str] = []
    try:

        async def tick(job: Job) -> None:
            executions.append(clock.now().isoformat())

        runners = []
        for rt in runtimes:
            rt.job_registry.register("test.tick", tick)
            rt.job_registry.schedule("test.tick", "test.tick", every=timedelta(minutes=10))
            runners.append(rt.job_runner(concurrency=2))
        for _ in range(4):
            await asyncio.gather(*(r.run_pending() for r in runners))
            await asyncio.gather(*(r.run_pending() for r in runners))
            clock.advance(minutes=10)
        assert len(executions) == 4
        assert len(set(executions)) == 4
        # a long outage does not replay every missed due time
        clock.advance(hours=5)
        await asyncio.gather(*(r.run_pending() for r in runners))
        assert len(executions) == 5
    finally:
        for rt in runtimes:
            await rt.aclose()


async def test_runners_never_run_one_job_twice_while_leases_hold(settings, clock, backend):
    """Two runtimes with their own engines (as two processes would), four workers each,
    500 jobs: every job runs exactly once."""
    total = 500
    first = await build_runtime(settings, clock=clock, auto_migrate=False)
    second = await build_runtime(settings, clock=clock, auto_migrate=False)
    async with first.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS test_job_executions (job_id BIGINT, runner TEXT)")
        )
        await conn.execute(text("DELETE FROM test_job_executions"))
    finished = asyncio.Event()
    count = 0

    def handler_for(name: str):  # type: ignore[no-untyped-def]
        async def record(job: Job, *, uow: UnitOfWorkFactory) -> None:
            nonlocal count
            async with uow() as u:
                await u.session.execute(
                    text("INSERT INTO test_job_executions (job_id, runner) VALUES (:j, :r)"),
                    {"j": job.id, "r": name},
                )
                await u.commit()
            count += 1
            if count >= total:
                finished.set()

        return record

    try:
        first.job_registry.register("test.count", handler_for("first"))
        second.job_registry.register("test.count", handler_for("second"))
        async with first.uow() as uow:
            for _ in range(total):
                await first.jobs.enqueue(uow, "test.count")
            await uow.commit()
        runners = [rt.job_runner(concurrency=4, poll_interval=0.05) for rt in (first, second)]
        tasks = [asyncio.create_task(r.run()) for r in runners]
        await asyncio.wait_for(finished.wait(), 120)
        for r in runners:
            r.stop()
        await asyncio.gather(*tasks)

        async with first.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT job_id, COUNT(*), MIN(runner) FROM test_job_executions"
                        " GROUP BY job_id"
                    )
                )
            ).all()
            runners_used = (
                (await conn.execute(text("SELECT DISTINCT runner FROM test_job_executions")))
                .scalars()
                .all()
            )
        assert len(rows) == total
        assert all(n == 1 for _, n, _ in rows)
        if backend == "pg":
            assert set(runners_used) == {"first", "second"}  # both really competed
        async with first.uow(readonly=True) as uow:
            states = await uow.session.execute(
                select(JobRow.state, func.count())
                .where(JobRow.kind == "test.count")
                .group_by(JobRow.state)
            )
            assert dict(states.all()) == {"done": total}
    finally:
        async with first.engine.begin() as conn:  # the shared test database stays as migrated
            await conn.execute(text("DROP TABLE IF EXISTS test_job_executions"))
        await first.aclose()
        await second.aclose()


async def test_run_wakes_on_enqueue_and_releases_leases_on_shutdown(runtime):
    woke = asyncio.Event()
    hang = asyncio.Event()

    async def quick(job: Job) -> None:
        woke.set()

    async def stuck(job: Job) -> None:
        hang.set()
        await asyncio.Event().wait()

    runtime.job_registry.register("test.quick", quick)
    runtime.job_registry.register("test.stuck", stuck)
    runner = runtime.job_runner(concurrency=2, poll_interval=60, grace=0.2)
    task = asyncio.create_task(runner.run())
    await runner.run_pending()  # schedules declared; the purge job is done
    # A poll interval of a minute: only the wake-up hint after commit can start it this soon.
    await _enqueue(runtime, "test.quick")
    await asyncio.wait_for(woke.wait(), 10)

    stuck_id = await _enqueue(runtime, "test.stuck")
    await asyncio.wait_for(hang.wait(), 10)
    runner.stop()
    await asyncio.wait_for(task, 10)
    row = await _job(runtime, stuck_id)
    assert row.state == JobState.QUEUED
    assert row.attempts == 0
    assert row.lease_owner is None


async def test_purge_deletes_expired_jobs_and_notifications(runtime, clock, make_tenant_rows):
    account_id, user_id = await make_tenant_rows(runtime)
    now = clock.now()
    async with runtime.uow() as uow:
        s = uow.session
        for state, age, label in (
            ("done", timedelta(days=8), "old-done"),
            ("done", timedelta(days=6), "new-done"),
            ("dead", timedelta(days=20), "new-dead"),
            ("dead", timedelta(days=29), "old-dead"),
            ("failed", timedelta(days=60), "waiting"),
        ):
            s.add(
                JobRow(
                    kind="purge",
                    payload={"label": label},
                    state=state,
                    run_at=now - age,
                    attempts=1,
                    max_attempts=3,
                    created_at=now - age,
                    updated_at=now - age,
                    dedupe_key=label,
                )
            )
        for age, label in ((timedelta(hours=25), "old"), (timedelta(hours=23), "new")):
            s.add(
                UserEventRow(
                    account_id=account_id,
                    user_id=user_id,
                    type="calendar.changed",
                    data={"label": label},
                    created_at=now - age,
                )
            )
        await uow.commit()

    runner = runtime.job_runner(concurrency=1)
    await runner.run_pending()  # the purge schedule is due at first start

    async with runtime.uow(readonly=True) as uow:
        labels = set(
            (
                await uow.session.scalars(
                    select(JobRow.dedupe_key).where(JobRow.dedupe_key.is_not(None))
                )
            ).all()
        )
        events = [r.data["label"] for r in (await uow.session.scalars(select(UserEventRow))).all()]
    scheduled = {label for label in labels if label.startswith("schedule:")}  # other schedules
    assert "schedule:purge" in scheduled
    assert labels - scheduled == {"new-done", "new-dead", "waiting"}
    assert events == ["new"]
