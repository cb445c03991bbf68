"""Scheduling use cases (R11, R12): schedule, read, change and cancel meetings, for the
scheduling API now and for bi-directional sync later.

Callers are users (a session, an Outlook add-in's token, an Exchange identity token — all
become a user principal); a meeting belongs to its owner, and another user's or another
tenant's meeting is simply *not found*. Sync calls :meth:`MeetingService.reschedule`,
:meth:`MeetingService.cancel` and :meth:`MeetingService.update_occurrence` with
``source=ChangeSource.SYNC``; they are idempotent (repeating a change changes nothing and
keeps the version) and take ``expected_version`` for ordering.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calgate.clock import Clock
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Conflict, Forbidden, InvalidInput, NotFound
from calgate.meetings.model import (
    ChangeSource,
    JoinState,
    Meeting,
    MeetingStatus,
    NewMeeting,
    OccurrenceOverride,
    Schedule,
)
from calgate.meetings.provider import Cursor, ListState, MeetingProvider
from calgate.meetings.recurrence import expand, normalise_rule
from calgate.meetings.rules import Occurrence, compute_expiry, join_state, next_occurrence
from calgate.meetings.zones import local_to_utc, resolve_time_zone
from calgate.persistence.uow import SqlUnitOfWork
from calgate.services.tenancy import require_account_admin

__all__ = [
    "FIELDS",
    "JoinView",
    "MeetingService",
    "VersionMismatch",
    "decode_cursor",
    "encode_cursor",
]

log = logging.getLogger(__name__)

FIELDS = (
    "subject",
    "start_date",
    "start_time",
    "time_zone",
    "duration_minutes",
    "recurring",
    "recurrence_rule",
)
"""R11: everything a scheduling tool may submit. Nothing else is accepted or stored."""

_UNSET: Any = object()


class VersionMismatch(Conflict):
    """The caller named a version (``If-Match``) the meeting is no longer at."""

    def __init__(self, detail: str, *, current: int) -> None:
        super().__init__(detail)
        self.current = current


@dataclass(frozen=True, slots=True)
class JoinView:
    """What the public join page may show about a meeting."""

    meeting_id: int
    state: JoinState
    schedule: Schedule
    expires_at: datetime | None
    next: Occurrence | None
    topic: str | None
    client_url: str | None


def encode_cursor(meeting: Meeting) -> str:
    raw = f"{meeting.schedule.start.isoformat()}|{meeting.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        start, _, meeting_id = raw.partition("|")
        when = datetime.fromisoformat(start)
        if when.tzinfo is None:
            raise ValueError(start)
        return when.astimezone(UTC), int(meeting_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput("not a cursor from a previous page", field="after") from None


def _owner(principal: Principal) -> tuple[uuid.UUID, uuid.UUID]:
    if (
        principal.kind is not PrincipalKind.USER
        or not principal.account_id
        or not principal.user_id
    ):
        raise Forbidden(
            "meetings are scheduled by users: use a session token, an Outlook add-in's Entra "
            "ID token or an Exchange identity token"
        )
    return principal.account_id, principal.user_id


class MeetingService:
    def __init__(
        self,
        *,
        provider: MeetingProvider,
        clock: Clock,
        join_early: timedelta,
        client_url: str,
        show_topic: bool,
    ) -> None:
        self.provider = provider
        self._clock = clock
        self._join_early = join_early
        self._client_url = client_url
        self._show_topic = show_topic

    # the scheduling API ---------------------------------------------------------------------
    async def schedule(
        self, uow: SqlUnitOfWork, principal: Principal, fields: Mapping[str, Any]
    ) -> Meeting:
        """Create a meeting from the R11 ``fields`` (already type-checked by the API)."""
        account_id, owner_id = _owner(principal)
        schedule = await self._build(
            start_date=fields["start_date"],
            start_time=fields["start_time"],
            time_zone=fields["time_zone"],
            duration_minutes=fields["duration_minutes"],
            recurring=fields["recurring"],
            rule=fields.get("recurrence_rule"),
        )
        now = self._clock.now()
        meeting = await self.provider.create(
            uow,
            NewMeeting(
                account_id=account_id,
                owner_id=owner_id,
                topic=fields["subject"],
                schedule=schedule,
                expires_at=compute_expiry(schedule),
                now=now,
            ),
        )
        log.info("meeting %s scheduled in account %s", meeting.id, account_id)
        return meeting

    async def get_own(self, uow: SqlUnitOfWork, principal: Principal, meeting_id: int) -> Meeting:
        account_id, owner_id = _owner(principal)
        meeting = await self.provider.get(uow, meeting_id, account_id=account_id)
        if meeting is None or meeting.owner_id != owner_id:
            raise NotFound(f"meeting {meeting_id} not found")
        return meeting

    async def list_own(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        *,
        state: ListState | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Sequence[Meeting]:
        account_id, owner_id = _owner(principal)
        return await self.provider.list(
            uow,
            account_id,
            owner_id=owner_id,
            now=self._clock.now(),
            state=state,
            after=decode_cursor(after) if after else None,
            limit=limit,
        )

    async def list_for_admin(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        owner_id: uuid.UUID | None = None,
        state: ListState | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Sequence[Meeting]:
        require_account_admin(principal, account_id)
        if await uow.accounts.get(account_id) is None:
            raise NotFound(f"account {account_id} not found")
        return await self.provider.list(
            uow,
            account_id,
            owner_id=owner_id,
            now=self._clock.now(),
            state=state,
            after=decode_cursor(after) if after else None,
            limit=limit,
        )

    async def change(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        meeting_id: int,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> Meeting:
        """PATCH: the given R11 fields replace the meeting's (wall time and zone are read
        together, so changing only the zone keeps the wall-clock time)."""
        meeting = await self.get_own(uow, principal, meeting_id)
        self._check_version(meeting, expected_version)
        if meeting.status is MeetingStatus.CANCELLED:
            raise Conflict(f"meeting {meeting_id} is cancelled; schedule a new one")
        old = meeting.schedule
        local = old.local_start
        recurring = changes.get("recurring", old.recurring)
        rule = changes.get("recurrence_rule", _UNSET)
        if rule is _UNSET:
            rule = old.rule if recurring else None
        schedule = await self._build(
            start_date=changes.get("start_date", local.date()),
            start_time=changes.get("start_time", local.time()),
            time_zone=changes.get("time_zone", old.time_zone),
            duration_minutes=changes.get("duration_minutes", old.duration_minutes),
            recurring=recurring,
            rule=rule,
        )
        return await self._apply(
            uow,
            meeting,
            topic=changes.get("subject", meeting.topic),
            schedule=schedule,
            source=ChangeSource.API,
        )

    async def cancel_own(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        meeting_id: int,
        *,
        expected_version: int | None = None,
    ) -> Meeting:
        meeting = await self.get_own(uow, principal, meeting_id)
        self._check_version(meeting, expected_version)
        return await self._cancel(uow, meeting, ChangeSource.API)

    # for bi-directional sync (and other trusted callers) ------------------------------------
    async def reschedule(
        self,
        uow: SqlUnitOfWork,
        meeting_id: int,
        *,
        account_id: uuid.UUID,
        start: datetime,
        duration_minutes: int | None = None,
        time_zone: str | None = None,
        recurrence_rule: str | None = _UNSET,
        source: ChangeSource = ChangeSource.SYNC,
        expected_version: int | None = None,
    ) -> Meeting:
        """Move a meeting (or a whole series) to ``start`` (aware); the expiry follows (R12).
        Repeating the same move changes nothing."""
        meeting = await self._get(uow, meeting_id, account_id)
        self._check_version(meeting, expected_version)
        if meeting.status is MeetingStatus.CANCELLED:
            raise Conflict(f"meeting {meeting_id} is cancelled")
        old = meeting.schedule
        zone = resolve_time_zone(time_zone) if time_zone else old.time_zone
        local = start.astimezone(ZoneInfo(zone))
        rule = old.rule if recurrence_rule is _UNSET else recurrence_rule
        schedule = await self._build(
            start_date=local.date(),
            start_time=local.time(),
            time_zone=zone,
            duration_minutes=duration_minutes or old.duration_minutes,
            recurring=rule is not None,
            rule=rule,
        )
        return await self._apply(
            uow, meeting, topic=meeting.topic, schedule=schedule, source=source
        )

    async def cancel(
        self,
        uow: SqlUnitOfWork,
        meeting_id: int,
        *,
        account_id: uuid.UUID,
        source: ChangeSource = ChangeSource.SYNC,
        expected_version: int | None = None,
    ) -> Meeting:
        """Cancel (idempotent: an already cancelled meeting stays as it is)."""
        meeting = await self._get(uow, meeting_id, account_id)
        self._check_version(meeting, expected_version)
        return await self._cancel(uow, meeting, source)

    async def update_occurrence(
        self,
        uow: SqlUnitOfWork,
        meeting_id: int,
        *,
        account_id: uuid.UUID,
        original_start: datetime,
        start: datetime | None = None,
        duration_minutes: int | None = None,
        cancelled: bool = False,
        source: ChangeSource = ChangeSource.SYNC,
        expected_version: int | None = None,
    ) -> Meeting:
        """Move or cancel one occurrence of a series, named by its original start."""
        meeting = await self._get(uow, meeting_id, account_id)
        self._check_version(meeting, expected_version)
        if meeting.status is MeetingStatus.CANCELLED:
            raise Conflict(f"meeting {meeting_id} is cancelled")
        schedule = meeting.schedule
        if schedule.rule is None:
            raise InvalidInput(f"meeting {meeting_id} is not a series", field="original_start")
        original = original_start.astimezone(UTC)
        in_series = any(
            o == original
            for o in expand(
                schedule.rule, start=schedule.start, time_zone=schedule.time_zone, until=original
            )
        )
        if not in_series:
            raise InvalidInput(
                "no occurrence of the series starts at original_start", field="original_start"
            )
        override = OccurrenceOverride(
            original_start=original,
            start=start.astimezone(UTC) if start is not None else None,
            duration_minutes=duration_minutes,
            cancelled=cancelled,
        )
        current = {o.original_start: o for o in meeting.overrides}
        if current.get(original) == override:
            return meeting
        current[original] = override
        expires_at = compute_expiry(schedule, current.values())
        return await self.provider.set_occurrence(
            uow, meeting, override, expires_at=expires_at, source=source, now=self._clock.now()
        )

    # the public join page -------------------------------------------------------------------
    async def join_view(self, uow: SqlUnitOfWork, meeting_id: int) -> JoinView | None:
        meeting = await self.provider.get(uow, meeting_id, account_id=None)
        if meeting is None:
            return None
        now = self._clock.now()
        state = join_state(meeting, now, join_early=self._join_early)
        live = state in {JoinState.VALID, JoinState.UPCOMING}
        return JoinView(
            meeting_id=meeting.id,
            state=state,
            schedule=meeting.schedule,
            expires_at=meeting.expires_at,
            next=next_occurrence(meeting.schedule, meeting.overrides, now) if live else None,
            topic=meeting.topic if self._show_topic else None,
            client_url=(
                self._client_url.replace("{meeting_id}", str(meeting.id))
                if state is JoinState.VALID
                else None
            ),
        )

    def state_of(self, meeting: Meeting) -> JoinState:
        return join_state(meeting, self._clock.now(), join_early=self._join_early)

    # internals ------------------------------------------------------------------------------
    @staticmethod
    async def _build(
        *,
        start_date: date,
        start_time: time,
        time_zone: str,
        duration_minutes: int,
        recurring: bool,
        rule: str | None,
    ) -> Schedule:
        zone = resolve_time_zone(time_zone)
        start = local_to_utc(start_date, start_time, zone)
        if recurring and not rule:
            raise InvalidInput(
                "recurrence_rule is required when recurring is true", field="recurrence_rule"
            )
        if not recurring and rule:
            raise InvalidInput(
                "recurrence_rule is only accepted when recurring is true", field="recurrence_rule"
            )
        normalised = None
        if rule:
            # Validation expands the rule (bounded, but up to a second of CPU for a rule that
            # never matches): off the event loop.
            normalised = await asyncio.to_thread(
                functools.partial(normalise_rule, rule, start=start, time_zone=zone)
            )
        return Schedule(start, zone, duration_minutes, normalised)

    async def _get(self, uow: SqlUnitOfWork, meeting_id: int, account_id: uuid.UUID) -> Meeting:
        meeting = await self.provider.get(uow, meeting_id, account_id=account_id)
        if meeting is None:
            raise NotFound(f"meeting {meeting_id} not found")
        return meeting

    @staticmethod
    def _check_version(meeting: Meeting, expected: int | None) -> None:
        if expected is not None and expected != meeting.version:
            raise VersionMismatch(
                f"meeting {meeting.id} is at version {meeting.version}, not {expected}; "
                "read it again",
                current=meeting.version,
            )

    async def _apply(
        self,
        uow: SqlUnitOfWork,
        meeting: Meeting,
        *,
        topic: str,
        schedule: Schedule,
        source: ChangeSource,
    ) -> Meeting:
        if schedule == meeting.schedule and topic == meeting.topic:
            return meeting  # nothing changes: same version (sync repeats are harmless)
        overrides = meeting.overrides
        if schedule.rule != meeting.schedule.rule or schedule.start != meeting.schedule.start:
            overrides = ()
        changed = await self.provider.update(
            uow,
            meeting,
            topic=topic,
            schedule=schedule,
            expires_at=compute_expiry(schedule, overrides),
            source=source,
            now=self._clock.now(),
        )
        log.info("meeting %s rescheduled (%s)", meeting.id, source.value)
        return changed

    async def _cancel(self, uow: SqlUnitOfWork, meeting: Meeting, source: ChangeSource) -> Meeting:
        if meeting.status is MeetingStatus.CANCELLED:
            return meeting
        cancelled = await self.provider.cancel(uow, meeting, source=source, now=self._clock.now())
        log.info("meeting %s cancelled (%s)", meeting.id, source.value)
        return cancelled
