"""The change-consumer protocol: batches become changes with ids and flags, consumers are
called in order, a failure propagates so the batch is delivered again."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from calgate.domain.calendar import (
    Event,
    EventStatus,
    ItemRef,
    MappedOnRead,
    StoredEvent,
    SyncBatch,
    When,
)
from calgate.domain.policy import Provider
from calgate.sync import Change, ChangeConsumers, SyncContext, changes_from_batch

T0 = datetime(2026, 11, 23, 9, tzinfo=UTC)


def _stored(href: str, status: EventStatus = EventStatus.CONFIRMED) -> StoredEvent:
    event = Event("secret topic", When(at=T0), When(at=T0), status=status)
    return StoredEvent(ItemRef(href, '"1"'), event)


def _ctx(full: bool = False) -> SyncContext:
    return SyncContext(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), Provider.GOOGLE, full, T0, T0, T0)


class Recorder:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.seen: list[tuple[SyncContext, list[Change]]] = []

    async def on_changes(self, ctx: SyncContext, changes: Sequence[Change]) -> None:
        self.seen.append((ctx, list(changes)))
        if self.fail:
            raise RuntimeError("consumer down")


def test_batch_to_changes_keeps_ids_flags_and_raw() -> None:
    batch = SyncBatch(
        (
            _stored("calendars/primary/events/abc"),
            _stored("me/events/AAMk%3D", EventStatus.CANCELLED),
        ),
        ("calendars/primary/events/gone",),
        "token",
        raw={"calendars/primary/events/abc": {"id": "abc", "summary": "secret topic"}},
    )
    changes = changes_from_batch(batch)
    assert [(c.event_id, c.removed, c.cancelled) for c in changes] == [
        ("abc", False, False),
        ("AAMk=", False, True),
        ("gone", True, False),
    ]
    assert changes[0].raw == {"id": "abc", "summary": "secret topic"}
    assert changes[1].raw is None
    assert changes[2].event is None
    assert "secret" not in repr(changes)


async def test_consumers_called_in_order_and_failure_propagates() -> None:
    registry = ChangeConsumers()
    first, second = Recorder("first"), Recorder("second", fail=True)
    registry.register(first)
    registry.register(second)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Recorder("first"))
    change = Change("me/events/1", "1")
    with pytest.raises(RuntimeError):
        await registry.dispatch(_ctx(), [change])
    assert [c for _, c in first.seen] == [[change]]
    assert len(second.seen) == 1


async def test_empty_incremental_batch_reaches_nobody_but_full_does() -> None:
    registry = ChangeConsumers()
    seen = Recorder("x")
    registry.register(seen)
    await registry.dispatch(_ctx(), [])
    assert seen.seen == []
    await registry.dispatch(_ctx(full=True), [])
    assert len(seen.seen) == 1
    assert seen.seen[0][0].full


def test_register_refuses_non_consumers() -> None:
    with pytest.raises(TypeError):
        ChangeConsumers().register(object())  # type: ignore[arg-type]


class CountingReader:
    """Maps an item the way a connector would, counting how often it is asked to."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def __call__(self, href: str, item: Mapping[str, Any]) -> StoredEvent:
        self.reads.append(href)
        status = EventStatus(item["status"])
        return StoredEvent(
            ItemRef(href, item["etag"]),
            Event(item["summary"], When(at=T0), When(at=T0), status=status),
        )


def _lazy_batch(read: CountingReader) -> SyncBatch:
    hrefs = ["calendars/primary/events/a", "calendars/primary/events/b"]
    items = [
        {"id": "a", "etag": '"1"', "status": "confirmed", "summary": "secret one"},
        {"id": "b", "etag": '"2"', "status": "cancelled", "summary": "secret two"},
    ]
    return SyncBatch(
        MappedOnRead(hrefs, items, read),
        (),
        "t",
        full=True,
        raw=dict(zip(hrefs, items, strict=True)),
    )


def test_changes_of_a_lazy_batch_map_no_item_until_it_is_read() -> None:
    read = CountingReader()
    batch = _lazy_batch(read)
    changes = changes_from_batch(batch)
    assert [c.event_id for c in changes] == ["a", "b"]
    assert [c.raw["summary"] for c in changes if c.raw] == ["secret one", "secret two"]
    assert read.reads == []  # ids and wire JSON need no mapping
    assert changes[1].cancelled  # reading a flag maps that one item, once
    assert changes[1].event is not None
    assert changes[1].event.ref.etag == '"2"'
    assert read.reads == ["calendars/primary/events/b"]
    assert not changes[0].cancelled
    assert read.reads == ["calendars/primary/events/b", "calendars/primary/events/a"]
    assert "secret" not in repr(changes) + repr(batch)


def test_mapped_on_read_is_a_sequence_of_stored_events() -> None:
    read = CountingReader()
    lazy = _lazy_batch(read).changed
    assert len(lazy) == 2
    assert read.reads == []
    assert [s.event.summary for s in lazy] == ["secret one", "secret two"]
    assert lazy[-1] is lazy[1]  # mapped once, then kept
    assert lazy[0:1] == (lazy[0],)
    assert lazy == list(lazy)
    assert lazy != list(lazy)[:1]
    assert len(read.reads) == 2
    with pytest.raises(TypeError):
        hash(lazy)
    with pytest.raises(ValueError, match="one href per item"):
        MappedOnRead(["x"], [], read)
