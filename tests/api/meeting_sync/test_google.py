"""Bi-directional sync with Google Calendar, end to end through the sandbox (R8, R12):
the app schedules and writes the tagged event, the user changes it in their calendar, the
webhook → sync job → consumer pipeline changes the meeting."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calgate.meetings.model import MeetingStatus

from .conftest import Scene

Make = Callable[[str], Awaitable[Scene]]


@pytest.fixture
async def scene(scene_factory: Make) -> Scene:
    return await scene_factory("google")


async def test_the_tagged_event_is_recognised_and_kept_sanitized_R8(scene: Scene) -> None:
    made = await scene.schedule(subject="Design review")
    assert made.event_id
    assert made.provider == "google"
    r = await scene.provider_call("GET", scene.event_path(made.event_id))
    event = r.json()
    assert event["extendedProperties"]["private"]["calgateMeetingId"] == str(made.id)
    assert made.join_url in event["location"]
    assert made.join_url in event["description"]

    [row] = await scene.synced()
    assert row["event_id"] == made.event_id
    assert row["meeting_id"] == made.id
    assert row["has_content"]
    assert row["kind"] == "single"
    async with scene.runtime.uow(readonly=True) as uow:
        [kept] = await scene.runtime.meeting_sync.store.list(uow, uuid.UUID(scene.account_id))
    assert kept.content is not None
    assert kept.content["subject"] == "Design review"
    assert kept.content["organizer_id"] == "alice@example.com"
    assert kept.content["start"] == "2026-11-25T09:00:00Z"
    assert "attendees" not in kept.content
    assert "location" not in kept.content


async def test_event_moved_45_days_later_keeps_the_link_valid_R12(scene: Scene) -> None:
    made = await scene.schedule(start_date="2026-11-25", start_time="10:00")
    new_start = datetime(2027, 1, 9, 9, 0, tzinfo=UTC)  # 45 days later
    await scene.move(made.event_id or "", new_start, new_start + timedelta(minutes=45))

    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2027-01-09T09:00:00Z"
    assert meeting["duration_minutes"] == 45
    assert meeting["expires_at"] == "2027-02-08T09:00:00Z"  # new start + 30 days
    assert meeting["version"] == 2
    [row] = await scene.synced()
    assert not row["has_content"]
    assert row["starts_at"] is None

    scene.clock.set(new_start + timedelta(minutes=5))
    assert await scene.join_state(made.id) == "valid"


@pytest.mark.parametrize("sync_policy", [{"bidirectional_sync": False}])
async def test_without_sync_a_moved_event_leaves_the_link_to_expire_R12(scene: Scene) -> None:
    made = await scene.schedule(start_date="2026-11-25", start_time="10:00")
    new_start = datetime(2027, 1, 9, 9, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", new_start, new_start + timedelta(minutes=30))

    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2026-11-25T09:00:00Z"
    assert meeting["version"] == 1
    assert await scene.synced() == []  # sync off: nothing is kept (R8)
    scene.clock.set(new_start + timedelta(minutes=5))
    assert await scene.join_state(made.id) == "expired"


async def test_deleting_the_event_cancels_the_meeting_R12(scene: Scene) -> None:
    made = await scene.schedule()
    await scene.delete(made.event_id or "")
    meeting = await scene.meeting(made.id)
    assert meeting["status"] == "cancelled"
    assert await scene.join_state(made.id) == "cancelled"
    assert await scene.synced() == []


async def test_one_occurrence_moved_and_one_cancelled_in_a_series_R12(scene: Scene) -> None:
    made = await scene.schedule(
        start_date="2026-11-25",
        start_time="10:00",
        recurring=True,
        recurrence_rule="FREQ=WEEKLY;COUNT=4",
    )
    master = made.event_id or ""
    second = f"{master}_20261202T090000Z"  # Google's instance id: master + original start
    third = f"{master}_20261209T090000Z"
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
    assert meeting.schedule.start == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # series stays
    # the last occurrence (Dec 16) is unchanged: the expiry follows the series' end
    assert meeting.expires_at == datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    kinds = sorted(r["kind"] for r in await scene.synced())
    assert kinds == ["occurrence", "series"]  # the moved instance and the master


async def test_moving_the_whole_series_moves_the_meeting_R12(scene: Scene) -> None:
    made = await scene.schedule(recurring=True, recurrence_rule="FREQ=DAILY;COUNT=3")
    later = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", later, later + timedelta(minutes=30), zone="UTC")
    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2026-11-26T15:00:00Z"
    assert meeting["recurrence_rule"] == "FREQ=DAILY;COUNT=3"


async def test_events_without_a_meeting_never_reach_the_database_R8(
    backend: str, scene: Scene
) -> None:
    assert scene.runtime.engine.dialect.name == ("sqlite" if backend == "sqlite" else "postgresql")
    made = await scene.schedule()
    secret_subject = "Salary talk with Bob zq7xk"
    r = await scene.provider_call(
        "POST",
        "calendars/primary/events",
        {
            "summary": secret_subject,
            "description": "Confidential: zq7xk-body",
            "start": {"dateTime": "2026-11-26T10:00:00Z"},
            "end": {"dateTime": "2026-11-26T11:00:00Z"},
        },
    )
    assert r.status_code == 200, r.text
    unrelated = r.json()["id"]
    # In the same batch, our own event changes too: the search below must find its id.
    later = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", later, later + timedelta(minutes=30))
    assert (await scene.meeting(made.id))["start"] == "2026-11-25T12:00:00Z"

    dump = await dump_database(scene)
    assert made.event_id
    assert made.event_id in dump
    for needle in (unrelated, secret_subject, "zq7xk"):
        assert needle not in dump, f"{needle!r} reached the database"


async def test_stored_events_are_purged_once_they_end_R8(scene: Scene) -> None:
    made = await scene.schedule(start_date="2026-11-25", start_time="10:00")
    [row] = await scene.synced()
    assert row["has_content"]
    assert await sealed(scene, row["id"]) == 1

    scene.clock.set(datetime(2026, 11, 25, 9, 20, tzinfo=UTC))  # during the meeting
    await run_purge(scene)
    assert len(await scene.synced()) == 1
    scene.clock.set(datetime(2026, 11, 25, 9, 31, tzinfo=UTC))  # it ended at 09:30
    await run_purge(scene)
    assert await scene.synced() == []
    assert await sealed(scene, row["id"]) == 0
    assert await scene.join_state(made.id) == "valid"  # the meeting stays


async def test_turning_sync_off_deletes_what_was_kept_R8(scene: Scene) -> None:
    made = await scene.schedule()
    [row] = await scene.synced()
    await scene.set_sync(False)
    assert await scene.synced() == []  # in the policy change's own transaction
    assert await sealed(scene, row["id"]) == 0
    later = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    await scene.move(made.event_id or "", later, later + timedelta(minutes=30))
    assert await scene.synced() == []
    assert (await scene.meeting(made.id))["start"] == "2026-11-25T09:00:00Z"


# helpers ------------------------------------------------------------------------------------
async def dump_database(scene: Scene) -> str:
    """Every row of every table, as text."""
    from .conftest import rows

    runtime = scene.runtime
    if runtime.engine.dialect.name == "sqlite":
        tables = [
            r["name"]
            for r in await rows(
                runtime, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
    else:
        tables = [
            r["table_name"]
            for r in await rows(
                runtime,
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name",
            )
        ]
    assert "synced_events" in tables
    assert "meetings" in tables
    parts: list[str] = []
    for table in tables:
        for row in await rows(runtime, f'SELECT * FROM "{table}"'):
            parts.append(repr(row))
    return "\n".join(parts)


async def sealed(scene: Scene, row_id: Any) -> int:
    from .conftest import rows

    found = await rows(
        scene.runtime,
        "SELECT count(*) AS n FROM vault_secrets WHERE owner = 'synced_events' AND owner_id = :i",
        i=str(uuid.UUID(str(row_id))),
    )
    return int(found[0]["n"])


async def run_purge(scene: Scene) -> None:
    from calgate.meetings.sync import PURGE_SYNCED

    async with scene.runtime.uow() as uow:
        await scene.runtime.jobs.enqueue(uow, PURGE_SYNCED)
        await uow.commit()
    await scene.runtime.job_runner(concurrency=1).run_pending()


async def test_removing_the_connection_or_the_user_deletes_what_was_kept_R6_R8(
    scene_factory: Make,
) -> None:
    scene = await scene_factory("google")
    await scene.schedule()
    [row] = await scene.synced()
    r = await scene.api.delete(
        f"/v1/me/connections/{scene.connection_id}", headers=scene.user.headers
    )
    assert r.status_code == 204, r.text
    assert await scene.synced() == []
    assert await sealed(scene, row["id"]) == 0

    other = await scene_factory("google")
    await other.schedule()
    [row] = await other.synced()
    r = await other.api.delete(
        f"/v1/accounts/{other.account_id}/users/{other.user.user_id}", headers=other.admin
    )
    assert r.status_code == 204, r.text
    assert await other.synced() == []
    assert await sealed(other, row["id"]) == 0
