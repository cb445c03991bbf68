"""The sanitizer: one allow-list module shared by the service and the apps (DESIGN §3).

Provider wire JSON (a Google ``calendar#event``, a Graph ``event``) goes in; a frozen
:class:`SanitizedEvent` built from **named fields only** comes out. Nothing is filtered out
of the provider's object: fields are copied in, so a field a provider adds tomorrow can
never slip through. Two profiles:

- :attr:`Profile.APP` (C5, what apps display): subject, attendees (name, response,
  optional, organizer — never an address), description (plain text), start/end (date and
  duration), meeting URL, whether a platform room is booked, location, room resources.
- :attr:`Profile.SYNC` (R8, what bi-directional sync stores): description, organizer name,
  topic (subject), times and time zone, recurrence info, organizer id (address) — no
  attendees, rooms, location or meeting URL.

Both keep the ids needed to manage the copy (provider, event id, cancelled flag) and the
platform meeting id the event carries. Discarded always: the sender's and every attendee's
address (To/CC/BCC), attachments, and the body's markup (only its text, clipped, is kept).
See docs/client.md for the reasoning.
"""

from calgate.sanitize.google import sanitize_google
from calgate.sanitize.graph import sanitize_graph
from calgate.sanitize.model import (
    Attendee,
    Profile,
    Recurrence,
    Room,
    SanitizedEvent,
    UnusableEvent,
)
from calgate.sanitize.platform import Platform

__all__ = [
    "Attendee",
    "Platform",
    "Profile",
    "Recurrence",
    "Room",
    "SanitizedEvent",
    "UnusableEvent",
    "sanitize",
    "sanitize_google",
    "sanitize_graph",
]

_BY_PROVIDER = {"google": sanitize_google, "microsoft": sanitize_graph}


def sanitize(
    provider: str,
    item: dict[str, object],
    *,
    profile: Profile = Profile.APP,
    platform: Platform | None = None,
) -> SanitizedEvent:
    """Dispatch on ``provider`` (``google`` or ``microsoft``)."""
    try:
        func = _BY_PROVIDER[provider]
    except KeyError:
        raise ValueError(f"no sanitizer for provider {provider!r}") from None
    return func(item, profile=profile, platform=platform or Platform())
