"""The job runner's wake-up bell: one ring wakes one idle worker (not all of them: each
woken worker makes a claim, a write transaction), and a ring nobody waited for is kept for
the next worker that goes idle, so no enqueued job waits for the poll interval."""

from __future__ import annotations

import asyncio
import time

from calgate.jobs.runner import _Bell


async def test_one_ring_wakes_one_idle_worker_and_rings_nobody_heard_are_kept() -> None:
    bell = _Bell(workers=3)
    woken: list[int] = []

    async def worker(i: int) -> None:
        await bell.wait(60)
        woken.append(i)

    tasks = [asyncio.create_task(worker(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    bell.set()
    await asyncio.sleep(0.01)
    assert woken == [0]  # first come, first woken; the others still wait
    for _ in range(4):  # two waiters left: two rings wake them, two are kept
        bell.set()
    await asyncio.gather(*tasks)
    assert woken == [0, 1, 2]
    began = time.monotonic()
    await bell.wait(60)
    await bell.wait(60)
    assert time.monotonic() - began < 5  # both kept rings taken at once
    began = time.monotonic()
    await bell.wait(0.05)  # nothing kept: waits out its time
    assert time.monotonic() - began >= 0.04


async def test_ring_all_wakes_every_waiter_and_lets_no_one_wait_again() -> None:
    bell = _Bell()
    tasks = [asyncio.create_task(bell.wait(60)) for _ in range(4)]
    await asyncio.sleep(0.01)
    bell.ring_all()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    await asyncio.wait_for(bell.wait(60), 5)


async def test_a_waiter_that_timed_out_does_not_swallow_a_ring() -> None:
    bell = _Bell()
    await bell.wait(0.01)  # timed out: must not stay registered
    late = asyncio.create_task(bell.wait(60))
    await asyncio.sleep(0.01)
    bell.set()
    await asyncio.wait_for(late, 5)


async def test_rings_are_kept_up_to_one_per_worker() -> None:
    """A burst of enqueues while every worker is busy: each busy worker claims until the
    queue is dry after its job, so a thousand kept rings would be a thousand empty claims."""
    bell = _Bell(workers=2)
    for _ in range(1000):
        bell.set()
    began = time.monotonic()
    await bell.wait(60)
    await bell.wait(60)
    assert time.monotonic() - began < 5  # one kept ring per worker, taken at once
    began = time.monotonic()
    await bell.wait(0.05)  # the other 998 were not kept
    assert time.monotonic() - began >= 0.04
