"""The job runner: N concurrent workers in one process claiming due jobs under a lease.

Delivery is at least once: a job whose runner dies is claimed again once its lease expires,
so handlers must be idempotent. While a handler runs, the runner keeps extending its lease,
so no other runner starts the same job concurrently. A failed attempt is retried with
exponential back-off and jitter until ``max_attempts``, then the job is ``dead`` (kept,
visible). Recurring work comes from the ``job_schedules`` table: whichever runner moves a
due schedule forward (compare-and-swap) enqueues its job, so no leader is needed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import socket
import time
import traceback
import uuid
from datetime import timedelta

from calgate.clock import Clock
from calgate.errors import CalgateError
from calgate.jobs import store
from calgate.jobs.metrics import JobMetrics
from calgate.jobs.model import GiveUp, Job, JobState, RetryLater, backoff_delay
from calgate.jobs.queue import JobQueue
from calgate.jobs.registry import BoundJobs
from calgate.logging import redact
from calgate.persistence.uow import UnitOfWorkFactory

__all__ = ["JobRunner"]

log = logging.getLogger(__name__)

_ERROR_CHARS = 300


def _owner_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def short_error(exc: BaseException) -> str:
    """A one-line, redacted description of a failure for ``jobs.last_error``."""
    text = exc.detail if isinstance(exc, CalgateError) else f"{type(exc).__name__}: {exc}"
    text = redact(" ".join(text.split()))
    return text[:_ERROR_CHARS]


class _Bell:
    """Wakes **one** idle worker per ring (a job enqueued in this process): waking them all
    made every idle worker try a claim, and each empty claim is a write transaction (on
    SQLite, a turn at the one write lock webhooks and syncs wait for). Rings while no
    worker is idle are kept, up to one per worker: a worker going idle takes one and claims
    at once. More would only buy empty claims: a busy worker claims again after each job
    until the queue is dry, so a burst of enqueues needs no ring per job."""

    def __init__(self, workers: int = 1) -> None:
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._kept = 0
        self._most = max(1, workers)
        self._stopped = False

    def set(self) -> None:
        """Ring (the `JobQueue` waker interface)."""
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._kept = min(self._kept + 1, self._most)

    def ring_all(self) -> None:
        """Stopping: every waiter wakes, and nobody waits any more."""
        self._stopped = True
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Until rung or ``seconds`` passed."""
        if self._stopped:
            return
        if self._kept:
            self._kept -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        try:
            await asyncio.wait_for(waiter, seconds)
        except TimeoutError:
            pass
        finally:
            if waiter in self._idle:
                self._idle.remove(waiter)


class JobRunner:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        jobs: BoundJobs,
        queue: JobQueue,
        clock: Clock,
        metrics: JobMetrics,
        concurrency: int = 4,
        poll_interval: float = 2.0,
        lease: timedelta = timedelta(seconds=60),
        grace: float = 20.0,
        owner: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.owner = owner or _owner_id()
        self._uow = uow
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self._metrics = metrics
        self._concurrency = concurrency
        self._poll = poll_interval
        self._lease = lease
        self._grace = grace
        self._rng = rng or random.Random()  # noqa: S311 - jitter only
        self._wake = _Bell(concurrency)
        self._stopping = asyncio.Event()
        self._held: dict[int, Job] = {}
        self._schedules_ready = False

    # lifecycle ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until :meth:`stop` (or cancellation): then stop claiming, let running jobs
        finish for up to ``grace`` seconds, and release the leases of those that do not."""
        self._stopping.clear()
        self._wake = _Bell(self._concurrency)  # (a stopped runner's bell keeps its stop ring)
        self._queue.add_waker(self._wake)
        log.info("job runner %s started with %d workers", self.owner, self._concurrency)
        workers = [
            asyncio.create_task(self._worker(), name=f"calgate-job-worker-{i}")
            for i in range(self._concurrency)
        ]
        ticker = asyncio.create_task(self._ticker(), name="calgate-job-ticker")
        try:
            await self._stopping.wait()
        finally:
            self._stopping.set()
            self._wake.ring_all()
            _, pending = await asyncio.wait(workers, timeout=self._grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            self._queue.remove_waker(self._wake)
            log.info("job runner %s stopped", self.owner)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.ring_all()

    async def run_pending(self, *, limit: int = 10_000) -> int:
        """Run everything due now, one job at a time, and return how many ran (scheduled
        work included). For tests, maintenance and the CLI; :meth:`run` is the service."""
        await self.tick()
        done = 0
        while done < limit:
            job = await self._claim()
            if job is None:
                break
            await self._execute(job)
            done += 1
        return done

    async def tick(self) -> None:
        """Housekeeping a runner does every poll: declare the schedules (once), enqueue due
        recurring work, bury jobs whose runner died on their last attempt, keep leases."""
        if not self._schedules_ready:
            await self._ensure_schedules()
        while await self._enqueue_due_schedule():
            pass
        now = self._clock.now()
        async with self._uow() as uow:
            reaped = await store.reap_expired(uow.session, now=now)
            if self._held:
                await store.extend_leases(
                    uow.session,
                    list(self._held),
                    owner=self.owner,
                    until=now + self._lease,
                    now=now,
                )
            await uow.commit()
        if reaped:
            log.warning("%d jobs are dead: their runner stopped during the last attempt", reaped)

    # internals ------------------------------------------------------------------------------
    async def _ensure_schedules(self) -> None:
        schedules = self._jobs.registry.schedules
        if schedules:
            async with self._uow() as uow:
                for spec in schedules:
                    await store.ensure_schedule(
                        uow.session,
                        name=spec.name,
                        kind=spec.kind,
                        every=spec.every,
                        now=self._clock.now(),
                    )
                await uow.commit()
        self._schedules_ready = True

    async def _enqueue_due_schedule(self) -> bool:
        async with self._uow() as uow:
            taken = await store.take_due_schedule(uow.session, now=self._clock.now())
            if taken is None:
                return False
            row, due = taken
            await self._queue.enqueue(uow, row.kind, dedupe_key=f"schedule:{row.name}", run_at=due)
            await uow.commit()
        self._metrics.scheduled.labels(row.name).inc()
        return True

    async def _ticker(self) -> None:
        interval = max(0.05, min(self._poll, self._lease.total_seconds() / 3))
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("job runner housekeeping failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def _worker(self) -> None:
        while not self._stopping.is_set():
            try:
                job = await self._claim()
            except Exception:
                log.exception("claiming a job failed; retrying")
                job = None
                await self._idle(self._poll)
                continue
            if job is None:
                await self._idle(self._poll)
                continue
            await self._execute(job)

    async def _idle(self, seconds: float) -> None:
        await self._wake.wait(seconds)

    async def _claim(self) -> Job | None:
        now = self._clock.now()
        async with self._uow() as uow:
            jobs = await store.claim(uow.session, owner=self.owner, now=now, lease=self._lease)
            await uow.commit()
        if not jobs:
            return None
        job = jobs[0]
        self._held[job.id] = job
        self._metrics.claimed.labels(job.kind).inc()
        self._metrics.lag.observe(max(0.0, (now - job.run_at).total_seconds()))
        return job

    async def _execute(self, job: Job) -> None:
        spec = self._jobs.registry.get(job.kind)
        call = self._jobs.call(job.kind)
        started = time.perf_counter()
        self._metrics.in_flight.inc()
        try:
            if spec is None or call is None:
                raise LookupError(f"no handler for job kind {job.kind!r} in this process")
            async with asyncio.timeout(spec.timeout.total_seconds()):
                await call(job)
        except asyncio.CancelledError:
            await asyncio.shield(self._settle(job, "released"))
            raise
        except RetryLater as exc:
            await self._settle(job, "rescheduled", delay=exc.delay, error=exc.reason)
        except GiveUp as exc:
            await self._settle(job, "dead", error=short_error(exc))
        except Exception as exc:
            error = short_error(exc)
            final = job.attempts >= job.max_attempts
            # The stack (frames only), never the raw exception text: that may carry a
            # token from a provider's answer. The error itself is logged redacted.
            expected = isinstance(exc, CalgateError | TimeoutError | LookupError)
            log.warning(
                "job %s (%s) failed, attempt %d of %d%s: %s%s",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                "; giving up" if final else "",
                error,
                "" if expected else "\n" + "".join(traceback.format_tb(exc.__traceback__)),
            )
            await self._settle(job, "dead" if final else "failed", error=error)
        else:
            await self._settle(job, "done")
        finally:
            self._held.pop(job.id, None)
            self._metrics.in_flight.dec()
            self._metrics.duration.labels(job.kind).observe(time.perf_counter() - started)

    async def _settle(
        self,
        job: Job,
        outcome: str,
        *,
        error: str | None = None,
        delay: timedelta | None = None,
    ) -> None:
        now = self._clock.now()
        try:
            async with self._uow() as uow:
                s = uow.session
                if outcome == "done":
                    ok = await store.finish(s, job, owner=self.owner, state=JobState.DONE, now=now)
                elif outcome == "failed":
                    retry_at = now + backoff_delay(job.attempts, rng=self._rng)
                    ok = await store.finish(
                        s,
                        job,
                        owner=self.owner,
                        state=JobState.FAILED,
                        now=now,
                        error=error,
                        run_at=retry_at,
                    )
                elif outcome == "dead":
                    ok = await store.finish(
                        s, job, owner=self.owner, state=JobState.DEAD, now=now, error=error
                    )
                elif outcome == "rescheduled":
                    ok = await store.reschedule(
                        s,
                        job,
                        owner=self.owner,
                        run_at=now + (delay or timedelta()),
                        now=now,
                        reason=error,
                    )
                else:
                    ok = await store.release(s, job, owner=self.owner, now=now)
                await uow.commit()
        except Exception:
            log.exception("recording the outcome of job %s failed; its lease will expire", job.id)
            return
        if not ok:
            outcome = "lost"
            log.warning(
                "job %s (%s): lease lost before the outcome was recorded; another runner "
                "took it over",
                job.id,
                job.kind,
            )
        self._metrics.finished.labels(job.kind, outcome).inc()
