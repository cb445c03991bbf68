"""Where calgate marks an event as one of the platform's meetings, in each provider.

Scheduling tools (R11) and bi-directional sync (R8) tag the calendar events they create
with the meeting id, so that an event is recognised even when its location and body were
edited. The names are part of calgate's contract with the calendars it writes to: change
them only together with a migration of existing events.

- Google Calendar: ``extendedProperties.private.calgateMeetingId`` (string).
- Microsoft Graph: the single-value extended property :data:`GRAPH_MEETING_PROPERTY_ID`
  (a named string property in the PS_PUBLIC_STRINGS set). Graph returns it only when asked
  with :data:`GRAPH_EXPAND_MEETING_PROPERTY` as ``$expand``.
"""

from __future__ import annotations

__all__ = [
    "GOOGLE_MEETING_PROPERTY",
    "GRAPH_EXPAND_MEETING_PROPERTY",
    "GRAPH_MEETING_PROPERTY_ID",
    "MEETING_PROPERTY_NAME",
    "PS_PUBLIC_STRINGS",
]

MEETING_PROPERTY_NAME = "calgateMeetingId"
GOOGLE_MEETING_PROPERTY = MEETING_PROPERTY_NAME
PS_PUBLIC_STRINGS = "{00020329-0000-0000-C000-000000000046}"
GRAPH_MEETING_PROPERTY_ID = f"String {PS_PUBLIC_STRINGS} Name {MEETING_PROPERTY_NAME}"
GRAPH_EXPAND_MEETING_PROPERTY = (
    f"singleValueExtendedProperties($filter=id eq '{GRAPH_MEETING_PROPERTY_ID}')"
)
