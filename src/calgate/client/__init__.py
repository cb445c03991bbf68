"""The reference client SDK (C1–C6): what a desktop or mobile app embeds to show its user's
upcoming meetings. See docs/client.md.

It signs in to calgate, gets the user's provider access tokens from calgate (token vending,
R10), fetches upcoming events directly from Google or Microsoft Graph, sanitizes each one
with the allow-list shared with the service (:mod:`calgate.sanitize`), follows calgate's
notification stream and refreshes on changes and every 30 minutes. Memory only: nothing is
written to disk, nothing survives the process.
"""

from calgate.client.core import CalgateClient, Vendor
from calgate.client.errors import (
    CalendarReadOnly,
    ClientError,
    ConnectionRemoved,
    EventNotWritten,
    NotConnected,
    ProviderBusy,
    ProviderError,
    ProviderUnauthorized,
    ReauthRequired,
    RemovedConnection,
    ScheduleRefused,
    ServerUnreachable,
    SessionExpired,
    SignInFailed,
)
from calgate.client.service import Session, VendedConnection, parse_vend, vend_problem
from calgate.client.state import (
    AsyncioTimer,
    ConnectionState,
    Entry,
    Snapshot,
    Status,
    Timer,
    jittered,
)
from calgate.client.tagging import ScheduledMeeting

__all__ = [
    "AsyncioTimer",
    "CalendarReadOnly",
    "CalgateClient",
    "ClientError",
    "ConnectionRemoved",
    "ConnectionState",
    "Entry",
    "EventNotWritten",
    "NotConnected",
    "ProviderBusy",
    "ProviderError",
    "ProviderUnauthorized",
    "ReauthRequired",
    "RemovedConnection",
    "ScheduleRefused",
    "ScheduledMeeting",
    "ServerUnreachable",
    "Session",
    "SessionExpired",
    "SignInFailed",
    "Snapshot",
    "Status",
    "Timer",
    "VendedConnection",
    "Vendor",
    "jittered",
    "parse_vend",
    "vend_problem",
]
