"""Change consumers get every change once a sync finds it, with the provider's id and wire
JSON; a consumer that fails gets the same batch again (the cursor does not move), and the
user's apps are told of the change all the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from calgate.sync import Change, SyncContext

from .conftest import changed_messages, rows
from support.connect import GOOGLE_USER


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.batches: list[tuple[SyncContext, list[Change]]] = []
        self.fail = False

    async def on_changes(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
        self.batches.append((ctx, list(changes)))
        if self.fail:
            raise RuntimeError("consumer unavailable")


async def test_consumers_see_changes_and_a_failure_redelivers_them(connected, runtime, world):
    recorder = Recorder()
    runtime.sync_consumers.register(recorder)
    cid = await connected("google")
    assert recorder.batches
    assert recorder.batches[0][0].full  # the first sync is a complete listing
    recorder.batches.clear()
    cursor = (await rows(runtime, "SELECT cursor FROM sync_states"))[0]["cursor"]

    announced = await changed_messages(runtime, cid)
    runtime.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]  # past coalescing
    recorder.fail = True
    made = await world.control.post(
        f"/_sandbox/google/calendars/{GOOGLE_USER}/events",
        json={
            "summary": "Budget review",
            "start": {"dateTime": "2026-11-24T10:00:00Z"},
            "end": {"dateTime": "2026-11-24T11:00:00Z"},
        },
    )
    event_id = made.json()["id"]
    await world.settle(runtime, rounds=1)
    assert len(recorder.batches) == 1
    ctx, changes = recorder.batches[0]
    assert str(ctx.connection_id).replace("-", "") == cid.replace("-", "")
    assert not ctx.full
    assert [(c.event_id, c.removed) for c in changes] == [(event_id, False)]
    assert changes[0].raw is not None
    assert changes[0].raw["summary"] == "Budget review"
    assert (await rows(runtime, "SELECT cursor FROM sync_states"))[0]["cursor"] == cursor
    # the apps are told all the same: the change is real whatever a consumer makes of it
    assert await changed_messages(runtime, cid) == announced + 1

    recorder.fail = False
    await runtime.job_runner().run_pending()  # nothing due yet: the retry waits its back-off
    world_clock = runtime.clock
    world_clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    await world.settle(runtime)
    assert [c.event_id for _, batch in recorder.batches[1:] for c in batch] == [event_id]
    assert (await rows(runtime, "SELECT cursor FROM sync_states"))[0]["cursor"] != cursor

    await world.control.delete(f"/_sandbox/google/calendars/{GOOGLE_USER}/events/{event_id}")
    await world.settle(runtime)
    last = recorder.batches[-1][1]
    assert [(c.event_id, c.removed) for c in last] == [(event_id, True)]
