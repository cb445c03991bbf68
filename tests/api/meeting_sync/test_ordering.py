"""Providers replay changes and deliver them out of order (provider-protocols §2.4): a
duplicate, or a change older than the one applied, leaves the meeting as it is (R12)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from calgate.domain.policy import Provider
from calgate.sync import Change, SyncContext

from .conftest import Scene

Make = Callable[..., Awaitable[Scene]]


def context(scene: Scene) -> SyncContext:
    now = scene.clock.now()
    return SyncContext(
        account_id=uuid.UUID(scene.account_id),
        user_id=uuid.UUID(scene.user.user_id),
        connection_id=uuid.UUID(scene.connection_id),
        provider=Provider(scene.provider),
        full=False,
        window_start=now - timedelta(days=1),
        window_end=now + timedelta(days=31),
        synced_at=now,
    )


async def current(scene: Scene, event_id: str) -> dict[str, Any]:
    r = await scene.provider_call("GET", scene.event_path(event_id))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_replayed_and_older_changes_change_nothing_R12(scene_factory: Make) -> None:
    scene = await scene_factory("google")
    made = await scene.schedule(start_date="2026-11-25", start_time="10:00")
    event_id = made.event_id or ""
    before = await current(scene, event_id)
    scene.clock.advance(timedelta(minutes=5))
    later = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    await scene.move(event_id, later, later + timedelta(minutes=30))
    after = await current(scene, event_id)
    moved = await scene.meeting(made.id)
    assert moved["start"] == "2026-11-25T13:00:00Z"
    assert moved["version"] == 2

    consumer = scene.runtime.meeting_sync
    ctx = context(scene)
    # the newest change, delivered again (twice in one batch, then in another batch)
    await consumer.on_changes(ctx, [Change(event_id, event_id, raw=after)] * 2)
    await consumer.on_changes(ctx, [Change(event_id, event_id, raw=after)])
    # the older state arrives last
    await consumer.on_changes(ctx, [Change(event_id, event_id, raw=before)])
    assert consumer.last is not None
    assert consumer.last.skipped == 1

    meeting = await scene.meeting(made.id)
    assert meeting["start"] == "2026-11-25T13:00:00Z"
    assert meeting["version"] == 2  # nothing was written again
    [row] = await scene.synced()
    assert row["provider_version"] == after["etag"]


async def test_a_late_change_after_the_cancel_does_not_revive_the_meeting_R12(
    scene_factory: Make,
) -> None:
    scene = await scene_factory("google")
    made = await scene.schedule()
    event_id = made.event_id or ""
    before = await current(scene, event_id)
    await scene.delete(event_id)
    assert (await scene.meeting(made.id))["status"] == "cancelled"

    await scene.runtime.meeting_sync.on_changes(
        context(scene), [Change(event_id, event_id, raw=before)]
    )
    meeting = await scene.meeting(made.id)
    assert meeting["status"] == "cancelled"
    assert await scene.synced() == []


async def test_an_attendees_copy_never_changes_the_meeting_R12(scene_factory: Make) -> None:
    """The same event in another user's calendar (an invitee's copy, with the join link) is
    kept for them, but only the owner's calendar moves or cancels the meeting; in another
    account the meeting is not theirs at all."""
    owner = await scene_factory("google")
    made = await owner.schedule()
    guest = await scene_factory("microsoft", owner)  # a colleague in the same account
    stranger = await scene_factory("microsoft")  # someone in another account
    event = await current(owner, made.event_id or "")
    copy = {
        "subject": event["summary"],
        "body": {"contentType": "text", "content": event["description"]},
        "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T09:30:00", "timeZone": "UTC"},
    }
    for who in (guest, stranger):
        r = await who.provider_call("POST", "me/events", copy)
        assert r.status_code == 201, r.text
        await who.settle()
        later = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
        await who.move(r.json()["id"], later, later + timedelta(minutes=30))
        if who is guest:
            [row] = await guest.synced()
            assert row["meeting_id"] == made.id
        else:
            assert await stranger.synced() == []  # not a meeting of their account
        await who.delete(r.json()["id"])
    meeting = await owner.meeting(made.id)
    assert meeting["status"] == "scheduled"
    assert meeting["start"] == "2026-11-25T09:00:00Z"
    assert meeting["version"] == 1
    assert await guest.synced() == []  # the guest's copy was deleted
