"""Reading one changed item of a sync batch: is it one of our meetings, and what is it?

Recognition (R8, R12): the calgate tag first (Google
``extendedProperties.private.calgateMeetingId``, Graph's single-value extended property;
see :mod:`calgate.sanitize.tags`), then a join link ``<join base><id>`` in the conference
data, location or body, then what sync already holds for the event id (Graph's delta never
returns extended properties, and a user may edit the link out of the body). Everything is
read through the sanitizer's SYNC allow-list; the only fields read beside it are ids and
version stamps (etag, ``updated``) and, for a cancelled Google instance that carries
nothing else, ``recurringEventId`` and ``originalStartTime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calgate.sanitize import Platform, Profile, SanitizedEvent, UnusableEvent, sanitize
from calgate.sanitize.wire import as_dict, as_str, parse_date, parse_local, parse_stamp

__all__ = ["OCCURRENCE", "SERIES", "SINGLE", "Seen", "read_change"]

SINGLE, SERIES, OCCURRENCE = "single", "series", "occurrence"


@dataclass(frozen=True, slots=True)
class Seen:
    """A changed item, understood. ``event`` is None for a cancelled instance that carries
    ids only."""

    event_id: str
    meeting_id: int | None
    kind: str
    series_event_id: str | None
    original_start: datetime | None
    cancelled: bool
    version: str | None
    updated: datetime | None
    event: SanitizedEvent | None = field(default=None, repr=False)


def _version(provider: str, raw: Mapping[str, Any]) -> str | None:
    value = raw.get("etag") if provider == "google" else raw.get("@odata.etag")
    return value[:255] if isinstance(value, str) and value else None


def _original_start(raw: Mapping[str, Any]) -> datetime | None:
    when = as_dict(raw.get("originalStartTime"))
    try:
        if as_str(when.get("dateTime")):
            return parse_local(as_str(when["dateTime"]), as_str(when.get("timeZone")), "original")
        if as_str(when.get("date")):
            return parse_date(as_str(when["date"]), "original")
    except UnusableEvent:
        return None
    return None


def read_change(
    provider: str, event_id: str, raw: Mapping[str, Any], platform: Platform
) -> Seen | None:
    """``raw`` through the SYNC allow-list; None when it is not a usable event."""
    version = _version(provider, raw)
    try:
        event = sanitize(provider, dict(raw), profile=Profile.SYNC, platform=platform)
    except UnusableEvent:
        # Google lists a cancelled occurrence of a series with its ids only.
        series = as_str(raw.get("recurringEventId"))[:1024]
        original = _original_start(raw)
        if raw.get("status") == "cancelled" and series and original is not None:
            return Seen(
                event_id,
                None,
                OCCURRENCE,
                series,
                original,
                True,
                version,
                parse_stamp(raw.get("updated")),
            )
        return None
    rec = event.recurrence
    if rec is not None and rec.series_id:
        kind, series_id, original = OCCURRENCE, rec.series_id, rec.original_start
    elif rec is not None and rec.rule:
        kind, series_id, original = SERIES, None, None
    else:
        kind, series_id, original = SINGLE, None, None
    return Seen(
        event_id=event.id,
        meeting_id=int(event.meeting_id) if event.meeting_id else None,
        kind=kind,
        series_event_id=series_id,
        original_start=original,
        cancelled=event.cancelled,
        version=version,
        updated=event.updated,
        event=event,
    )
