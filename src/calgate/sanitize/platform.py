"""What makes an event one of the meeting platform's: its join links and its rooms.

- **Join links**: ``<join base><meeting id>`` (9 to 11 digits), where a join base is
  ``CALGATE_JOIN_BASE_URL`` (default ``<public URL>/j/``). An app passes its server's.
- **Platform rooms**: room resources whose address is one of ``room_emails``, or matches one
  of ``room_patterns`` (shell-style, case-insensitive: ``vc-*@rooms.example.com``). Room
  addresses are compared here and then dropped: an event keeps the room's name and the flag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import translate

__all__ = ["Platform"]

_ID = r"(\d{9,11})(?!\d)"
_VALID_ID = re.compile(r"[1-9]\d{8,10}")


@dataclass(frozen=True, slots=True)
class Platform:
    join_bases: tuple[str, ...] = ()
    room_emails: frozenset[str] = frozenset()
    room_patterns: tuple[str, ...] = ()
    _links: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _rooms: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bases = tuple(_normalise_base(b) for b in self.join_bases if b.strip())
        object.__setattr__(self, "join_bases", bases)
        object.__setattr__(self, "room_emails", frozenset(e.lower() for e in self.room_emails))
        if bases:
            alternatives = "|".join(re.escape(b) for b in bases)
            links = re.compile(rf"(?:{alternatives}){_ID}", re.IGNORECASE)
            object.__setattr__(self, "_links", links)
        if self.room_patterns:
            rooms = re.compile("|".join(translate(p.lower()) for p in self.room_patterns))
            object.__setattr__(self, "_rooms", rooms)

    @classmethod
    def of(
        cls,
        join_bases: Iterable[str] = (),
        room_emails: Iterable[str] = (),
        room_patterns: Iterable[str] = (),
    ) -> Platform:
        return cls(tuple(join_bases), frozenset(room_emails), tuple(room_patterns))

    def find_link(self, *texts: str) -> tuple[str, str] | None:
        """The first platform join link in ``texts``: ``(url, meeting id)``."""
        if self._links is None:
            return None
        for text in texts:
            if text:
                m = self._links.search(text)
                if m is not None:
                    return m.group(0), m.group(1)
        return None

    def link_for(self, meeting_id: str) -> str:
        """The join link of a tagged meeting (empty without a join base)."""
        return f"{self.join_bases[0]}{meeting_id}" if self.join_bases else ""

    def resolve(self, tagged: object, provider_url: str, *texts: str) -> tuple[str, str]:
        """``(meeting id, meeting URL)`` of an event. The platform's meeting comes first: the
        calgate tag, else a join link in ``texts`` (location, raw body); then the provider's
        own conferencing link (Meet, Teams…). Either may be empty."""
        meeting_id = tagged if isinstance(tagged, str) and _VALID_ID.fullmatch(tagged) else ""
        found = self.find_link(provider_url, *texts)
        if found is not None and (not meeting_id or found[1] == meeting_id):
            return found[1], found[0]
        if meeting_id:
            return meeting_id, self.link_for(meeting_id) or provider_url
        return "", provider_url

    def is_platform_room(self, email: str, name: str = "") -> bool:
        """A room's address is in ``room_emails`` or matches a pattern, or its name does."""
        address = email.lower()
        if address and address in self.room_emails:
            return True
        if self._rooms is None:
            return False
        return any(v and self._rooms.fullmatch(v) for v in (address, name.lower()))


def _normalise_base(base: str) -> str:
    base = base.strip()
    return base if base.endswith(("/", "=")) else base + "/"
