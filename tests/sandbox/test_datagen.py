"""The seed-data generator: deterministic, varied, fast enough for 10,000-event calendars."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dateutil.rrule import rrulestr

from calgate.sandbox.datagen import generate


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert generate(3, 30, seed=1) == generate(3, 30, seed=1)
    assert generate(3, 30, seed=1) != generate(3, 30, seed=2)


def test_shape_and_variety() -> None:
    data = generate(6, 200, seed=3, start=datetime(2026, 11, 23, tzinfo=UTC), rooms=3)
    assert data.total_events == 1200
    assert [u.email for u in data.users][:3] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    events = [e for es in data.events.values() for e in es]
    all_day = [e for e in events if e.all_day]
    series = [e for e in events if e.rrule]
    assert all_day
    assert all(isinstance(e.start, date) and e.end > e.start for e in all_day)
    assert len({e.time_zone for e in events}) >= 4
    assert any(a.is_room for e in events for a in e.attendees)
    assert any(e.online_meeting_url for e in events)
    moved = [o for e in series for o in e.overrides if not o.cancelled]
    cancelled = [o for e in series for o in e.overrides if o.cancelled]
    assert moved
    assert cancelled
    for event in series:  # every exception is a real occurrence of its series
        assert isinstance(event.start, datetime)
        occurrences = set(rrulestr(event.rrule or "", dtstart=event.start)[:12])
        assert {o.original_start for o in event.overrides} <= occurrences
    rooms = {r.email for r in data.rooms}
    assert {a.email for e in events for a in e.attendees if a.is_room} <= rooms


def test_ten_thousand_events_generate() -> None:
    """Benchmarks need 10,000-event calendars (timing lives in bench/, not here)."""
    data = generate(1, 10_000, seed=9)
    assert data.total_events == 10_000
    assert len({e.subject for e in data.events["alice@example.com"]}) == 10_000
