"""OAuth scopes the emulator knows, and which of them each API method accepts
(provider-protocols §4.3; the method lists follow the Calendar v3 discovery document)."""

from __future__ import annotations

__all__ = [
    "CALENDAR",
    "CALENDARLIST_READ",
    "CALENDAR_READONLY",
    "CONTACTS_READ",
    "EVENTS_READ",
    "EVENTS_WRITE",
    "KNOWN_SCOPES",
    "PROFILE_SCOPES",
]

_G = "https://www.googleapis.com/auth/"

CALENDAR = _G + "calendar"
CALENDAR_READONLY = _G + "calendar.readonly"

EVENTS_WRITE = frozenset(
    {CALENDAR, _G + "calendar.events", _G + "calendar.events.owned"},
)
EVENTS_READ = EVENTS_WRITE | {
    CALENDAR_READONLY,
    _G + "calendar.events.readonly",
    _G + "calendar.events.owned.readonly",
    _G + "calendar.events.public.readonly",
}
CALENDARLIST_READ = frozenset(
    {
        CALENDAR,
        CALENDAR_READONLY,
        _G + "calendar.calendarlist",
        _G + "calendar.calendarlist.readonly",
    }
)
CONTACTS_READ = frozenset({_G + "contacts", _G + "contacts.readonly"})
PROFILE_SCOPES = frozenset(
    {"openid", "email", "profile", _G + "userinfo.email", _G + "userinfo.profile"}
)

KNOWN_SCOPES = (
    EVENTS_READ
    | CALENDARLIST_READ
    | CONTACTS_READ
    | PROFILE_SCOPES
    | {
        _G + "calendar.app.created",
        _G + "calendar.acls",
        _G + "calendar.acls.readonly",
        _G + "calendar.calendars",
        _G + "calendar.calendars.readonly",
        _G + "calendar.events.freebusy",
        _G + "calendar.freebusy",
        _G + "calendar.settings",
        _G + "calendar.settings.readonly",
        _G + "contacts.other.readonly",
        _G + "directory.readonly",
        _G + "admin.directory.resource.calendar",
        _G + "admin.directory.resource.calendar.readonly",
    }
)

# Short aliases Google accepts in the authorization request.
ALIASES = {
    "email": _G + "userinfo.email",
    "profile": _G + "userinfo.profile",
}
