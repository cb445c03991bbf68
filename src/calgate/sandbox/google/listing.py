"""``events.list`` and ``events.instances`` (provider-protocols §5.1): time-range semantics,
``singleEvents`` expansion, ordering, paging, ``showDeleted``, and incremental sync with
``syncToken``/``nextSyncToken`` (410 ``fullSyncRequired`` when a token is no good)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import QueryParams

from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.errors import ApiError, bad_request
from calgate.sandbox.google.events import master_series, synthesize_instance
from calgate.sandbox.google.state import Calendar, StoredEvent
from calgate.sandbox.google.times import instant, parse_event_time, parse_rfc3339, stamp

__all__ = ["ListQuery", "list_events"]

FULL_SYNC_REQUIRED = "Sync token is no longer valid, a full sync is required."
_NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_MINIMAL = ("kind", "etag", "id", "status", "updated", "recurringEventId", "originalStartTime")


def _bool(params: QueryParams, name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise ApiError(400, "invalid", f"Invalid boolean value: '{value}'.", location=name)
    return value.lower() == "true"


def _time(params: QueryParams, name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise ApiError(400, "badRequest", "Bad Request", location=name) from exc


@dataclass
class ListQuery:
    single: bool = False
    order_by: str | None = None
    max_results: int = 250
    page_token: str | None = None
    sync_token: str | None = None
    show_deleted: bool = False
    time_min: datetime | None = None
    time_max: datetime | None = None
    updated_min: datetime | None = None
    q: str | None = None
    ical_uid: str | None = None
    private_props: tuple[str, ...] = ()
    shared_props: tuple[str, ...] = ()
    time_zone: str | None = None
    fingerprint: str = ""

    @classmethod
    def parse(cls, params: QueryParams) -> ListQuery:
        sync_token = params.get("syncToken")
        if sync_token is not None:
            for name in _NOT_WITH_SYNC_TOKEN:
                if name in params:
                    raise ApiError(
                        400, "invalid", f"The syncToken parameter cannot be used with {name}."
                    )
            if _bool(params, "showDeleted") is False:
                raise ApiError(400, "invalid", "showDeleted=false is not allowed with syncToken.")
        order_by = params.get("orderBy")
        single = bool(_bool(params, "singleEvents"))
        if order_by not in (None, "startTime", "updated"):
            raise ApiError(400, "invalid", f"Invalid value for orderBy: {order_by}")
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular query.")
        try:
            max_results = int(params.get("maxResults", "250"))
        except ValueError as exc:
            raise ApiError(400, "invalid", "Invalid value for maxResults") from exc
        if max_results < 1:
            raise ApiError(400, "invalid", "Invalid value for maxResults")
        query = cls(
            single=single,
            order_by=order_by,
            max_results=min(max_results, 2500),
            page_token=params.get("pageToken"),
            sync_token=sync_token,
            show_deleted=bool(_bool(params, "showDeleted")),
            time_min=_time(params, "timeMin"),
            time_max=_time(params, "timeMax"),
            updated_min=_time(params, "updatedMin"),
            q=params.get("q"),
            ical_uid=params.get("iCalUID"),
            private_props=tuple(params.getlist("privateExtendedProperty")),
            shared_props=tuple(params.getlist("sharedExtendedProperty")),
            time_zone=params.get("timeZone"),
        )
        if query.time_min and query.time_max and query.time_max <= query.time_min:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        shape = sorted((k, v) for k, v in params.multi_items() if k not in ("pageToken",))
        query.fingerprint = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
        return query


# sync tokens --------------------------------------------------------------------------------
def _sign(ctx: GoogleContext, calendar_id: str, payload: str) -> str:
    mac = hmac.new(ctx.state.sync_key, f"{calendar_id}|{payload}".encode(), hashlib.sha256)
    return mac.hexdigest()[:20]


def issue_sync_token(ctx: GoogleContext, cal: Calendar, seq: int) -> str:
    payload = f"{cal.sync_epoch}.{seq}.{int(ctx.now().timestamp())}"
    raw = f"{payload}.{_sign(ctx, cal.id, payload)}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def read_sync_token(ctx: GoogleContext, cal: Calendar, token: str) -> int:
    """The change number a token stands for; 410 ``fullSyncRequired`` if it is invalidated,
    expired, forged or for another calendar."""
    gone = ApiError(410, "fullSyncRequired", FULL_SYNC_REQUIRED, domain="calendar")
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        epoch, seq, issued, mac = raw.split(".")
        payload = f"{epoch}.{seq}.{issued}"
        valid = hmac.compare_digest(mac, _sign(ctx, cal.id, payload))
        age = ctx.now().timestamp() - int(issued)
    except (ValueError, UnicodeDecodeError) as exc:
        raise gone from exc
    if (
        not valid
        or int(epoch) != cal.sync_epoch
        or age > ctx.settings.sync_token_ttl.total_seconds()
    ):
        raise gone
    return int(seq)


# selection ----------------------------------------------------------------------------------
def _minimal(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: resource[k] for k in _MINIMAL if k in resource}


def _overlaps(resource: dict[str, Any], tz: str, lo: datetime | None, hi: datetime | None) -> bool:
    if lo is None and hi is None:
        return True
    times = resource.get("originalStartTime") if resource.get("status") == "cancelled" else None
    start = instant(parse_event_time(resource.get("start") or times, tz), tz)
    end = instant(parse_event_time(resource.get("end") or resource.get("start") or times, tz), tz)
    return (hi is None or start < hi) and (lo is None or end > lo or (start == end and end >= lo))


class _Selector:
    def __init__(self, ctx: GoogleContext, cal: Calendar, query: ListQuery) -> None:
        self.ctx, self.cal, self.q = ctx, cal, query
        self.horizon = ctx.now() + ctx.settings.expansion_horizon
        self.include_deleted = query.show_deleted or query.updated_min is not None

    def _wanted(self, resource: dict[str, Any]) -> bool:
        q = self.q
        if resource.get("status") == "cancelled" and not self.include_deleted:
            return False
        if q.updated_min is not None and parse_rfc3339(resource["updated"]) < q.updated_min:
            return False
        if q.ical_uid and resource.get("iCalUID") != q.ical_uid:
            return False
        for kind, wanted in (("private", q.private_props), ("shared", q.shared_props)):
            props = (resource.get("extendedProperties") or {}).get(kind) or {}
            for pair in wanted:
                key, _, value = pair.partition("=")
                if props.get(key) != value:
                    return False
        if q.q:
            hay = " ".join(
                str(resource.get(k, "")) for k in ("summary", "description", "location")
            ) + " ".join(a.get("email", "") for a in resource.get("attendees", []))
            if not all(word.lower() in hay.lower() for word in q.q.split()):
                return False
        return True

    def _instances(
        self, master: StoredEvent, lo: datetime | None, hi: datetime | None
    ) -> Iterator[dict[str, Any]]:
        tz = self.cal.time_zone
        resource = master.resource
        exceptions = self.cal.exceptions.get(master.id, set())
        series = master_series(resource, tz)
        for original, start, end in series.occurrences(lo, hi or self.horizon):
            instance = synthesize_instance(resource, original, start, end, tz)
            if instance["id"] in exceptions:
                continue
            if master.cancelled:
                instance = _minimal(instance)
            yield instance
        for exception_id in sorted(exceptions):
            stored = self.cal.events[exception_id]
            if _overlaps(stored.resource, tz, lo, hi):
                yield stored.resource

    def full(self) -> list[dict[str, Any]]:
        q, tz = self.q, self.cal.time_zone
        out: list[dict[str, Any]] = []
        for stored in self.cal.events.values():
            resource = stored.resource
            if q.single and stored.master_id:
                continue  # exceptions come out with their series
            if "recurrence" in resource and q.single:
                if stored.cancelled:
                    continue
                out.extend(
                    i for i in self._instances(stored, q.time_min, q.time_max) if self._wanted(i)
                )
                continue
            if not self._wanted(resource):
                continue
            if "recurrence" in resource:
                series = master_series(resource, tz)
                hit = next(series.occurrences(q.time_min, q.time_max or self.horizon), None)
                if hit is None:
                    continue
            elif not _overlaps(resource, tz, q.time_min, q.time_max):
                continue
            out.append(resource)
        return out

    def changes(self, since: int) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for stored in self.cal.events.values():
            if stored.seq <= since:
                continue
            if self.q.single and "recurrence" in stored.resource:
                for instance in self._instances(stored, None, None):
                    out[instance["id"]] = instance
            else:
                out[stored.id] = stored.resource
        return list(out.values())


def _sort(items: list[dict[str, Any]], query: ListQuery, tz: str) -> None:
    if query.order_by == "updated":
        items.sort(key=lambda r: r.get("updated", ""))
    elif query.order_by == "startTime":

        def key(r: dict[str, Any]) -> datetime:
            when = r.get("start") or r.get("originalStartTime")
            return instant(parse_event_time(when, tz), tz)

        items.sort(key=key)


# the list operation -------------------------------------------------------------------------
def _page_token(offset: int, seq: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, seq, fingerprint]).encode()).decode()


def _read_page_token(token: str, fingerprint: str) -> tuple[int, int]:
    try:
        offset, seq, shape = json.loads(base64.urlsafe_b64decode(token.encode()))
        if shape != fingerprint:
            raise ValueError("page token from another query")
        return int(offset), int(seq)
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid", "Invalid page token value.", location="pageToken") from exc


def list_events(
    ctx: GoogleContext,
    cal: Calendar,
    query: ListQuery,
    *,
    access_role: str,
    master: str | None = None,
) -> dict[str, Any]:
    since = read_sync_token(ctx, cal, query.sync_token) if query.sync_token else None
    if query.page_token:
        offset, seq0 = _read_page_token(query.page_token, query.fingerprint)
    else:
        offset, seq0 = 0, ctx.state.seq_now
    key = (cal.id, query.fingerprint, seq0, ctx.state.seq_now, master)
    cache = ctx.list_cache  # later pages reuse the first page's result while nothing changed
    items = cache.get(key)
    if items is None:
        selector = _Selector(ctx, cal, query)
        if master is not None:
            stored = cal.events[master]
            items = [
                i
                for i in selector._instances(stored, query.time_min, query.time_max)
                if selector._wanted(i)
            ]
        elif since is not None:
            items = selector.changes(since)
        else:
            items = selector.full()
        items = [_minimal(i) if i.get("status") == "cancelled" else i for i in items]
        _sort(items, query, cal.time_zone)
        cache[key] = items
        while len(cache) > 16:
            cache.popitem(last=False)
    page = items[offset : offset + query.max_results]
    newest = max((s.seq for s in cal.events.values()), default=0)
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"p{newest:020d}"',
        "summary": cal.summary,
        "description": cal.description,
        "updated": stamp(
            max(
                (parse_rfc3339(s.resource["updated"]) for s in cal.events.values()),
                default=ctx.now(),
            )
        ),
        "timeZone": query.time_zone or cal.time_zone,
        "accessRole": access_role,
        "defaultReminders": [{"method": "popup", "minutes": 10}] if cal.kind == "primary" else [],
        "items": page,
    }
    if offset + query.max_results < len(items):
        body["nextPageToken"] = _page_token(offset + query.max_results, seq0, query.fingerprint)
    elif master is None:
        body["nextSyncToken"] = issue_sync_token(ctx, cal, seq0)
    return body
