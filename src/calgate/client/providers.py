"""Fetching upcoming events straight from the provider with a vended access token (C2, C3).

Google Calendar v3 ``events.list`` on the primary calendar (``singleEvents=true``,
``orderBy=startTime``) and Graph ``/me/calendarView`` (``Prefer: outlook.timezone="UTC"``,
the calgate meeting property expanded), following pages. Every item is sanitized
(:mod:`calgate.sanitize`, APP profile) as soon as its page arrives; the raw JSON is dropped
with the page. Page links are followed only on the vended API base's own origin, so the
token is never sent anywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from calgate.client.errors import ProviderBusy, ProviderError, ProviderUnauthorized
from calgate.sanitize import (
    Platform,
    SanitizedEvent,
    UnusableEvent,
    sanitize_google,
    sanitize_graph,
)
from calgate.sanitize.tags import GRAPH_EXPAND_MEETING_PROPERTY

__all__ = ["FETCHERS", "Fetched", "fetch_events"]

log = logging.getLogger(__name__)

MAX_PAGES = 50
GOOGLE_PAGE = 250
GRAPH_PAGE = 100


@dataclass(frozen=True, slots=True)
class Fetched:
    events: tuple[SanitizedEvent, ...]
    skipped: int  # items that could not be used (no start, unknown zone…)
    pages: int


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _reason(response: httpx.Response) -> str:
    """A provider error's machine-readable code (Graph ``error.code``, Google
    ``error.errors[0].reason``); never its free-text message."""
    try:
        err = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(err, dict):
        if isinstance(err.get("code"), str):
            return str(err["code"])[:64]
        errors = err.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("reason", ""))[:64]
    return ""


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


async def _get(
    http: httpx.AsyncClient, provider: str, url: str, token: str, **kw: Any
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    try:
        r = await http.get(url, headers=headers, **kw)
    except httpx.TransportError as exc:
        raise ProviderBusy(f"{provider} unreachable ({type(exc).__name__})") from None
    if r.status_code == 200:
        body = r.json()
        if not isinstance(body, dict):
            raise ProviderError(f"{provider} answered something other than a JSON object")
        return body
    reason = _reason(r)
    detail = f"{provider} answered {r.status_code}" + (f" {reason}" if reason else "")
    if r.status_code == 401:
        raise ProviderUnauthorized(detail)
    if r.status_code in (429, 503, 504) or (r.status_code == 403 and "ratelimit" in reason.lower()):
        raise ProviderBusy(detail, retry_after=_retry_after(r))
    raise ProviderError(detail)


def _same_origin(base: str, link: str) -> bool:
    a, b = urlsplit(base), urlsplit(link)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


async def _google_pages(
    http: httpx.AsyncClient, base: str, token: str, start: datetime, end: datetime
) -> AsyncIterator[list[Any]]:
    url = f"{base}/calendars/primary/events"
    params = {
        "timeMin": _iso(start),
        "timeMax": _iso(end),
        "singleEvents": "true",
        "orderBy": "startTime",
        "maxResults": str(GOOGLE_PAGE),
    }
    for _ in range(MAX_PAGES):
        body = await _get(http, "google", url, token, params=params)
        items = body.get("items")
        yield items if isinstance(items, list) else []
        page = body.get("nextPageToken")
        if not isinstance(page, str) or not page:
            return
        params["pageToken"] = page


async def _graph_pages(
    http: httpx.AsyncClient, base: str, token: str, start: datetime, end: datetime
) -> AsyncIterator[list[Any]]:
    url: str | None = f"{base}/me/calendarView"
    params: dict[str, str] | None = {
        "startDateTime": _iso(start),
        "endDateTime": _iso(end),
        "$expand": GRAPH_EXPAND_MEETING_PROPERTY,
    }
    headers = {"Prefer": f'outlook.timezone="UTC", odata.maxpagesize={GRAPH_PAGE}'}
    for _ in range(MAX_PAGES):
        assert url is not None
        body = await _get(http, "microsoft", url, token, params=params, headers=headers)
        items = body.get("value")
        yield items if isinstance(items, list) else []
        link = body.get("@odata.nextLink")
        if not isinstance(link, str) or not link:
            return
        if not _same_origin(base, link):
            raise ProviderError("microsoft sent a next page on another host; not following it")
        url, params = link, None


_Pages = Callable[[httpx.AsyncClient, str, str, datetime, datetime], AsyncIterator[list[Any]]]
_Sanitize = Callable[..., SanitizedEvent]

FETCHERS: Mapping[str, tuple[_Pages, _Sanitize]] = {
    "google": (_google_pages, sanitize_google),
    "microsoft": (_graph_pages, sanitize_graph),
}


async def fetch_events(
    http: httpx.AsyncClient,
    *,
    provider: str,
    api_base_url: str,
    access_token: str,
    start: datetime,
    end: datetime,
    platform: Platform,
) -> Fetched:
    """Upcoming events of the user's primary calendar in ``[start, end)``, sanitized;
    cancelled occurrences are left out."""
    pages, sanitize = FETCHERS[provider]
    events: list[SanitizedEvent] = []
    skipped = count = 0
    async for items in pages(http, api_base_url.rstrip("/"), access_token, start, end):
        count += 1
        for item in items:
            if not isinstance(item, dict):
                skipped += 1
                continue
            try:
                event = sanitize(item, platform=platform)
            except UnusableEvent:
                skipped += 1
                continue
            if not event.cancelled:
                events.append(event)
    events.sort(key=lambda e: (e.start, e.end, e.id))
    return Fetched(tuple(events), skipped, count)
