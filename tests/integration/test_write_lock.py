"""Embedded SQLite: one process's write transactions queue on an asyncio lock in order
(instead of polling in SQLite's busy handler); a task never waits for itself."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from calgate.errors import ServiceUnavailable
from calgate.persistence.uow import WriteLock


async def test_writers_take_turns_and_reads_do_not_wait(runtime) -> None:
    order: list[str] = []
    first_in = asyncio.Event()

    async def first() -> None:
        async with runtime.uow() as uow:
            await uow.session.execute(text("SELECT 1"))
            order.append("first begins")
            first_in.set()
            await asyncio.sleep(0.05)
            order.append("first commits")
            await uow.commit()

    async def second() -> None:
        await first_in.wait()
        async with runtime.uow(readonly=True) as reader:  # readers never queue
            await reader.session.execute(text("SELECT 1"))
            order.append("read")
        async with runtime.uow() as uow:
            order.append("second begins")
            await uow.commit()

    await asyncio.gather(first(), second())
    assert order == ["first begins", "read", "first commits", "second begins"]


async def test_a_nested_unit_of_work_in_the_same_task_does_not_deadlock() -> None:
    lock = WriteLock(timeout=1)
    assert await lock.acquire() is True
    assert await lock.acquire() is False  # the same task: not waited for
    lock.release()
    assert await lock.acquire() is True
    lock.release()


async def test_waiting_is_bounded() -> None:
    lock = WriteLock(timeout=0.05)
    assert await lock.acquire()

    async def other() -> None:
        await lock.acquire()

    with pytest.raises(ServiceUnavailable):
        await asyncio.create_task(other())
    lock.release()
