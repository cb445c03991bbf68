"""Building the meetings parts of a runtime from settings (called by :mod:`calgate.bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx

from calgate.clock import Clock
from calgate.meetings.callers import SchedulingAuthenticator
from calgate.meetings.provider import load_provider
from calgate.meetings.service import MeetingService
from calgate.meetings.trust import TrustService
from calgate.services.audit import AuditLog
from calgate.services.identity import Authenticator
from calgate.settings import Settings

__all__ = ["MeetingParts", "build_meetings"]


@dataclass(frozen=True, slots=True)
class MeetingParts:
    meetings: MeetingService
    trust: TrustService
    callers: SchedulingAuthenticator


def build_meetings(
    settings: Settings,
    *,
    clock: Clock,
    http: httpx.AsyncClient,
    audit: AuditLog,
    auth: Authenticator,
) -> MeetingParts:
    provider = load_provider(settings.meeting_provider, settings=settings, clock=clock, http=http)
    trust = TrustService(
        clock=clock,
        audit=audit,
        require_https=settings.is_production,
        default_naa_audiences=settings.naa_audiences,
        default_exchange_urls=settings.exchange_addin_urls,
    )
    return MeetingParts(
        meetings=MeetingService(
            provider=provider,
            clock=clock,
            join_early=timedelta(minutes=settings.meeting_join_early_minutes),
            client_url=settings.meeting_client_url,
            show_topic=settings.meeting_show_topic,
        ),
        trust=trust,
        callers=SchedulingAuthenticator(
            auth=auth,
            trust=trust,
            http=http,
            clock=clock,
            entra_authority=settings.entra_authority,
        ),
    )
