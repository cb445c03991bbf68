"""Meetings (R11, R12, R14): the registry of meeting ids, passcodes and join links, the rules
of their expiry, the scheduling use cases and who may call them. See docs/meetings.md.

- :class:`MeetingProvider` is the port; :class:`BuiltinRegistry` the default implementation.
- :class:`MeetingService` holds the use cases (``runtime.meetings``).
- :class:`SchedulingAuthenticator` maps session, Entra ID (NAA) and Exchange identity tokens
  to users (``runtime.scheduling_auth``); :class:`TrustService` keeps which tenants and
  Exchange servers an account accepts (``runtime.scheduling_trust``).
"""

from calgate.meetings.callers import SchedulingAuthenticator
from calgate.meetings.model import (
    ChangeSource,
    JoinState,
    Meeting,
    MeetingStatus,
    OccurrenceOverride,
    Schedule,
)
from calgate.meetings.provider import MeetingProvider, load_provider
from calgate.meetings.registry import BuiltinRegistry
from calgate.meetings.service import MeetingService
from calgate.meetings.trust import TrustService

__all__ = [
    "BuiltinRegistry",
    "ChangeSource",
    "JoinState",
    "Meeting",
    "MeetingProvider",
    "MeetingService",
    "MeetingStatus",
    "OccurrenceOverride",
    "Schedule",
    "SchedulingAuthenticator",
    "TrustService",
    "load_provider",
]
