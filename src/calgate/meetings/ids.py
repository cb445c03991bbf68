"""Meeting ids, passcodes and join links.

Meeting ids are numbers of 9 to 11 digits (CALGATE_MEETING_ID_DIGITS, default 11) drawn
uniformly by :mod:`secrets`, so they cannot be guessed from one another; the registry retries
on the rare collision. Passcodes are 6 to 10 random digits (CALGATE_MEETING_PASSCODE_DIGITS).
"""

from __future__ import annotations

import secrets

__all__ = [
    "format_meeting_id",
    "join_url",
    "new_meeting_id",
    "new_passcode",
    "parse_meeting_id",
]

MIN_DIGITS, MAX_DIGITS = 9, 11


def new_meeting_id(digits: int) -> int:
    """A uniformly random number with exactly ``digits`` digits (no leading zero)."""
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"meeting ids have {MIN_DIGITS} to {MAX_DIGITS} digits")
    low = 10 ** (digits - 1)
    return int(low + secrets.randbelow(9 * low))


def new_passcode(digits: int) -> str:
    if not 6 <= digits <= 10:
        raise ValueError("passcodes have 6 to 10 digits")
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def parse_meeting_id(text: str) -> int | None:
    """The meeting id in ``text`` (digits, optionally grouped with spaces or dashes), or
    None when it cannot be one."""
    digits = text.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return int(digits)


def format_meeting_id(meeting_id: int) -> str:
    """Grouped for reading aloud: ``123 456 789``, ``123 456 7890``, ``123 4567 8901``."""
    text = str(meeting_id)
    if len(text) == 10:
        return f"{text[:3]} {text[3:6]} {text[6:]}"
    if len(text) == 11:
        return f"{text[:3]} {text[3:7]} {text[7:]}"
    return " ".join(text[i : i + 3] for i in range(0, len(text), 3))


def join_url(base: str, meeting_id: int) -> str:
    return f"{base.rstrip('/')}/{meeting_id}"
