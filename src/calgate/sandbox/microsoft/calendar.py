"""A mailbox's calendar with Outlook semantics: create/update/delete of single events and
series masters, exceptions and cancelled occurrences, and expansion into instances.

provider-protocols §2.3: ``/events`` lists singleInstance + seriesMaster; ``/calendarView``
lists singleInstance, occurrence and exception items (never the master).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calgate.sandbox.core import SandboxClock
from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.recurrence import expand, validate_recurrence
from calgate.sandbox.microsoft.state import (
    EmulatorSettings,
    StoredEvent,
    User,
    new_change_key,
    new_guid,
    new_item_id,
)
from calgate.sandbox.microsoft.timezones import parse_datetime_timezone

__all__ = ["Calendar", "ChangeListener", "Instance", "graph_timestamp"]

ChangeListener = Callable[[User, StoredEvent, str], None]  # (mailbox, event, changeType)

_OCCURRENCE = re.compile(r"^(?P<master>.+=)(?P<key>\d{8}T\d{6})$")
_READ_ONLY = {
    "id",
    "@odata.etag",
    "@odata.context",
    "changeKey",
    "createdDateTime",
    "lastModifiedDateTime",
    "type",
    "seriesMasterId",
    "iCalUId",
    "originalStart",
    "webLink",
    "onlineMeeting",
    "singleValueExtendedProperties",
    "responseStatus",
    "isOrganizer",
    "bodyPreview",
}
_OVERRIDABLE = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "showAs",
    "sensitivity",
    "importance",
    "categories",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "isAllDay",
}
_ZERO_TIME = "0001-01-01T00:00:00Z"


def graph_timestamp(value: datetime) -> str:
    """``2024-05-01T10:00:00.1234567Z``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def _key(wall: datetime) -> str:
    return wall.strftime("%Y%m%dT%H%M%S")


def wall_from_key(key: str) -> datetime:
    return datetime.strptime(key, "%Y%m%dT%H%M%S")  # noqa: DTZ007 - a naive wall time


@dataclass
class Instance:
    """One item as a list or view shows it."""

    event: StoredEvent
    kind: str  # singleInstance | occurrence | exception | seriesMaster
    start: datetime  # naive wall time in ``zone``
    end: datetime
    zone: ZoneInfo
    all_day: bool
    key: str | None = None  # the occurrence's original start, for occurrences/exceptions
    overrides: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.event.id if self.key is None else f"{self.event.id}{self.key}"

    @property
    def start_utc(self) -> datetime:
        return self.start.replace(tzinfo=self.zone).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.replace(tzinfo=self.zone).astimezone(UTC)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        s, e = self.start_utc, self.end_utc
        return s < end and (e > start or (s == e and s >= start))


def _times(data: dict[str, Any]) -> tuple[datetime, datetime, ZoneInfo]:
    try:
        start, zone, _ = parse_datetime_timezone(data.get("start"))
        end, end_zone, _ = parse_datetime_timezone(data.get("end"))
    except ValueError as exc:
        raise GraphError.bad_request(f"Invalid start or end: {exc}") from exc
    end = end.replace(tzinfo=end_zone).astimezone(zone).replace(tzinfo=None)
    return start, end, zone


class Calendar:
    """Event operations on one emulator's mailboxes; ``listener`` hears every change."""

    def __init__(
        self, clock: SandboxClock, settings: EmulatorSettings, listener: ChangeListener
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.listener = listener

    # ---- writes -----------------------------------------------------------------------
    def create(
        self,
        user: User,
        body: dict[str, Any],
        *,
        organizer: dict[str, Any] | None = None,
        online_meeting: dict[str, Any] | None = None,
    ) -> StoredEvent:
        """A new event as the mailbox owner (or ``organizer``) would make it; ``online_meeting``
        attaches a third-party meeting (provider ``unknown``) the way an add-in would."""
        data = self._validated(body, creating=True)
        now = self.clock.now()
        event_id = new_item_id()
        props = self._properties(body.get("singleValueExtendedProperties"), {})
        _, _, zone_name = parse_datetime_timezone(data["start"])
        data.update(
            id=event_id,
            createdDateTime=graph_timestamp(now),
            lastModifiedDateTime=graph_timestamp(now),
            changeKey=new_change_key(),
            iCalUId="040000008200E00074C5B7101A82E008"
            + hashlib.sha256(event_id.encode()).hexdigest()[:48].upper(),
            originalStartTimeZone=zone_name,
            originalEndTimeZone=data["end"].get("timeZone") or zone_name,
            webLink=f"https://outlook.office365.com/owa/?itemid={event_id}&exvsurl=1&path=/calendar/item",
            responseStatus={"response": "organizer", "time": _ZERO_TIME},
        )
        owner = {"emailAddress": {"name": user.display_name, "address": user.upn}}
        data["organizer"] = organizer or data.get("organizer") or owner
        data["isOrganizer"] = (
            data["organizer"]["emailAddress"]["address"].lower() == user.upn.lower()
        )
        for name, default in _DEFAULTS.items():
            data.setdefault(name, copy.deepcopy(default))
        if online_meeting is not None:
            data.update(
                isOnlineMeeting=True,
                onlineMeetingProvider="unknown",
                onlineMeeting=copy.deepcopy(online_meeting),
            )
        elif data.get("isOnlineMeeting"):
            if data.get("onlineMeetingProvider") in (None, "unknown"):
                data["onlineMeetingProvider"] = "teamsForBusiness"
            if data["onlineMeetingProvider"] == "teamsForBusiness":
                data["onlineMeeting"] = _teams_meeting()
        if user.is_room and self.settings.room_delete_subject and not data["isOrganizer"]:
            data["subject"] = data["organizer"]["emailAddress"].get("name") or ""
            data["body"] = {"contentType": "html", "content": ""}
        data["bodyPreview"] = _preview(data)
        event = StoredEvent(event_id, data, props)
        user.events[event_id] = event
        self._changed(user, event, "created")
        return event

    def update(
        self, user: User, item_id: str, body: dict[str, Any], if_match: str | None = None
    ) -> Instance:
        event, key = self._locate(user, item_id)
        self._check_etag(event, if_match)
        if key is not None:
            instance = self._instance_for_key(event, key)
            changes = {k: v for k, v in body.items() if k in _OVERRIDABLE}
            if {"start", "end"} & changes.keys():
                probe = {
                    "start": changes.get("start") or self._dtz(instance, "start"),
                    "end": changes.get("end") or self._dtz(instance, "end"),
                }
                _times(probe)
            event.exceptions.setdefault(key, {}).update(copy.deepcopy(changes))
        else:
            data = self._validated({**event.data, **body}, creating=False)
            if "recurrence" in body or ({"start", "end"} & body.keys() and data.get("recurrence")):
                event.exceptions.clear()
                event.cancelled.clear()
            for name in body:
                if name not in _READ_ONLY and name in data:
                    event.data[name] = data[name]
            if body.get("isOnlineMeeting") and not event.data.get("onlineMeeting"):
                if event.data.get("onlineMeetingProvider") in (None, "unknown"):
                    event.data["onlineMeetingProvider"] = "teamsForBusiness"
                event.data["onlineMeeting"] = _teams_meeting()
            event.properties = self._properties(
                body.get("singleValueExtendedProperties"), event.properties
            )
            event.data["bodyPreview"] = _preview(event.data)
        self._touch(event)
        self._changed(user, event, "updated")
        return self.get(user, item_id)

    def delete(self, user: User, item_id: str, if_match: str | None = None) -> None:
        event, key = self._locate(user, item_id)
        self._check_etag(event, if_match)
        if key is not None:
            event.cancelled.add(key)
            event.exceptions.pop(key, None)
            self._touch(event)
            self._changed(user, event, "updated")
            return
        event.deleted = True
        self._changed(user, event, "deleted")

    # ---- reads ------------------------------------------------------------------------
    def get(self, user: User, item_id: str) -> Instance:
        event, key = self._locate(user, item_id)
        if key is None:
            return self._master_instance(event)
        return self._instance_for_key(event, key)

    def masters(self, user: User) -> list[Instance]:
        found = [self._master_instance(e) for e in user.events.values() if not e.deleted]
        return sorted(found, key=lambda i: (i.start_utc, i.id))

    def view(self, user: User, start: datetime, end: datetime) -> list[Instance]:
        found: list[Instance] = []
        for event in user.events.values():
            if not event.deleted:
                found.extend(self.instances_of(event, start, end))
        return sorted(found, key=lambda i: (i.start_utc, i.id))

    def instances_of(self, event: StoredEvent, start: datetime, end: datetime) -> list[Instance]:
        """``event``'s items overlapping [start, end) (the event itself if not recurring)."""
        master = self._master_instance(event)
        rec = event.data.get("recurrence")
        if not rec:
            return [master] if master.overlaps(start, end) else []
        zone, duration = master.zone, master.end - master.start
        lo = start.astimezone(zone).replace(tzinfo=None) - duration - timedelta(days=1)
        hi = end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        found = []
        for wall in expand(rec, master.start, lo, hi):
            key = _key(wall)
            if key in event.cancelled or key in event.exceptions:
                continue
            inst = Instance(event, "occurrence", wall, wall + duration, zone, master.all_day, key)
            if inst.overlaps(start, end):
                found.append(inst)
        for key in event.exceptions:
            if key not in event.cancelled:
                inst = self._instance_for_key(event, key)
                if inst.overlaps(start, end):
                    found.append(inst)
        return found

    # ---- helpers ----------------------------------------------------------------------
    def _locate(self, user: User, item_id: str) -> tuple[StoredEvent, str | None]:
        event = user.events.get(item_id)
        if event is not None and not event.deleted:
            return event, None
        m = _OCCURRENCE.match(item_id)
        if m:
            event = user.events.get(m["master"])
            if event is not None and not event.deleted and event.data.get("recurrence"):
                key = m["key"]
                if key not in event.cancelled and self._is_occurrence(event, key):
                    return event, key
        raise GraphError.not_found()

    def _is_occurrence(self, event: StoredEvent, key: str) -> bool:
        if key in event.exceptions:
            return True
        wall = wall_from_key(key)
        master = self._master_instance(event)
        return wall in expand(event.data["recurrence"], master.start, wall, wall)

    def _master_instance(self, event: StoredEvent) -> Instance:
        start, end, zone = _times(event.data)
        kind = "seriesMaster" if event.data.get("recurrence") else "singleInstance"
        return Instance(event, kind, start, end, zone, bool(event.data.get("isAllDay")))

    def _instance_for_key(self, event: StoredEvent, key: str) -> Instance:
        master = self._master_instance(event)
        wall = wall_from_key(key)
        start, end, zone = wall, wall + (master.end - master.start), master.zone
        over = event.exceptions.get(key)
        if over and ("start" in over or "end" in over):
            s, e, z = _times(
                {
                    "start": over.get("start") or self._dtz_wall(start, zone),
                    "end": over.get("end") or self._dtz_wall(end, zone),
                }
            )
            start, end = (
                s.replace(tzinfo=z).astimezone(zone).replace(tzinfo=None),
                e.replace(tzinfo=z).astimezone(zone).replace(tzinfo=None),
            )
        kind = "exception" if over else "occurrence"
        return Instance(event, kind, start, end, zone, master.all_day, key, over)

    @staticmethod
    def _dtz_wall(wall: datetime, zone: ZoneInfo) -> dict[str, str]:
        return {"dateTime": wall.isoformat(), "timeZone": zone.key}

    def _dtz(self, inst: Instance, which: str) -> dict[str, str]:
        return self._dtz_wall(inst.start if which == "start" else inst.end, inst.zone)

    def _validated(self, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError.bad_request("The request body must be a JSON object.")
        data = {k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY}
        if "start" not in data or "end" not in data:
            raise GraphError.bad_request("An event needs start and end.")
        start, end, _ = _times(data)
        if end < start:
            raise GraphError.bad_request("The end time must be after the start time.")
        if data.get("isAllDay") and (
            start.time() != time() or end.time() != time() or end == start
        ):
            raise GraphError.bad_request(
                "An all-day event must start and end at midnight and last at least one day."
            )
        if not isinstance(data.get("subject", ""), str):
            raise GraphError.bad_request("subject must be a string.")
        if data.get("recurrence"):
            try:
                validate_recurrence(data["recurrence"])
            except (ValueError, KeyError, TypeError) as exc:
                raise GraphError.bad_request(f"Invalid recurrence: {exc}") from exc
        if "location" in data and isinstance(data["location"], dict):
            data["locations"] = [data["location"]] if data["location"].get("displayName") else []
        for attendee in data.get("attendees") or []:
            if not isinstance(attendee, dict) or "emailAddress" not in attendee:
                raise GraphError.bad_request("Each attendee needs an emailAddress.")
            attendee.setdefault("type", "required")
            attendee.setdefault("status", {"response": "none", "time": _ZERO_TIME})
        if isinstance(data.get("body"), dict):
            data["body"].setdefault("contentType", "text")
        return data

    @staticmethod
    def _properties(value: Any, current: dict[str, str]) -> dict[str, str]:
        merged = dict(current)
        if value is None:
            return merged
        if not isinstance(value, list):
            raise GraphError.bad_request("singleValueExtendedProperties must be an array.")
        for prop in value:
            if not isinstance(prop, dict) or not isinstance(prop.get("id"), str):
                raise GraphError.bad_request("An extended property needs an id and a value.")
            merged[prop["id"]] = str(prop.get("value", ""))
        return merged

    @staticmethod
    def _check_etag(event: StoredEvent, if_match: str | None) -> None:
        if if_match and if_match != "*" and if_match != f'W/"{event.data["changeKey"]}"':
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the "
                "change key passed in the request does not match the current change "
                "key for the item.",
            )

    def _touch(self, event: StoredEvent) -> None:
        event.data["changeKey"] = new_change_key()
        event.data["lastModifiedDateTime"] = graph_timestamp(self.clock.now())

    def _changed(self, user: User, event: StoredEvent, change_type: str) -> None:
        event.seq = user.bump()
        self.listener(user, event, change_type)


_DEFAULTS: dict[str, Any] = {
    "subject": "",
    "body": {"contentType": "html", "content": ""},
    "categories": [],
    "importance": "normal",
    "sensitivity": "normal",
    "showAs": "busy",
    "isAllDay": False,
    "isCancelled": False,
    "isDraft": False,
    "isReminderOn": True,
    "reminderMinutesBeforeStart": 15,
    "hasAttachments": False,
    "hideAttendees": False,
    "responseRequested": True,
    "allowNewTimeProposals": True,
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "onlineMeeting": None,
    "onlineMeetingUrl": None,
    "recurrence": None,
    "attendees": [],
    "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
    "locations": [],
    "transactionId": None,
}


def _preview(data: dict[str, Any]) -> str:
    content = str((data.get("body") or {}).get("content") or "")
    return re.sub(r"<[^>]+>", " ", content).strip()[:255]


def _teams_meeting() -> dict[str, Any]:
    thread = new_guid().replace("-", "")
    return {
        "joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0",
        "conferenceId": str(int(thread[:8], 16)),
        "tollNumber": None,
        "tollFreeNumbers": [],
        "phones": [],
        "quickDial": None,
    }
