"""The memory connector keeps domain events as they are; hrefs are ``{calendar}/{id}``."""

from __future__ import annotations

__all__ = ["event_href", "parse_href"]


def event_href(calendar_id: str, event_id: str) -> str:
    return f"{calendar_id}/{event_id}"


def parse_href(href: str) -> tuple[str, str]:
    calendar_id, sep, event_id = href.rpartition("/")
    if not sep or not calendar_id or not event_id:
        raise ValueError("not a memory event href")
    return calendar_id, event_id
