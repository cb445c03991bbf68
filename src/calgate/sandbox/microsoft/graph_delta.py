"""``calendarView/delta`` (provider-protocols §2.4): rounds of pages linked by
``@odata.nextLink`` (``$skiptoken``) ending in ``@odata.deltaLink`` (``$deltatoken``); the next
round returns changed items in full and ``@removed`` entries for deleted ones and for items that
left the window. Tokens are opaque and kept in a bounded cache; an evicted token answers
``410 Gone`` with a ``Location`` to a fresh initial query."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.graph_events import mailbox, owner_paths, window
from calgate.sandbox.microsoft.graph_http import Deps, GraphContext, graph_endpoint
from calgate.sandbox.microsoft.render import render_event
from calgate.sandbox.microsoft.state import User

__all__ = ["DeltaStore", "delta_routes"]

_UNSUPPORTED = ("$select", "$expand", "$filter", "$orderby", "$search")


@dataclass(frozen=True)
class DeltaCursor:
    user_id: str
    start: datetime
    end: datetime
    seq: int


@dataclass
class DeltaPage:
    cursor: DeltaCursor  # where the round ends
    items: list[dict[str, Any]]
    offset: int
    size: int


class DeltaStore:
    """Server-side state behind the opaque tokens, evicted oldest-first past ``capacity``."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self.links: OrderedDict[str, DeltaCursor] = OrderedDict()
        self.pages: OrderedDict[str, DeltaPage] = OrderedDict()
        self.evicted: dict[str, DeltaCursor] = {}

    def put_link(self, cursor: DeltaCursor) -> str:
        token = secrets.token_urlsafe(24)
        self.links[token] = cursor
        self._trim()
        return token

    def put_page(self, page: DeltaPage) -> str:
        token = secrets.token_urlsafe(24)
        self.pages[token] = page
        self._trim()
        return token

    def _trim(self) -> None:
        while len(self.links) + len(self.pages) > self.capacity:
            if self.pages:
                self.pages.popitem(last=False)
            else:
                token, cursor = self.links.popitem(last=False)
                self.evicted[token] = cursor

    def expire(self, user_id: str | None = None) -> int:
        """Evict every token (of one mailbox): clients must resync (control API)."""
        n = 0
        for token, cursor in list(self.links.items()):
            if user_id is None or cursor.user_id == user_id:
                self.evicted[token] = self.links.pop(token)
                n += 1
        for token, page in list(self.pages.items()):
            if user_id is None or page.cursor.user_id == user_id:
                del self.pages[token]
                n += 1
        return n


def _removed(item_id: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": item_id,
        "@removed": {"reason": "deleted"},
    }


def delta_routes(deps: Deps, store: DeltaStore) -> list[Route]:
    def first_round(ctx: GraphContext, user: User) -> tuple[list[dict[str, Any]], DeltaCursor]:
        start, end = window(ctx)
        zone = ctx.output_zone()
        items = [render_event(i, zone=zone) for i in deps.calendar.view(user, start, end)]
        return items, DeltaCursor(user.id, start, end, user.seq)

    def next_round(
        ctx: GraphContext, user: User, since: DeltaCursor
    ) -> tuple[list[dict[str, Any]], DeltaCursor]:
        zone = ctx.output_zone()
        items: list[dict[str, Any]] = []
        for event in sorted(user.events.values(), key=lambda e: e.seq):
            if event.seq <= since.seq:
                continue
            if event.deleted:
                items.append(_removed(event.id))
                continue
            found = deps.calendar.instances_of(event, since.start, since.end)
            items.extend(render_event(i, zone=zone) for i in found)
            if not found:
                items.append(_removed(event.id))  # moved out of (or changed outside) the window
            items.extend(_removed(f"{event.id}{key}") for key in sorted(event.cancelled))
        return items, DeltaCursor(user.id, since.start, since.end, user.seq)

    def gone(ctx: GraphContext, cursor: DeltaCursor) -> GraphError:
        query = urlencode(
            {
                "startDateTime": cursor.start.isoformat().replace("+00:00", "Z"),
                "endDateTime": cursor.end.isoformat().replace("+00:00", "Z"),
            }
        )
        location = str(ctx.request.url.replace(query=query))
        return GraphError(
            410,
            "syncStateNotFound",
            "The sync state generation is not found or has expired; start a new initial sync.",
            headers={"Location": location},
        )

    async def delta(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.delta")
        q = ctx.request.query_params
        for option in _UNSUPPORTED:
            if option in q:
                raise GraphError.bad_request(
                    f"{option} is not supported on calendarView delta.", "BadRequest"
                )
        user = mailbox(ctx)
        skip, delta_token = q.get("$skiptoken"), q.get("$deltatoken")
        if skip is not None:
            page = store.pages.pop(skip, None)
            if page is None or page.cursor.user_id != user.id:
                raise GraphError(
                    410,
                    "syncStateNotFound",
                    "The paging state has expired; start a new initial sync.",
                )
        else:
            if delta_token is not None:
                cursor = store.links.get(delta_token)
                if cursor is None:
                    old = store.evicted.get(delta_token)
                    if old is not None:
                        raise gone(ctx, old)
                    raise GraphError.bad_request("The delta token is malformed.", "BadRequest")
                if cursor.user_id != user.id:
                    raise GraphError.bad_request("The delta token belongs to another mailbox.")
                items, end_cursor = next_round(ctx, user, cursor)
            else:
                items, end_cursor = first_round(ctx, user)
            page = DeltaPage(end_cursor, items, 0, ctx.page_size(10))
        chunk = page.items[page.offset : page.offset + page.size]
        page.offset += page.size
        base = ctx.request.url.replace(query="")
        body: dict[str, Any] = {"@odata.context": f"{ctx.graph_base}/$metadata#Collection(event)"}
        body["value"] = chunk
        if page.offset < len(page.items):
            link = str(base) + "?" + urlencode({"$skiptoken": store.put_page(page)}, safe="$")
            body["@odata.nextLink"] = link
        else:
            link = (
                str(base) + "?" + urlencode({"$deltatoken": store.put_link(page.cursor)}, safe="$")
            )
            body["@odata.deltaLink"] = link
        return ctx.respond(body)

    return [
        Route(f"{base}/calendarView/delta", graph_endpoint(deps, delta), methods=["GET"])
        for base in owner_paths()
    ]
