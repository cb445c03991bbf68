"""An :class:`Instance` as Graph event JSON, provider-protocols §2.2–2.3.

``Prefer: outlook.timezone`` changes only the zone ``start``/``end`` are written in; without
it they are UTC. ``$select`` keeps ``id`` and ``@odata.etag``; extended properties appear only
when ``$expand``-ed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from calgate.sandbox.microsoft.calendar import Instance, wall_from_key
from calgate.sandbox.microsoft.timezones import format_graph_datetime

__all__ = ["OutputZone", "render_event"]

OutputZone = tuple[ZoneInfo, str]  # the zone and the name the client asked for
_UTC: OutputZone = (ZoneInfo("UTC"), "UTC")


def render_event(
    inst: Instance,
    *,
    zone: OutputZone | None = None,
    select: set[str] | None = None,
    properties: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    event = inst.event
    data = copy.deepcopy(event.data)
    if inst.overrides:
        data.update(
            {k: copy.deepcopy(v) for k, v in inst.overrides.items() if k not in ("start", "end")}
        )
    out_zone, out_name = zone or _UTC
    if inst.all_day:
        start, end = inst.start, inst.end
    else:
        start = inst.start_utc.astimezone(out_zone).replace(tzinfo=None)
        end = inst.end_utc.astimezone(out_zone).replace(tzinfo=None)
    data["start"] = {"dateTime": format_graph_datetime(start), "timeZone": out_name}
    data["end"] = {"dateTime": format_graph_datetime(end), "timeZone": out_name}
    data["id"] = inst.id
    data["type"] = inst.kind
    data["seriesMasterId"] = event.id if inst.key else None
    if inst.key is not None:
        original = inst.event.data["start"]
        data["recurrence"] = None
        data["originalStart"] = _original_start(inst).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        data["originalStartTimeZone"] = original.get("timeZone", "UTC")
        digest = hashlib.sha256(f"{data['iCalUId']}/{inst.key}".encode()).hexdigest()
        data["iCalUId"] = "040000008200E00074C5B7101A82E008" + digest[:48].upper()
    if properties is not None:
        data["singleValueExtendedProperties"] = [
            {"id": pid, "value": value}
            for pid, value in event.properties.items()
            if properties(pid)
        ]
    body: dict[str, Any] = {"@odata.etag": f'W/"{data["changeKey"]}"', "id": inst.id}
    if select is not None:
        lowered = {s.lower() for s in select}
        keep = {k for k in data if k.lower() in lowered}
        if properties is not None:
            keep.add("singleValueExtendedProperties")
        data = {k: v for k, v in data.items() if k in keep}
    body.update((k, v) for k, v in data.items() if k not in body)
    return body


def _original_start(inst: Instance) -> datetime:
    assert inst.key is not None
    return wall_from_key(inst.key).replace(tzinfo=inst.zone)
