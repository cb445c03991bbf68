"""Event writes as Google performs them (provider-protocols §5.1–§5.2): validation, server-set
fields, etags, sequence, series exceptions and tombstones. Used by the Calendar API routes and
by the control API ("as the user would"); every change bumps the calendar's sync state and
fires its push channels."""

from __future__ import annotations

import copy
import secrets
import string
from datetime import datetime
from typing import Any

from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.errors import ApiError, bad_request, not_found
from calgate.sandbox.google.recurrence import Series, instance_id, series_for
from calgate.sandbox.google.state import Calendar, StoredEvent, new_event_id, valid_event_id
from calgate.sandbox.google.times import EventTime, format_local, parse_event_time, stamp

__all__ = ["EventStore", "master_series", "synthesize_instance"]

_SERVER_FIELDS = (
    "kind",
    "etag",
    "id",
    "htmlLink",
    "created",
    "updated",
    "creator",
    "organizer",
    "sequence",
    "hangoutLink",
    "recurringEventId",
    "originalStartTime",
    "iCalUID",
)
_RESCHEDULE_FIELDS = ("start", "end", "recurrence", "location")


def _etag(seq: int) -> str:
    return f'"{3_180_000_000_000_000 + seq}"'


def _wire(value: EventTime, given_tz: str | None, cal_tz: str) -> dict[str, str]:
    if isinstance(value, datetime):
        out = {"dateTime": format_local(value, given_tz or cal_tz)}
        if given_tz:
            out["timeZone"] = given_tz
        return out
    return {"date": value.isoformat()}


def master_series(resource: dict[str, Any], cal_tz: str) -> Series:
    start = parse_event_time(resource["start"], cal_tz)
    end = parse_event_time(resource["end"], cal_tz)
    tz = resource["start"].get("timeZone") or cal_tz
    return series_for(list(resource["recurrence"]), start, end, tz)


def synthesize_instance(
    master: dict[str, Any], original: EventTime, start: EventTime, end: EventTime, cal_tz: str
) -> dict[str, Any]:
    """An unmodified instance of a series: the master's fields, its own id and times."""
    tz = master["start"].get("timeZone")
    out = {k: v for k, v in master.items() if k != "recurrence"}
    out["id"] = instance_id(master["id"], original)
    out["recurringEventId"] = master["id"]
    out["originalStartTime"] = _wire(original, tz, cal_tz)
    out["start"] = _wire(start, tz, cal_tz)
    out["end"] = _wire(end, master["end"].get("timeZone"), cal_tz)
    return out


def _meet_code() -> str:
    letters = string.ascii_lowercase
    return "-".join("".join(secrets.choice(letters) for _ in range(n)) for n in (3, 4, 3))


class EventStore:
    def __init__(self, ctx: GoogleContext, calendar: Calendar, actor: str | None) -> None:
        self.ctx = ctx
        self.cal = calendar
        self.actor = actor or calendar.owner or calendar.id

    # reading ------------------------------------------------------------------------------
    def get(self, event_id: str) -> dict[str, Any]:
        """A stored event (cancelled ones too), or an instance of a series by its id."""
        stored = self.cal.events.get(event_id)
        if stored is not None:
            return stored.resource
        found = self._instance(event_id)
        if found is None:
            raise not_found()
        return found

    def _instance(self, event_id: str) -> dict[str, Any] | None:
        master_id, sep, _ = event_id.rpartition("_")
        master = self.cal.events.get(master_id) if sep else None
        if master is None or "recurrence" not in master.resource or master.cancelled:
            return None
        series = master_series(master.resource, self.cal.time_zone)
        horizon = self.ctx.now() + self.ctx.settings.expansion_horizon
        for original, start, end in series.occurrences(None, horizon):
            if instance_id(master_id, original) == event_id:
                return synthesize_instance(
                    master.resource, original, start, end, self.cal.time_zone
                )
        return None

    # writing ------------------------------------------------------------------------------
    def _validated(self, body: dict[str, Any], conference_version: int) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("Parse Error", "parseError")
        for name in ("start", "end"):
            if not body.get(name):
                raise ApiError(400, "required", f"Missing {name} time.")
        try:
            start = parse_event_time(body["start"], self.cal.time_zone)
            end = parse_event_time(body["end"], self.cal.time_zone)
        except ValueError as exc:
            raise ApiError(400, "invalid", f"Invalid start or end time: {exc}") from exc
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise ApiError(
                400, "invalid", "Start and end times must either both be date or both be dateTime."
            )
        if end < start:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        out = {k: v for k, v in copy.deepcopy(body).items() if k not in _SERVER_FIELDS}
        out["start"] = _wire(start, body["start"].get("timeZone"), self.cal.time_zone)
        out["end"] = _wire(end, body["end"].get("timeZone"), self.cal.time_zone)
        if body.get("recurrence"):
            if isinstance(start, datetime) and not body["start"].get("timeZone"):
                raise ApiError(400, "required", "Missing time zone definition for start time.")
            try:
                master_series(out, self.cal.time_zone)
            except (ValueError, TypeError) as exc:
                raise ApiError(400, "invalid", "Invalid recurrence rule.") from exc
        if out.get("status", "confirmed") not in ("confirmed", "tentative", "cancelled"):
            raise ApiError(400, "invalid", "Invalid value for: status")
        out.setdefault("status", "confirmed")
        props = out.get("extendedProperties")
        if props is not None and not (
            isinstance(props, dict)
            and all(k in ("private", "shared") and isinstance(v, dict) for k, v in props.items())
        ):
            raise ApiError(400, "invalid", "Invalid value for: extendedProperties")
        attendees = out.get("attendees") or []
        for attendee in attendees:
            if not isinstance(attendee, dict) or not attendee.get("email"):
                raise ApiError(400, "required", "Missing attendee email.")
            attendee.setdefault("responseStatus", "needsAction")
            if attendee["email"].lower() == self.cal.id:
                attendee["self"] = True
        self._conference(out, conference_version)
        return out

    def _conference(self, out: dict[str, Any], version: int) -> None:
        """Writes to ``conferenceData`` need ``conferenceDataVersion=1`` (§5.2)."""
        data = out.get("conferenceData")
        if data is None:
            return
        if version < 1:
            del out["conferenceData"]
            return
        request = data.get("createRequest")
        if request and request.get("conferenceSolutionKey", {}).get("type") == "hangoutsMeet":
            code = _meet_code()
            data.update(
                conferenceId=code,
                conferenceSolution={
                    "key": {"type": "hangoutsMeet"},
                    "name": "Google Meet",
                    "iconUri": "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png",
                },
                entryPoints=[
                    {
                        "entryPointType": "video",
                        "uri": f"https://meet.google.com/{code}",
                        "label": f"meet.google.com/{code}",
                    }
                ],
            )
            request["status"] = {"statusCode": "success"}
            out["hangoutLink"] = f"https://meet.google.com/{code}"

    def _commit(self, resource: dict[str, Any]) -> dict[str, Any]:
        seq = self.ctx.state.next_seq()
        resource["etag"] = _etag(seq)
        resource["updated"] = stamp(self.ctx.now())
        self.cal.put(StoredEvent(resource, seq))
        self.ctx.on_change(self.cal.id)
        return resource

    def insert(self, body: dict[str, Any], *, conference_version: int = 0) -> dict[str, Any]:
        out = self._validated(body, conference_version)
        event_id = body.get("id") or new_event_id()
        if not isinstance(event_id, str) or not valid_event_id(event_id):
            raise ApiError(400, "invalid", "Invalid resource id value.")
        if event_id in self.cal.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        now = stamp(self.ctx.now())
        person = {"email": self.actor, "self": self.actor == self.cal.id}
        organizer = {"email": self.cal.id, "self": True}
        if self.cal.owner is None:
            organizer = {"email": self.cal.id, "displayName": self.cal.summary, "self": True}
        resource = {
            "kind": "calendar#event",
            "id": event_id,
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "creator": person,
            "organizer": organizer,
            "iCalUID": body.get("iCalUID") or f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
            **out,
        }
        for attendee in resource.get("attendees", []):
            if attendee["email"].lower() == self.cal.id:
                attendee["organizer"] = True
        self.ctx.count("events.insert.stored")
        return self._commit(resource)

    def _current(self, event_id: str, if_match: str | None) -> dict[str, Any]:
        current = self.get(event_id)
        if current.get("status") == "cancelled" and event_id in self.cal.events:
            raise ApiError(410, "deleted", "Resource has been deleted")
        if if_match and if_match != "*" and if_match != current.get("etag"):
            raise ApiError(412, "conditionNotMet", "Precondition Failed", location="If-Match")
        return current

    def replace(
        self, event_id: str, body: dict[str, Any], *, if_match: str | None, conference_version: int
    ) -> dict[str, Any]:
        """``PUT``: the body replaces every writable field."""
        current = self._current(event_id, if_match)
        if conference_version < 1 and "conferenceData" in current:
            body = {**body, "conferenceData": current["conferenceData"]}
            conference_version = 1
        out = self._validated(body, conference_version)
        return self._save(current, out)

    def patch(
        self, event_id: str, body: dict[str, Any], *, if_match: str | None, conference_version: int
    ) -> dict[str, Any]:
        """``PATCH``: objects merge, arrays and scalars replace, ``null`` clears."""
        current = self._current(event_id, if_match)
        if not isinstance(body, dict):
            raise bad_request("Parse Error", "parseError")
        writable = {k: v for k, v in current.items() if k not in _SERVER_FIELDS}
        merged = _merge(writable, body)
        if conference_version < 1:
            merged.pop("conferenceData", None)
        out = self._validated(merged, max(conference_version, 0))
        if conference_version < 1 and "conferenceData" in current:
            out["conferenceData"] = current["conferenceData"]
        return self._save(current, out)

    def _save(self, current: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        resource = {k: current[k] for k in _SERVER_FIELDS if k in current}
        resource.update(out)
        if "hangoutLink" in current and "hangoutLink" not in out:
            resource["hangoutLink"] = current["hangoutLink"]
        if any(current.get(k) != resource.get(k) for k in _RESCHEDULE_FIELDS):
            resource["sequence"] = int(current.get("sequence", 0)) + 1
        if "recurringEventId" in current:
            resource.pop("recurrence", None)
        self.ctx.count("events.write.stored")
        return self._commit(resource)

    def delete(self, event_id: str, *, if_match: str | None = None) -> None:
        current = self._current(event_id, if_match)
        tomb = dict(current, status="cancelled")
        self._commit(tomb)
        for exception_id in sorted(self.cal.exceptions.get(event_id, ())):
            stored = self.cal.events[exception_id]
            if not stored.cancelled:
                self._commit(dict(stored.resource, status="cancelled"))

    def move_in(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a fully formed resource (seeding)."""
        return self._commit(resource)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
