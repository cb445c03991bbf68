"""The meeting service as bi-directional sync will call it (reschedule, cancel, occurrence
updates — idempotent and version-checked) and the built-in registry underneath, on SQLite and
PostgreSQL; and loading another meeting provider."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from calgate.bootstrap import Runtime
from calgate.clock import FrozenClock
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import ConfigurationError, Conflict, InvalidInput
from calgate.meetings import BuiltinRegistry, ChangeSource, Meeting, MeetingProvider, load_provider
from calgate.meetings.model import JoinState, MeetingStatus
from calgate.meetings.service import VersionMismatch
from calgate.persistence.tables import MeetingRow

from support.settings import IsolatedSettings

OPERATOR = Principal(PrincipalKind.OPERATOR)
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 Berlin


@pytest.fixture
async def owner(runtime: Runtime, backend: str) -> Principal:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Acme")
        user = await runtime.tenancy.create_user(uow, OPERATOR, account.id, email="a@acme.example")
        await uow.commit()
    return Principal(PrincipalKind.USER, account_id=account.id, user_id=user.id)


async def schedule(runtime: Runtime, owner: Principal, **changes: Any) -> Meeting:
    fields: dict[str, Any] = {
        "subject": "Planning",
        "start_date": date(2026, 11, 24),
        "start_time": time(10, 0),
        "time_zone": "Europe/Berlin",
        "duration_minutes": 30,
        "recurring": False,
        "recurrence_rule": None,
        **changes,
    }
    async with runtime.uow() as uow:
        meeting = await runtime.meetings.schedule(uow, owner, fields)
        await uow.commit()
    return meeting


async def test_sync_moves_a_meeting_and_its_expiry_idempotently_R12(
    runtime: Runtime, owner: Principal, clock: FrozenClock
) -> None:
    meeting = await schedule(runtime, owner)
    assert owner.account_id is not None
    later = START + timedelta(days=45)
    async with runtime.uow() as uow:
        moved = await runtime.meetings.reschedule(
            uow, meeting.id, account_id=owner.account_id, start=later
        )
        await uow.commit()
    assert (moved.schedule.start, moved.expires_at, moved.version) == (
        later,
        later + timedelta(days=30),
        2,
    )
    async with runtime.uow() as uow:  # the same notification again: nothing changes
        again = await runtime.meetings.reschedule(
            uow, meeting.id, account_id=owner.account_id, start=later
        )
        await uow.commit()
        row = await uow.session.get(MeetingRow, meeting.id)
        assert row is not None
        assert row.updated_by == ChangeSource.SYNC.value
    assert again.version == 2
    clock.set(START + timedelta(days=31))  # expired at its old time, valid at its new one
    assert runtime.meetings.state_of(again) is JoinState.UPCOMING


async def test_out_of_order_changes_are_refused_by_version(
    runtime: Runtime, owner: Principal
) -> None:
    meeting = await schedule(runtime, owner)
    assert owner.account_id is not None
    async with runtime.uow() as uow:
        await runtime.meetings.reschedule(
            uow,
            meeting.id,
            account_id=owner.account_id,
            start=START + timedelta(hours=1),
            expected_version=1,
        )
        await uow.commit()
    async with runtime.uow() as uow:
        with pytest.raises(VersionMismatch) as stale:
            await runtime.meetings.reschedule(
                uow,
                meeting.id,
                account_id=owner.account_id,
                start=START + timedelta(hours=2),
                expected_version=1,
            )
    assert stale.value.current == 2


async def test_a_concurrent_change_loses_instead_of_overwriting(
    runtime: Runtime, owner: Principal
) -> None:
    meeting = await schedule(runtime, owner)
    registry = runtime.meetings.provider
    async with runtime.uow() as uow:
        await registry.cancel(uow, meeting, source=ChangeSource.API, now=START)
        await uow.commit()
    async with runtime.uow() as uow:  # a writer still holding version 1
        with pytest.raises(Conflict, match="changed meanwhile"):
            await registry.update(
                uow,
                meeting,
                topic="Other",
                schedule=meeting.schedule,
                expires_at=meeting.expires_at,
                source=ChangeSource.SYNC,
                now=START,
            )


async def test_sync_cancels_idempotently(runtime: Runtime, owner: Principal) -> None:
    meeting = await schedule(runtime, owner)
    assert owner.account_id is not None
    for _ in range(2):
        async with runtime.uow() as uow:
            cancelled = await runtime.meetings.cancel(uow, meeting.id, account_id=owner.account_id)
            await uow.commit()
        assert (cancelled.status, cancelled.version) == (MeetingStatus.CANCELLED, 2)
    async with runtime.uow() as uow:
        with pytest.raises(Conflict, match="cancelled"):
            await runtime.meetings.reschedule(
                uow, meeting.id, account_id=owner.account_id, start=START
            )


async def test_one_occurrence_of_a_series_moves_or_is_cancelled_R12(
    runtime: Runtime, owner: Principal
) -> None:
    series = await schedule(
        runtime, owner, recurring=True, recurrence_rule="FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    )
    assert owner.account_id is not None
    last = START + timedelta(weeks=3)
    assert series.expires_at == last + timedelta(days=30)
    moved_to = last + timedelta(days=45)

    async def occurrence(**kw: Any) -> Meeting:
        assert owner.account_id is not None
        async with runtime.uow() as uow:
            changed = await runtime.meetings.update_occurrence(
                uow, series.id, account_id=owner.account_id, **kw
            )
            await uow.commit()
        return changed

    moved = await occurrence(original_start=last, start=moved_to)
    assert moved.expires_at == moved_to + timedelta(days=30)
    assert moved.version == 2
    assert (await occurrence(original_start=last, start=moved_to)).version == 2  # repeated
    second = await occurrence(original_start=START + timedelta(weeks=1), cancelled=True)
    assert second.version == 3
    assert {(o.original_start, o.cancelled) for o in second.overrides} == {
        (last, False),
        (START + timedelta(weeks=1), True),
    }
    with pytest.raises(InvalidInput, match="no occurrence"):
        await occurrence(original_start=START + timedelta(days=1), cancelled=True)

    # moving the whole series drops its occurrence overrides and recomputes the expiry
    async with runtime.uow() as uow:
        shifted = await runtime.meetings.reschedule(
            uow, series.id, account_id=owner.account_id, start=START + timedelta(days=1)
        )
        await uow.commit()
    assert shifted.overrides == ()
    # starting on a Wednesday, the four Tuesdays are the next four: the last is 28 days on
    assert shifted.expires_at == START + timedelta(days=28) + timedelta(days=30)


async def test_occurrences_of_a_single_meeting_are_refused(
    runtime: Runtime, owner: Principal
) -> None:
    single = await schedule(runtime, owner)
    assert owner.account_id is not None
    async with runtime.uow() as uow:
        with pytest.raises(InvalidInput, match="not a series"):
            await runtime.meetings.update_occurrence(
                uow, single.id, account_id=owner.account_id, original_start=START, cancelled=True
            )


# providers -----------------------------------------------------------------------------------
class PlatformMeetings(BuiltinRegistry):
    """Stands in for a platform's own meeting API (it reuses the registry's storage)."""

    name = "platform"


class NotAProvider:
    def __init__(self, **_: Any) -> None:
        pass


async def test_providers_load_by_name_or_path(
    settings: IsolatedSettings, clock: FrozenClock
) -> None:
    async with httpx.AsyncClient() as http:
        _check_loading({"settings": settings, "clock": clock, "http": http})


def _check_loading(kw: dict[str, Any]) -> None:
    assert isinstance(load_provider("builtin", **kw), BuiltinRegistry)
    loaded = load_provider(f"{__name__}:PlatformMeetings", **kw)
    assert isinstance(loaded, MeetingProvider)
    assert loaded.name == "platform"
    for spec, needle in (
        (f"{__name__}:NotAProvider", "not a calgate.meetings.MeetingProvider"),
        ("calgate.nowhere:Thing", "cannot load"),
        ("zoom", "no 'calgate.meetings' entry point"),
    ):
        with pytest.raises(ConfigurationError, match=needle):
            load_provider(spec, **kw)
