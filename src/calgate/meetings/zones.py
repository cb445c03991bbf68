"""Time zones and local start times as scheduling tools send them.

Tools send an IANA name (``Europe/Berlin``) or, from Outlook on Windows, a Windows zone name
(``W. Europe Standard Time``); Windows names are mapped to IANA with the CLDR table that
``tzlocal`` ships, and the IANA name is what calgate stores and answers with. Only names in
the installed time zone database are accepted (never a path).

A local time that does not exist (the hour skipped when clocks go forward) is refused; one
that happens twice (clocks go back) means its first occurrence.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, available_timezones

from tzlocal.windows_tz import win_tz

from calgate.errors import InvalidInput

__all__ = ["local_to_utc", "resolve_time_zone"]

_MAX_NAME = 64


_NOT_ZONES = {"localtime", "posixrules", "Factory"}


@functools.cache
def _known() -> frozenset[str]:
    names = {
        n
        for n in available_timezones()
        if n not in _NOT_ZONES and not n.startswith(("posix/", "right/"))
    }
    return frozenset(names | {"UTC"})


@functools.cache
def _windows_names() -> dict[str, str]:
    return {name.casefold(): iana for name, iana in win_tz.items()}


def resolve_time_zone(name: str) -> str:
    """The IANA name for ``name`` (IANA or Windows), or `InvalidInput` naming ``time_zone``."""
    given = name.strip()
    if not given or len(given) > _MAX_NAME:
        raise InvalidInput("time_zone must be a time zone name", field="time_zone")
    if given in _known():
        return given
    iana = _windows_names().get(given.casefold())
    if iana is not None and iana in _known():
        return iana
    raise InvalidInput(
        "unknown time zone: use an IANA name such as Europe/Berlin or a Windows name such as "
        "W. Europe Standard Time",
        field="time_zone",
    )


def local_to_utc(day: date, at: time, time_zone: str) -> datetime:
    """The aware UTC instant of wall time ``day`` ``at`` in ``time_zone`` (an IANA name)."""
    zone = ZoneInfo(time_zone)
    local = datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidInput(
            f"{day.isoformat()} {at.isoformat()} does not exist in {time_zone} (the clocks "
            "skip it); choose a time outside the change to daylight saving time",
            field="start_time",
        )
    return instant
