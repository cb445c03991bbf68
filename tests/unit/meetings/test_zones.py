"""Time zones as scheduling tools send them (IANA or Windows names) and local start times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from calgate.errors import InvalidInput
from calgate.meetings.zones import local_to_utc, resolve_time_zone


@pytest.mark.parametrize(
    ("given", "iana"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("  America/New_York ", "America/New_York"),
        ("UTC", "UTC"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("pacific standard time", "America/Los_Angeles"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
    ],
)
def test_iana_and_windows_names_resolve_to_iana(given: str, iana: str) -> None:
    assert resolve_time_zone(given) == iana


@pytest.mark.parametrize(
    "given", ["", "Mars/Olympus", "../../etc/passwd", "localtime", "+02:00", "x" * 65]
)
def test_unknown_zones_are_refused_naming_the_field(given: str) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_time_zone(given)
    assert err.value.field == "time_zone"


def test_local_times_convert_with_the_zones_offset_on_that_day() -> None:
    winter = local_to_utc(date(2026, 1, 12), time(10, 0), "Europe/Berlin")
    summer = local_to_utc(date(2026, 7, 13), time(10, 0), "Europe/Berlin")
    assert winter == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert summer == datetime(2026, 7, 13, 8, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not exist") as err:
        local_to_utc(date(2026, 3, 29), time(2, 30), "Europe/Berlin")
    assert err.value.field == "start_time"


def test_a_time_that_happens_twice_means_the_first() -> None:
    # 2026-10-25 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET)
    assert local_to_utc(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
