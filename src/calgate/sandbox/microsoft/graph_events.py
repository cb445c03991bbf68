"""Graph v1.0 events, calendarView and instances (provider-protocols §2.1–2.3), for ``/me`` and
``/users/{id | userPrincipalName}``, directly or under ``/calendar`` or ``/calendars/{id}``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.graph_http import Deps, GraphContext, Handler, graph_endpoint, paged
from calgate.sandbox.microsoft.render import render_event
from calgate.sandbox.microsoft.state import User
from calgate.sandbox.microsoft.timezones import parse_query_datetime

__all__ = ["OWNERS", "event_routes", "owner_paths", "property_filter", "window"]

OWNERS = ("/me", "/users/{user}")
CALENDARS = ("", "/calendar", "/calendars/{calendar_id}")
_EXPAND = re.compile(r"^singleValueExtendedProperties(?:\(\$filter=(?P<filter>.*)\))?$", re.I)
_ID_EQ = re.compile(r"id\s+eq\s+'((?:[^']|'')*)'", re.I)


def owner_paths() -> list[str]:
    return [owner + cal for owner in OWNERS for cal in CALENDARS]


def mailbox(ctx: GraphContext, *, write: bool = False) -> User:
    params = ctx.request.path_params
    user = ctx.mailbox(params.get("user"), "Calendars", write=write)
    calendar_id = params.get("calendar_id")
    if calendar_id is not None and calendar_id != user.calendar_id:
        raise GraphError.not_found()
    return user


def window(ctx: GraphContext) -> tuple[datetime, datetime]:
    """``startDateTime`` and ``endDateTime``, both required (§2.1, §10.3)."""
    q = ctx.request.query_params
    start, end = (
        q.get("startDateTime") or q.get("StartDateTime"),
        q.get("endDateTime") or q.get("EndDateTime"),
    )
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string "
            "parameters StartDateTime and EndDateTime.",
        )
    try:
        return parse_query_datetime(start), parse_query_datetime(end)
    except ValueError as exc:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "The value of startDateTime or endDateTime is not a valid date-time.",
        ) from exc


def property_filter(ctx: GraphContext) -> Callable[[str], bool] | None:
    """``$expand=singleValueExtendedProperties($filter=id eq '…')`` → a predicate on ids."""
    raw = ctx.request.query_params.get("$expand")
    if not raw:
        return None
    m = _EXPAND.match(raw.strip())
    if m is None:
        raise GraphError.bad_request(
            f"Parsing OData expand '{raw}' failed: unsupported navigation property.", "BadRequest"
        )
    if not m["filter"]:
        return lambda _pid: True
    wanted = {v.replace("''", "'").lower() for v in _ID_EQ.findall(m["filter"])}
    if not wanted:
        raise GraphError.bad_request("Only 'id eq' filters are supported here.", "BadRequest")
    return lambda pid: pid.lower() in wanted


def _reject_filter(ctx: GraphContext) -> None:
    if "$filter" in ctx.request.query_params or "$search" in ctx.request.query_params:
        raise GraphError.bad_request(
            "$filter and $search are not emulated by the calgate sandbox.", "BadRequest"
        )


def event_routes(deps: Deps) -> list[Route]:
    core = deps.core

    def context_name(user: User, suffix: str) -> str:
        return f"users('{user.id}')/{suffix}"

    async def list_events(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.list")
        _reject_filter(ctx)
        user = mailbox(ctx)
        zone, select, props = ctx.output_zone(), ctx.select(), property_filter(ctx)
        items = [
            render_event(i, zone=zone, select=select, properties=props)
            for i in deps.calendar.masters(user)
        ]
        return paged(ctx, items, context_name(user, "events"))

    async def calendar_view(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.calendarView")
        _reject_filter(ctx)
        user = mailbox(ctx)
        start, end = window(ctx)
        zone, select, props = ctx.output_zone(), ctx.select(), property_filter(ctx)
        items = [
            render_event(i, zone=zone, select=select, properties=props)
            for i in deps.calendar.view(user, start, end)
        ]
        return paged(ctx, items, context_name(user, "calendarView"))

    async def instances(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.instances")
        user = mailbox(ctx)
        start, end = window(ctx)
        inst = deps.calendar.get(user, ctx.request.path_params["event_id"])
        if inst.kind != "seriesMaster":
            raise GraphError.bad_request("The event is not a recurring series master.")
        zone, select = ctx.output_zone(), ctx.select()
        items = [
            render_event(i, zone=zone, select=select)
            for i in sorted(
                deps.calendar.instances_of(inst.event, start, end), key=lambda i: i.start_utc
            )
        ]
        return paged(ctx, items, context_name(user, "events"))

    async def create(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.create")
        user = mailbox(ctx, write=True)
        event = deps.calendar.create(user, await ctx.json())
        inst = deps.calendar.get(user, event.id)
        body = {"@odata.context": f"{ctx.graph_base}/$metadata#users('{user.id}')/events/$entity"}
        body.update(render_event(inst, zone=ctx.output_zone(), properties=lambda _p: True))
        return ctx.respond(body, 201)

    async def get_event(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.get")
        user = mailbox(ctx)
        inst = deps.calendar.get(user, ctx.request.path_params["event_id"])
        body = {"@odata.context": f"{ctx.graph_base}/$metadata#users('{user.id}')/events/$entity"}
        body.update(
            render_event(
                inst, zone=ctx.output_zone(), select=ctx.select(), properties=property_filter(ctx)
            )
        )
        return ctx.respond(body)

    async def update(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.update")
        user = mailbox(ctx, write=True)
        inst = deps.calendar.update(
            user,
            ctx.request.path_params["event_id"],
            await ctx.json(),
            ctx.request.headers.get("if-match"),
        )
        return ctx.respond(render_event(inst, zone=ctx.output_zone()))

    async def delete(ctx: GraphContext) -> Response:
        core.count("microsoft", "graph.events.delete")
        user = mailbox(ctx, write=True)
        deps.calendar.delete(
            user, ctx.request.path_params["event_id"], ctx.request.headers.get("if-match")
        )
        return ctx.respond(None, 204)

    async def get_calendar(ctx: GraphContext) -> Response:
        user = mailbox(ctx)
        return ctx.respond(_calendar_json(ctx, user))

    async def list_calendars(ctx: GraphContext) -> Response:
        user = mailbox(ctx)
        return paged(ctx, [_calendar_json(ctx, user)], context_name(user, "calendars"))

    def ep(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return graph_endpoint(deps, handler)

    routes: list[Route] = []
    for base in owner_paths():
        routes += [
            Route(f"{base}/events", ep(list_events), methods=["GET"]),
            Route(f"{base}/events", ep(create), methods=["POST"]),
            Route(f"{base}/events/{{event_id}}", ep(get_event), methods=["GET"]),
            Route(f"{base}/events/{{event_id}}", ep(update), methods=["PATCH"]),
            Route(f"{base}/events/{{event_id}}", ep(delete), methods=["DELETE"]),
            Route(f"{base}/events/{{event_id}}/instances", ep(instances), methods=["GET"]),
            Route(f"{base}/calendarView", ep(calendar_view), methods=["GET"]),
        ]
    for owner in OWNERS:
        routes += [
            Route(f"{owner}/calendar", ep(get_calendar), methods=["GET"]),
            Route(f"{owner}/calendars", ep(list_calendars), methods=["GET"]),
            Route(f"{owner}/calendars/{{calendar_id}}", ep(get_calendar), methods=["GET"]),
        ]
    return routes


def _calendar_json(ctx: GraphContext, user: User) -> dict[str, object]:
    return {
        "id": user.calendar_id,
        "name": "Calendar",
        "color": "auto",
        "isDefaultCalendar": True,
        "canEdit": True,
        "canShare": not user.is_room,
        "canViewPrivateItems": True,
        "owner": {"name": user.display_name, "address": user.upn},
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
    }
