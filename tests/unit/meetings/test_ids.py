"""Meeting ids, passcodes and join links: format, uniqueness and a sanity check that ids are
spread uniformly (they must not be guessable from one another)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from calgate.meetings.ids import (
    format_meeting_id,
    join_url,
    new_meeting_id,
    new_passcode,
    parse_meeting_id,
)


@pytest.mark.parametrize("digits", [9, 10, 11])
def test_meeting_ids_have_exactly_the_configured_digits(digits: int) -> None:
    for _ in range(2000):
        text = str(new_meeting_id(digits))
        assert len(text) == digits
        assert text[0] != "0"


@pytest.mark.parametrize("digits", [8, 12])
def test_other_lengths_are_refused(digits: int) -> None:
    with pytest.raises(ValueError, match="9 to 11"):
        new_meeting_id(digits)


def test_ids_do_not_repeat_and_spread_over_the_whole_range() -> None:
    draws = [new_meeting_id(11) for _ in range(20_000)]
    assert len(set(draws)) == len(draws)
    # Leading digit (1–9) and last digit (0–9) are uniform: a chi-squared statistic far above
    # its 1-in-a-million critical value (≈ 40 for 8–9 degrees of freedom) means a skewed source.
    for position, values in ((0, "123456789"), (-1, "0123456789")):
        counts = Counter(str(d)[position] for d in draws)
        expected = len(draws) / len(values)
        chi2 = sum((counts[v] - expected) ** 2 / expected for v in values)
        assert chi2 < 40, (position, counts)
    # and consecutive ids are unrelated (no counter behind them)
    gaps = {b - a for a, b in itertools.pairwise(draws)}
    assert len(gaps) > len(draws) * 0.99


def test_passcodes_are_random_digits() -> None:
    codes = [new_passcode(8) for _ in range(5000)]
    assert all(len(c) == 8 and c.isdigit() for c in codes)
    assert len(set(codes)) > 4990
    assert any(c.startswith("0") for c in codes)  # leading zeros are allowed and kept
    with pytest.raises(ValueError):
        new_passcode(5)


@pytest.mark.parametrize(
    ("meeting_id", "text"),
    [(123456789, "123 456 789"), (1234567890, "123 456 7890"), (12345678901, "123 4567 8901")],
)
def test_ids_are_grouped_for_reading_aloud(meeting_id: int, text: str) -> None:
    assert format_meeting_id(meeting_id) == text
    assert parse_meeting_id(text) == meeting_id
    assert parse_meeting_id(text.replace(" ", "-")) == meeting_id


@pytest.mark.parametrize(
    "text", ["", "abc", "12345678", "123456789012", "0123456789", "١٢٣٤٥٦٧٨٩٠", "12345678.9"]
)
def test_anything_else_is_not_a_meeting_id(text: str) -> None:
    assert parse_meeting_id(text) is None


def test_join_url_joins_base_and_id() -> None:
    assert join_url("https://meet.example.com/j/", 12345678901) == (
        "https://meet.example.com/j/12345678901"
    )
    assert (
        join_url("https://meet.example.com/j", 123456789) == "https://meet.example.com/j/123456789"
    )
