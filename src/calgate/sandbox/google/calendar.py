"""Calendar API v3 routes under ``/google/calendar/v3`` (provider-protocols §5): calendarList,
calendars.get, events list/get/insert/update/patch/delete/instances/watch, channels.stop."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from calgate.sandbox.google.context import emulator_root
from calgate.sandbox.google.errors import ApiError, bad_request
from calgate.sandbox.google.events import EventStore
from calgate.sandbox.google.listing import ListQuery, list_events
from calgate.sandbox.google.principal import Principal, authenticate
from calgate.sandbox.google.scopes import CALENDARLIST_READ, EVENTS_READ, EVENTS_WRITE
from calgate.sandbox.google.state import Calendar
from calgate.sandbox.google.watch import Channels

__all__ = ["router"]

router = APIRouter(prefix="/calendar/v3")
Caller = Annotated[Principal, Depends(authenticate)]


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"{}")
    except ValueError as exc:
        raise bad_request("Parse Error", "parseError") from exc


def _conference_version(request: Request) -> int:
    try:
        return int(request.query_params.get("conferenceDataVersion", "0"))
    except ValueError as exc:
        raise ApiError(400, "invalid", "Invalid value for conferenceDataVersion") from exc


def _list_entry(cal: Calendar, role: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": "calendar#calendarListEntry",
        "etag": f'"{cal.etag_seq:016d}"',
        "id": cal.id,
        "summary": cal.summary,
        "timeZone": cal.time_zone,
        "colorId": "14" if cal.kind == "primary" else "8",
        "backgroundColor": "#9fe1e7" if cal.kind == "primary" else "#16a765",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": role,
        "defaultReminders": [{"method": "popup", "minutes": 10}] if cal.kind == "primary" else [],
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }
    if cal.description:
        entry["description"] = cal.description
    if cal.kind == "primary":
        entry["primary"] = True
    return entry


@router.get("/users/me/calendarList")
async def calendar_list(caller: Caller) -> dict[str, Any]:
    caller.require(CALENDARLIST_READ, "calendar.v3.CalendarList.List")
    caller.context.count("calendarList.list")
    cals = caller.context.state.calendars_of(caller.user) if caller.user else []
    items = [_list_entry(c, "owner" if c.owner == caller.user else "writer") for c in cals]
    return {"kind": "calendar#calendarList", "etag": '"p1"', "items": items}


@router.get("/users/me/calendarList/{calendar_id}")
async def calendar_list_get(calendar_id: str, caller: Caller) -> dict[str, Any]:
    caller.require(CALENDARLIST_READ, "calendar.v3.CalendarList.Get")
    cal, role = caller.calendar(calendar_id)
    return _list_entry(cal, role)


@router.get("/calendars/{calendar_id}")
async def calendars_get(calendar_id: str, caller: Caller) -> dict[str, Any]:
    caller.require(EVENTS_READ | CALENDARLIST_READ, "calendar.v3.Calendars.Get")
    cal, _ = caller.calendar(calendar_id)
    return {
        "kind": "calendar#calendar",
        "etag": f'"{cal.etag_seq:016d}"',
        "id": cal.id,
        "summary": cal.summary,
        "timeZone": cal.time_zone,
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }


@router.get("/calendars/{calendar_id}/events")
async def events_list(calendar_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    caller.require(EVENTS_READ, "calendar.v3.Events.List")
    caller.context.count("events.list")
    query = ListQuery.parse(request.query_params)
    cal, role = caller.calendar(calendar_id)
    if query.sync_token:
        caller.context.count("events.list.incremental")
    return list_events(caller.context, cal, query, access_role=role)


@router.post("/calendars/{calendar_id}/events")
async def events_insert(calendar_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    caller.require(EVENTS_WRITE, "calendar.v3.Events.Insert")
    caller.context.count("events.insert")
    cal, _ = caller.calendar(calendar_id)
    store = EventStore(caller.context, cal, caller.user)
    return store.insert(await _body(request), conference_version=_conference_version(request))


@router.post("/calendars/{calendar_id}/events/watch")
async def events_watch(calendar_id: str, request: Request, caller: Caller) -> dict[str, Any]:
    caller.require(EVENTS_READ, "calendar.v3.Events.Watch")
    caller.context.count("events.watch")
    cal, _ = caller.calendar(calendar_id)
    api_base = emulator_root(request) + "calendar/v3/"
    extra = "".join(
        f"{k}={v}&" for k, v in request.query_params.multi_items() if k != "access_token"
    )
    return Channels(caller.context).create(caller.owner, cal, await _body(request), api_base, extra)


@router.get("/calendars/{calendar_id}/events/{event_id}")
async def events_get(calendar_id: str, event_id: str, request: Request, caller: Caller) -> Response:
    caller.require(EVENTS_READ, "calendar.v3.Events.Get")
    caller.context.count("events.get")
    cal, _ = caller.calendar(calendar_id)
    resource = EventStore(caller.context, cal, caller.user).get(event_id)
    if request.headers.get("if-none-match") == resource.get("etag"):
        return Response(status_code=304)
    return JSONResponse(resource)


@router.get("/calendars/{calendar_id}/events/{event_id}/instances")
async def events_instances(
    calendar_id: str, event_id: str, request: Request, caller: Caller
) -> dict[str, Any]:
    caller.require(EVENTS_READ, "calendar.v3.Events.Instances")
    caller.context.count("events.instances")
    cal, role = caller.calendar(calendar_id)
    stored = cal.events.get(event_id)
    if stored is None or "recurrence" not in stored.resource:
        raise ApiError(404, "notFound", "Not Found")
    query = ListQuery.parse(request.query_params)
    query.single, query.order_by = True, "startTime"
    return list_events(caller.context, cal, query, access_role=role, master=event_id)


@router.put("/calendars/{calendar_id}/events/{event_id}")
async def events_update(
    calendar_id: str, event_id: str, request: Request, caller: Caller
) -> dict[str, Any]:
    caller.require(EVENTS_WRITE, "calendar.v3.Events.Update")
    caller.context.count("events.update")
    cal, _ = caller.calendar(calendar_id)
    return EventStore(caller.context, cal, caller.user).replace(
        event_id,
        await _body(request),
        if_match=request.headers.get("if-match"),
        conference_version=_conference_version(request),
    )


@router.patch("/calendars/{calendar_id}/events/{event_id}")
async def events_patch(
    calendar_id: str, event_id: str, request: Request, caller: Caller
) -> dict[str, Any]:
    caller.require(EVENTS_WRITE, "calendar.v3.Events.Patch")
    caller.context.count("events.patch")
    cal, _ = caller.calendar(calendar_id)
    return EventStore(caller.context, cal, caller.user).patch(
        event_id,
        await _body(request),
        if_match=request.headers.get("if-match"),
        conference_version=_conference_version(request),
    )


@router.delete("/calendars/{calendar_id}/events/{event_id}", status_code=204)
async def events_delete(
    calendar_id: str, event_id: str, request: Request, caller: Caller
) -> Response:
    caller.require(EVENTS_WRITE, "calendar.v3.Events.Delete")
    caller.context.count("events.delete")
    cal, _ = caller.calendar(calendar_id)
    EventStore(caller.context, cal, caller.user).delete(
        event_id, if_match=request.headers.get("if-match")
    )
    return Response(status_code=204)


@router.post("/channels/stop", status_code=204)
async def channels_stop(request: Request, caller: Caller) -> Response:
    caller.context.count("channels.stop")
    Channels(caller.context).stop(caller.owner, await _body(request))
    return Response(status_code=204)
