"""The one contract every `CalendarConnector` passes (vdirsyncer's ``StorageTests``).

A test module subclasses `ConnectorContract` and provides the fixtures ``connector``,
``grant`` (a `TokenGrant` obtained through the connector's own OAuth code exchange),
``account_email``, ``calendar_id``, ``window`` (a ``(start, end)`` tuple with room for test
events) and ``expire_sync_tokens`` (an async callable that makes the provider forget every
sync token). Optional abilities are skipped by their `Capability` flag.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from calgate.connectors.base import CalendarConnector, Capability, TokenGrant
from calgate.connectors.errors import (
    AuthExpired,
    InvalidGrant,
    NotFound,
    SyncTokenExpired,
    WrongEtag,
)
from calgate.domain.calendar import Attendee, Event, ItemRef, When
from calgate.domain.policy import Access, ContactsAccess
from calgate.vault.base import Secret


def _event(start: datetime, summary: str = "Contract test", **extra: object) -> Event:
    return Event(
        summary=summary,
        start=When(at=start, time_zone="Europe/Berlin"),
        end=When(at=start + timedelta(minutes=45), time_zone="Europe/Berlin"),
        **extra,  # type: ignore[arg-type]
    )


def _needs(connector: CalendarConnector, flag: Capability) -> None:
    if not connector.capabilities & flag:
        pytest.skip(f"{connector.provider} lacks {flag.name}")


class ConnectorContract:
    # OAuth ---------------------------------------------------------------------------------
    async def test_code_exchange_gives_a_usable_grant(self, connector, grant, account_email):
        assert grant.refresh_token is not None
        assert grant.expires_in > 0
        assert connector.permissions(grant.scopes).calendar is Access.READ_WRITE
        identity = await connector.identify(grant)
        assert identity.email == account_email
        assert identity.subject

    async def test_refresh_gives_a_new_access_token(self, connector, grant):
        assert grant.refresh_token is not None
        fresh = await connector.refresh(grant.refresh_token)
        assert fresh.access_token != grant.access_token
        assert fresh.expires_in > 0
        if connector.capabilities & Capability.ROTATES_REFRESH:
            assert fresh.refresh_token is not None
            assert fresh.refresh_token != grant.refresh_token

    async def test_refresh_can_narrow_to_read(self, connector, grant):
        assert grant.refresh_token is not None
        narrowed = connector.narrowed_scopes(
            grant.scopes,
            connector.permissions(connector.scopes_for(Access.READ, ContactsAccess.NONE)),
        )
        fresh = await connector.refresh(grant.refresh_token, scopes=narrowed)
        assert connector.permissions(fresh.scopes).calendar is Access.READ

    async def test_a_bogus_refresh_token_is_an_invalid_grant(self, connector):
        with pytest.raises(InvalidGrant):
            await connector.refresh(Secret("not-a-refresh-token"))

    async def test_revocation_kills_the_grant(self, connector, grant):
        _needs(connector, Capability.REVOKE)
        assert grant.refresh_token is not None
        await connector.revoke(grant.refresh_token)
        with pytest.raises(InvalidGrant):
            await connector.refresh(grant.refresh_token)

    async def test_a_bad_access_token_is_auth_expired(self, connector, calendar_id, window):
        with pytest.raises(AuthExpired):
            await connector.list_events(Secret("bogus-token"), calendar_id, *window)

    # events --------------------------------------------------------------------------------
    async def test_create_then_get(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        token = grant.access_token
        start = window[0] + timedelta(hours=2)
        event = _event(
            start,
            description="Agenda",
            location="Room 1",
            attendees=(Attendee("bob@example.com", "Bob"),),
        )
        created = await connector.create_event(token, calendar_id, event)
        assert created.ref.href
        assert created.ref.etag
        got = await connector.get_event(token, created.ref.href)
        assert got.ref == created.ref
        e = got.event
        assert (e.summary, e.description, e.location) == ("Contract test", "Agenda", "Room 1")
        assert (e.start.at, e.end.at) == (start, start + timedelta(minutes=45))
        assert [a.email for a in e.attendees if not a.resource] == ["bob@example.com"]

    async def test_update_needs_the_current_etag(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        token = grant.access_token
        created = await connector.create_event(token, calendar_id, _event(window[0]))
        later = window[0] + timedelta(hours=5)
        updated = await connector.update_event(token, created.ref, _event(later, "Moved"))
        assert updated.ref.href == created.ref.href
        assert updated.ref.etag != created.ref.etag
        got = await connector.get_event(token, created.ref.href)
        assert (got.event.summary, got.event.start.at) == ("Moved", later)
        with pytest.raises(WrongEtag):
            await connector.update_event(token, created.ref, _event(window[0], "Lost update"))
        assert (await connector.get_event(token, created.ref.href)).event.summary == "Moved"

    async def test_delete_needs_the_current_etag(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        token = grant.access_token
        created = await connector.create_event(token, calendar_id, _event(window[0]))
        updated = await connector.update_event(token, created.ref, _event(window[0], "v2"))
        with pytest.raises(WrongEtag):
            await connector.delete_event(token, created.ref)
        await connector.delete_event(token, updated.ref)
        with pytest.raises(NotFound):
            await connector.get_event(token, created.ref.href)

    async def test_an_unknown_href_is_not_found(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        created = await connector.create_event(grant.access_token, calendar_id, _event(window[0]))
        await connector.delete_event(grant.access_token, created.ref)
        with pytest.raises(NotFound):
            await connector.get_event(grant.access_token, created.ref.href)

    async def test_all_day_events_round_trip(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        day = (window[0] + timedelta(days=1)).date()
        event = Event(summary="Offsite", start=When(day=day), end=When(day=day + timedelta(days=1)))
        created = await connector.create_event(grant.access_token, calendar_id, event)
        got = (await connector.get_event(grant.access_token, created.ref.href)).event
        assert (got.start.day, got.end.day) == (day, day + timedelta(days=1))
        assert isinstance(got.start.day, date)

    async def test_listing_a_window_expands_series(self, connector, grant, calendar_id, window):
        _needs(connector, Capability.WRITE)
        token = grant.access_token
        start = window[0] + timedelta(hours=3)
        series = _event(start, "Weekly sync", recurrence=("RRULE:FREQ=WEEKLY;COUNT=3",))
        created = await connector.create_event(token, calendar_id, series)
        got = (await connector.get_event(token, created.ref.href)).event
        assert got.recurrence[0].startswith("RRULE:FREQ=WEEKLY")
        listed = await connector.list_events(
            token, calendar_id, start - timedelta(hours=1), start + timedelta(days=30)
        )
        weekly = sorted(e.event.start.at for e in listed if e.event.summary == "Weekly sync")
        assert weekly == [start + timedelta(weeks=n) for n in range(3)]
        outside = await connector.list_events(
            token, calendar_id, start + timedelta(days=40), start + timedelta(days=41)
        )
        assert [e for e in outside if e.event.summary == "Weekly sync"] == []

    # sync ----------------------------------------------------------------------------------
    async def test_sync_reports_changes_and_removals(
        self, connector, grant, calendar_id, window, expire_sync_tokens
    ):
        _needs(connector, Capability.DELTA_SYNC)
        token = grant.access_token
        first = await connector.sync(token, calendar_id, None, start=window[0], end=window[1])
        assert first.full
        assert first.token
        created = await connector.create_event(token, calendar_id, _event(window[0], "New one"))
        second = await connector.sync(
            token, calendar_id, first.token, start=window[0], end=window[1]
        )
        assert not second.full
        assert created.ref.href in [e.ref.href for e in second.changed]
        assert created.ref.href not in second.removed
        current = await connector.get_event(token, created.ref.href)
        await connector.delete_event(token, current.ref)
        third = await connector.sync(
            token, calendar_id, second.token, start=window[0], end=window[1]
        )
        assert created.ref.href in third.removed
        await expire_sync_tokens()
        with pytest.raises(SyncTokenExpired):
            await connector.sync(token, calendar_id, third.token, start=window[0], end=window[1])

    async def test_without_delta_sync_a_sync_is_a_full_listing(
        self, connector, grant, calendar_id, window
    ):
        if connector.capabilities & Capability.DELTA_SYNC:
            pytest.skip("this connector has delta sync")
        batch = await connector.sync(
            grant.access_token, calendar_id, None, start=window[0], end=window[1]
        )
        assert batch.full


def utc_window(now: datetime) -> tuple[datetime, datetime]:
    """A week starting tomorrow 08:00 UTC."""
    start = (
        (now + timedelta(days=1)).astimezone(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    )
    return start, start + timedelta(days=7)


__all__ = ["ConnectorContract", "ItemRef", "TokenGrant", "utc_window"]
