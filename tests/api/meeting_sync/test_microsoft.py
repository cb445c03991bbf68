"""Bi-directional sync with Microsoft 365 (Graph calendarView delta), end to end through the
sandbox (R8, R12). Graph's delta never returns extended properties, so events are known by
their join link and by what sync already holds; a move out of the synced window arrives as
``@removed`` and is confirmed with the provider before anything is cancelled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from calgate.meetings.model import MeetingStatus

from .conftest import Scene

Make = Callable[[str], Awaitable[Scene]]


@pytest.fixture
async def scene(scene_factory: Make) -> Scene:
    return await scene_factory("microsoft")


async def test_the_event_is_known_by_its_join_link_R8(scene: Scene) -> None:
    made = await scene.schedule(subject="Budget")
    assert made.provider == "microsoft"
    assert made.event_id
    [row] = await scene.synced()
    assert row["meeting_id"] == made.id
    assert row["has_content"]


async def test_moved_out_of_the_window_45_days_later_R12(scene: Scene) -> None:
    made = await scene.schedule(start_date="2026-11-25", start_time="10:00")
    new_start = datetime(2027, 1, 9, 9, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", new_start, new_start + timedelta(minutes=30))
    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2027-01-09T09:00:00Z"
    assert meeting["expires_at"] == "2027-02-08T09:00:00Z"
    assert meeting["status"] == "scheduled"  # a removal from the window is not a deletion
    scene.clock.set(new_start)
    assert await scene.join_state(made.id) == "valid"


async def test_deleting_the_event_cancels_the_meeting_R12(scene: Scene) -> None:
    made = await scene.schedule()
    await scene.delete(made.event_id or "")
    assert (await scene.meeting(made.id))["status"] == "cancelled"
    assert await scene.synced() == []


async def test_an_exception_and_a_cancelled_occurrence_of_a_series_R12(scene: Scene) -> None:
    made = await scene.schedule(recurring=True, recurrence_rule="FREQ=WEEKLY;COUNT=4")
    master = made.event_id or ""
    second = f"{master}20261202T100000"  # Graph occurrence ids: master + original wall time
    third = f"{master}20261209T100000"
    moved = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    await scene.move(second, moved, moved + timedelta(minutes=30))
    await scene.delete(third)

    async with scene.runtime.uow(readonly=True) as uow:
        meeting = await scene.runtime.meetings.provider.get(uow, made.id, account_id=None)
    assert meeting is not None
    assert meeting.status is MeetingStatus.SCHEDULED
    overrides = {o.original_start: o for o in meeting.overrides}
    assert overrides[datetime(2026, 12, 2, 9, 0, tzinfo=UTC)].start == moved
    assert overrides[datetime(2026, 12, 9, 9, 0, tzinfo=UTC)].cancelled
    assert len(overrides) == 2


async def test_moving_the_whole_series_reads_its_master_R12(scene: Scene) -> None:
    made = await scene.schedule(recurring=True, recurrence_rule="FREQ=DAILY;COUNT=3")
    later = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", later, later + timedelta(minutes=30))
    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2026-11-26T15:00:00Z"
    assert meeting["recurrence_rule"] == "FREQ=DAILY;COUNT=3"
    assert meeting["status"] == "scheduled"


async def test_deleting_the_whole_series_cancels_the_meeting_R12(scene: Scene) -> None:
    made = await scene.schedule(recurring=True, recurrence_rule="FREQ=WEEKLY;COUNT=4")
    await scene.delete(made.event_id or "")
    assert (await scene.meeting(made.id))["status"] == "cancelled"
    assert await scene.synced() == []
