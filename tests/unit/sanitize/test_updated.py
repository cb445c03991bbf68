"""The provider's modification stamp comes through the allow-list (it orders sync changes,
R8/R12); a missing or unreadable one is None, never an error."""

from __future__ import annotations

from datetime import UTC, datetime

from calgate.sanitize import Profile, sanitize

GOOGLE = {
    "id": "ev1",
    "start": {"dateTime": "2026-11-24T10:00:00Z"},
    "end": {"dateTime": "2026-11-24T11:00:00Z"},
}
GRAPH = {
    "id": "AAMk1",
    "start": {"dateTime": "2026-11-24T10:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-11-24T11:00:00.0000000", "timeZone": "UTC"},
}


def test_google_updated_is_read() -> None:
    item = {**GOOGLE, "updated": "2026-11-23T08:30:00.123Z"}
    for profile in Profile:
        event = sanitize("google", item, profile=profile)
        assert event.updated == datetime(2026, 11, 23, 8, 30, 0, 123000, tzinfo=UTC)


def test_graph_last_modified_is_read() -> None:
    item = {**GRAPH, "lastModifiedDateTime": "2026-11-23T08:30:00.1234567Z"}
    event = sanitize("microsoft", item, profile=Profile.SYNC)
    assert event.updated == datetime(2026, 11, 23, 8, 30, 0, 123456, tzinfo=UTC)


def test_missing_or_bad_stamp_is_none() -> None:
    assert sanitize("google", GOOGLE).updated is None
    assert sanitize("google", {**GOOGLE, "updated": "yesterday"}).updated is None
    assert sanitize("microsoft", {**GRAPH, "lastModifiedDateTime": 42}).updated is None
