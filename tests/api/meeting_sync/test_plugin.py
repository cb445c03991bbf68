"""The Outlook-plugin path in process (R13): the sample plugin's JSON-RPC call → the app's
local endpoint → the app's own calgate session → a meeting in calgate. The same path with
real processes is in tests/e2e/test_meeting_sync.py."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from calgate.client.ipc import IpcServer

from .conftest import Scene

Make = Callable[..., Awaitable[Scene]]
PLUGIN = Path(__file__).parents[3] / "examples" / "outlook_plugin.py"


def load_plugin():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("outlook_plugin", PLUGIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["outlook_plugin"] = module
    spec.loader.exec_module(module)
    return module


async def test_the_sample_plugin_schedules_through_the_app_R13(
    scene_factory: Make, tmp_path: Path
) -> None:
    scene = await scene_factory("google")
    plugin = load_plugin()
    path = tmp_path / "run" / "client.sock"
    app = scene.app

    async with IpcServer(lambda fields: app.schedule_and_tag(fields, tag=False), path):
        argv = ["--subject", "Quarterly planning", "--start", "2026-12-01T10:00"]
        argv += ["--time-zone", "W. Europe Standard Time", "--duration", "45"]
        argv += ["--rrule", "FREQ=WEEKLY;COUNT=3", "--socket", str(path)]
        # the plugin is a blocking stdlib script: run it in a thread
        assert await asyncio.to_thread(plugin.main, argv) == 0
        meeting = await asyncio.to_thread(
            plugin.call,
            path,
            "schedule_meeting",
            {
                "subject": "Second",
                "start_date": "2026-12-02",
                "start_time": "09:00",
                "time_zone": "UTC",
                "duration_minutes": 30,
            },
        )

    r = await scene.api.get("/v1/meetings", headers=scene.user.headers)
    found = {m["subject"]: m for m in r.json()["items"]}
    planning = found["Quarterly planning"]
    assert planning["time_zone"] == "Europe/Berlin"
    assert planning["recurrence_rule"] == "FREQ=WEEKLY;COUNT=3"
    assert planning["start"] == "2026-12-01T09:00:00Z"
    assert found["Second"]["id"] == meeting["id"]
    assert meeting["join_url"].endswith(f"/j/{meeting['id']}")
    assert meeting["passcode"] == found["Second"]["passcode"]
    assert not path.exists()
