"""The app schedules and writes the tagged event itself (issue #7): only the R11 fields reach
calgate, and only a read/write policy lets the app write to the calendar (R7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from calgate.client import CalendarReadOnly, ScheduleRefused
from calgate.sanitize.tags import GRAPH_MEETING_PROPERTY_ID

from .conftest import Scene, rows

Make = Callable[..., Awaitable[Scene]]
FIELDS = {
    "subject": "Weekly sync",
    "start_date": "2026-11-25",
    "start_time": "10:00",
    "time_zone": "W. Europe Standard Time",
    "duration_minutes": 30,
}


async def meetings(scene: Scene) -> int:
    return len(await rows(scene.runtime, "SELECT id FROM meetings"))


async def test_an_extra_field_is_refused_and_nothing_is_kept_R11(scene_factory: Make) -> None:
    scene = await scene_factory("google")
    with pytest.raises(ScheduleRefused) as refused:
        await scene.app.schedule_and_tag({**FIELDS, "attendees": ["bob@example.com"]})
    assert refused.value.status == 422
    assert refused.value.fields == ("attendees",)
    assert "bob@example.com" not in refused.value.detail
    assert await meetings(scene) == 0


@pytest.mark.parametrize("sync_policy", [{"bidirectional_sync": True, "calendar_access": "read"}])
async def test_read_only_access_refuses_before_scheduling_R7(scene_factory: Make) -> None:
    scene = await scene_factory("microsoft")
    with pytest.raises(CalendarReadOnly):
        await scene.app.schedule_and_tag(FIELDS)
    assert await meetings(scene) == 0
    made = await scene.app.schedule_and_tag(FIELDS, tag=False)  # the meeting alone is fine
    assert made.event_id is None
    assert await meetings(scene) == 1


async def test_graph_event_carries_the_tag_the_link_and_the_series(scene_factory: Make) -> None:
    scene = await scene_factory("microsoft")
    made = await scene.app.schedule_and_tag(
        {**FIELDS, "recurring": True, "recurrence_rule": "FREQ=WEEKLY;BYDAY=WE;COUNT=3"}
    )
    assert made.event_id
    from calgate.sanitize.tags import GRAPH_EXPAND_MEETING_PROPERTY

    r = await scene.provider_call(
        "GET", f"me/events/{made.event_id}?$expand={GRAPH_EXPAND_MEETING_PROPERTY}"
    )
    event: dict[str, Any] = r.json()
    props = {p["id"]: p["value"] for p in event["singleValueExtendedProperties"]}
    assert props[GRAPH_MEETING_PROPERTY_ID] == str(made.id)
    assert event["location"]["displayName"] == made.join_url
    assert made.join_url in event["body"]["content"]
    assert event["recurrence"]["pattern"]["type"] == "weekly"
    assert event["recurrence"]["range"]["numberOfOccurrences"] == 3


async def test_tagging_an_existing_event(scene_factory: Make) -> None:
    """A plugin that already has the appointment open asks the app to tag it."""
    scene = await scene_factory("google")
    r = await scene.provider_call(
        "POST",
        "calendars/primary/events",
        {
            "summary": "Weekly sync",
            "start": {"dateTime": "2026-11-25T09:00:00Z"},
            "end": {"dateTime": "2026-11-25T09:30:00Z"},
        },
    )
    existing = r.json()["id"]
    made = await scene.app.schedule_and_tag(
        {**FIELDS, "time_zone": "UTC", "start_time": "09:00"}, event_id=existing
    )
    assert made.event_id == existing
    await scene.settle()
    [row] = await scene.synced()
    assert row["event_id"] == existing
    assert row["meeting_id"] == made.id
