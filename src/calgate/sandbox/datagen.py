"""Deterministic seed data for the emulators, demos and benchmarks: N users × M events with
single, all-day and recurring events (weekly/daily/monthly series with moved and cancelled
occurrences), several time zones, attendees, room resources and online-meeting links.

Provider-neutral (:mod:`calgate.sandbox.model`); each emulator maps it to its wire format.
The same ``seed`` and ``start`` always give the same data::

    data = generate(users=3, events_per_user=20, seed=7, start=datetime(2026, 11, 23, tzinfo=UTC))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import TypedDict
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from calgate.sandbox.model import SeedAttendee, SeedEvent, SeedOccurrenceOverride, SeedUser

__all__ = ["DEFAULT_START", "Dataset", "generate"]

DEFAULT_START = datetime(2026, 11, 23, tzinfo=UTC)

_NAMES = (
    "Alice Anders", "Bob Brown", "Carol Clark", "Dave Dietrich", "Erin Evans", "Frank Fischer",
    "Grace Garcia", "Heidi Hoffmann", "Ivan Ivanov", "Judy Jensen", "Ken Kato", "Lena Lindqvist",
)  # fmt: skip
_ZONES = (
    "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "America/Los_Angeles",
    "Australia/Sydney", "Europe/London", "Asia/Kolkata",
)  # fmt: skip
_ROOMS = ("Boardroom", "Atlas", "Nimbus", "Harbor", "Summit", "Lagoon", "Orbit", "Canyon")
_TOPICS = (
    "Standup", "Planning", "Design review", "1:1", "Customer call", "Retro", "Budget sync",
    "Hiring panel", "Architecture", "Demo", "Roadmap", "Incident review", "Lunch & learn",
)  # fmt: skip
_TEAMS = ("Platform", "Mobile", "Sales", "Support", "Infra", "Data", "Design", "Marketing")
_PLACES = ("Floor 3 kitchen", "Café Central", "HQ lobby", "Remote", "Building B, 2nd floor")
_RULES = (
    "FREQ=WEEKLY;BYDAY={day}",
    "FREQ=WEEKLY;BYDAY={day};COUNT={count}",
    "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT={count}",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY={day}",
    "FREQ=MONTHLY;BYMONTHDAY={monthday};COUNT={count}",
    "FREQ=WEEKLY;BYDAY={day};UNTIL={until}",
)
_DAYS = ("MO", "TU", "WE", "TH", "FR")


@dataclass(frozen=True)
class Dataset:
    users: tuple[SeedUser, ...]
    rooms: tuple[SeedUser, ...]
    events: dict[str, list[SeedEvent]] = field(default_factory=dict)  # owner email -> events

    @property
    def total_events(self) -> int:
        return sum(len(v) for v in self.events.values())


def _user(i: int, domain: str) -> SeedUser:
    name = _NAMES[i] if i < len(_NAMES) else f"User {i:05d}"
    local = name.split()[0].lower() if i < len(_NAMES) else f"user{i:05d}"
    return SeedUser(f"{local}@{domain}", name, _ZONES[i % len(_ZONES)])


class _CommonFields(TypedDict):
    body: str
    location: str
    attendees: tuple[SeedAttendee, ...]
    online_meeting_url: str | None


@dataclass(frozen=True)
class _Common:
    body: str
    location: str
    attendees: tuple[SeedAttendee, ...]
    online_meeting_url: str | None

    def fields(self) -> _CommonFields:
        return _CommonFields(
            body=self.body,
            location=self.location,
            attendees=self.attendees,
            online_meeting_url=self.online_meeting_url,
        )


class _Maker:
    def __init__(self, rnd: random.Random, start: datetime, days: int, dataset: Dataset) -> None:
        self.rnd, self.start, self.days, self.data = rnd, start, days, dataset

    def _when(self, tz: str) -> datetime:
        day = self.start.astimezone(ZoneInfo(tz)).date() + timedelta(
            days=self.rnd.randrange(self.days)
        )
        hour = self.rnd.choice((8, 9, 9, 10, 11, 13, 14, 15, 16, 17))
        minute = self.rnd.choice((0, 0, 15, 30, 45))
        return datetime.combine(day, time(hour, minute), ZoneInfo(tz))

    def _attendees(self, owner: SeedUser) -> tuple[SeedAttendee, ...]:
        rnd = self.rnd
        others = [u for u in self.data.users if u.email != owner.email]
        picked = rnd.sample(others, k=min(len(others), rnd.randrange(0, 4)))
        out = [SeedAttendee(owner.email, owner.display_name, response="accepted")] if picked else []
        for u in picked:
            response = rnd.choice(("accepted", "accepted", "tentative", "declined", "needsAction"))
            out.append(SeedAttendee(u.email, u.display_name, response=response))
        if rnd.random() < 0.15:
            out.append(SeedAttendee(f"guest{rnd.randrange(100)}@partner.example.org", "Guest"))
        if self.data.rooms and rnd.random() < 0.3:
            room = rnd.choice(self.data.rooms)
            out.append(
                SeedAttendee(room.email, room.display_name, is_room=True, response="accepted")
            )
        return tuple(out)

    def event(self, owner: SeedUser, n: int) -> SeedEvent:
        rnd = self.rnd
        tz = owner.time_zone if rnd.random() < 0.7 else rnd.choice(_ZONES)
        subject = f"{rnd.choice(_TEAMS)} {rnd.choice(_TOPICS).lower()} #{n}"
        url = None
        if rnd.random() < 0.4:
            url = f"https://meet.example.com/j/{rnd.randrange(10**9, 10**10)}"
        common = _Common(
            body=rnd.choice(("", "", "Agenda: updates, blockers, next steps.", "Notes to follow.")),
            location=rnd.choice(("", "", "", *_PLACES)),
            attendees=self._attendees(owner),
            online_meeting_url=url,
        )
        kind = rnd.random()
        if kind < 0.1:
            first = self._when(tz).date()
            return SeedEvent(
                subject=f"{rnd.choice(('Offsite', 'Holiday', 'Conference', 'OOO'))} #{n}",
                start=first,
                end=first + timedelta(days=rnd.choice((1, 1, 2, 3))),
                time_zone=tz,
                **common.fields(),
            )
        start = self._when(tz)
        end = start + timedelta(minutes=rnd.choice((15, 30, 30, 45, 60, 60, 90)))
        if kind < 0.25:
            return self._series(subject, start, end, tz, common)
        return SeedEvent(subject=subject, start=start, end=end, time_zone=tz, **common.fields())

    def _series(
        self, subject: str, start: datetime, end: datetime, tz: str, common: _Common
    ) -> SeedEvent:
        rnd = self.rnd
        until = (start + timedelta(days=rnd.randrange(30, 120))).astimezone(UTC)
        rule = rnd.choice(_RULES).format(
            day=_DAYS[start.weekday()] if start.weekday() < 5 else "MO",
            count=rnd.randrange(4, 30),
            monthday=min(start.day, 28),
            until=f"{until:%Y%m%dT%H%M%SZ}",
        )
        occurrences = list(islice(rrulestr(rule, dtstart=start), 12))
        overrides: list[SeedOccurrenceOverride] = []
        for original in rnd.sample(
            occurrences[1:], k=min(len(occurrences) - 1, rnd.randrange(0, 3))
        ):
            if rnd.random() < 0.5:
                overrides.append(SeedOccurrenceOverride(original, cancelled=True))
            else:
                shift = timedelta(hours=rnd.choice((1, 2, -1, 24)))
                overrides.append(
                    SeedOccurrenceOverride(
                        original,
                        start=original + shift,
                        end=original + shift + (end - start),
                        subject=f"{subject} (moved)" if rnd.random() < 0.5 else None,
                    )
                )
        overrides.sort(key=lambda o: o.original_start)
        return SeedEvent(
            subject=subject,
            start=start,
            end=end,
            time_zone=tz,
            rrule=rule,
            overrides=tuple(overrides),
            **common.fields(),
        )


def generate(
    users: int = 3,
    events_per_user: int = 10,
    *,
    seed: int = 0,
    start: datetime | date = DEFAULT_START,
    days: int = 28,
    rooms: int = 3,
    domain: str = "example.com",
    room_domain: str = "resource.example.com",
) -> Dataset:
    """``users`` × ``events_per_user`` events starting within ``days`` of ``start``."""
    if not isinstance(start, datetime):
        start = datetime.combine(start, time(), UTC)
    rnd = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    people = tuple(_user(i, domain) for i in range(users))
    halls = tuple(
        SeedUser(
            f"room-{_ROOMS[i % len(_ROOMS)].lower()}{'' if i < len(_ROOMS) else i}@{room_domain}",
            f"{_ROOMS[i % len(_ROOMS)]}{'' if i < len(_ROOMS) else f' {i}'} (room)",
            people[0].time_zone if people else "UTC",
        )
        for i in range(rooms)
    )
    data = Dataset(people, halls, {})
    maker = _Maker(rnd, start, days, data)
    for owner in people:
        data.events[owner.email] = [maker.event(owner, n) for n in range(events_per_user)]
    return data
