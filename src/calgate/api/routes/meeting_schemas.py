"""Request and response schemas of the scheduling API (R11) and its admin settings (R14).

The request bodies accept exactly the R11 fields; any other field (``body``, ``attendees``,
…) is refused with 422, each unknown field named in ``errors``, and nothing of it is kept.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calgate.meetings.ids import format_meeting_id
from calgate.meetings.invitation import invitation_text
from calgate.meetings.model import JoinState, Meeting
from calgate.meetings.trust import LinkedIdentity, TrustConfig

__all__ = [
    "IdentityLinkIn",
    "LinkedIdentityOut",
    "MeetingIn",
    "MeetingOut",
    "MeetingPatch",
    "MeetingSummaryOut",
    "SchedulingAuthIn",
    "SchedulingAuthOut",
    "StateFilter",
]

StateFilter = Literal["scheduled", "expired", "cancelled"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2})?")

_DESCRIPTIONS = {
    "subject": "The event's subject; becomes the meeting topic.",
    "start_date": "Local start date, YYYY-MM-DD.",
    "start_time": "Local start time, HH:MM or HH:MM:SS (no offset: see time_zone).",
    "time_zone": "IANA name (Europe/Berlin) or Windows name (W. Europe Standard Time); "
    "answered as IANA.",
    "duration_minutes": "Length in minutes (1 to 1440).",
    "recurring": "Whether the event is a recurring series.",
    "recurrence_rule": "The series' RFC 5545 RRULE (e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10); "
    "required when recurring is true, refused otherwise.",
}


def _field(name: str, **kw: Any) -> Any:
    return Field(description=_DESCRIPTIONS[name], **kw)


class _R11(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("start_date", mode="before", check_fields=False)
    @classmethod
    def _date_text(cls, value: object) -> object:
        if value is not None and not (isinstance(value, str) and _DATE.fullmatch(value)):
            raise ValueError("give the local date as YYYY-MM-DD")
        return value

    @field_validator("start_time", mode="before", check_fields=False)
    @classmethod
    def _time_text(cls, value: object) -> object:
        if value is not None and not (isinstance(value, str) and _TIME.fullmatch(value)):
            raise ValueError(
                "give the local time as HH:MM or HH:MM:SS, without an offset (see time_zone)"
            )
        return value

    @field_validator("subject", check_fields=False)
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None


class MeetingIn(_R11):
    """Schedule a meeting: exactly the fields a scheduling tool may submit (R11)."""

    subject: str = _field("subject", min_length=1, max_length=255)
    start_date: date = _field("start_date")
    start_time: time = _field("start_time")
    time_zone: str = _field("time_zone", min_length=1, max_length=64)
    duration_minutes: int = _field("duration_minutes", ge=1, le=1440, strict=True)
    recurring: bool = _field("recurring", default=False, strict=True)
    recurrence_rule: str | None = _field("recurrence_rule", default=None, max_length=500)


class MeetingPatch(_R11):
    """Change a meeting: any of the R11 fields; those left out stay as they are."""

    subject: str | None = _field("subject", default=None, min_length=1, max_length=255)
    start_date: date | None = _field("start_date", default=None)
    start_time: time | None = _field("start_time", default=None)
    time_zone: str | None = _field("time_zone", default=None, min_length=1, max_length=64)
    duration_minutes: int | None = _field(
        "duration_minutes", default=None, ge=1, le=1440, strict=True
    )
    recurring: bool | None = _field("recurring", default=None, strict=True)
    recurrence_rule: str | None = _field("recurrence_rule", default=None, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> MeetingPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set - {"recurrence_rule"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class MeetingOut(BaseModel):
    id: int = Field(description="The meeting id (9–11 digits).")
    meeting_number: str = Field(description="The id grouped for reading aloud.")
    join_url: str
    passcode: str
    invitation: str = Field(description="Plain text for the event's body or location.")
    subject: str
    start_date: date
    start_time: time
    time_zone: str
    duration_minutes: int
    recurring: bool
    recurrence_rule: str | None
    start: datetime = Field(description="First start, UTC.")
    end: datetime = Field(description="First end, UTC.")
    status: StateFilter = Field(
        description="scheduled, expired (R12, derived from the clock) or cancelled."
    )
    state: JoinState = Field(description="What the join page shows now.")
    expires_at: datetime | None = Field(
        description="When the meeting id expires (R12); null for a series without an end."
    )
    version: int = Field(description="Bumped on every change; send it as If-Match.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, m: Meeting, *, state: JoinState, sip_domain: str | None) -> MeetingOut:
        local = m.schedule.local_start
        status: StateFilter = "scheduled"
        if state is JoinState.EXPIRED:
            status = "expired"
        elif state is JoinState.CANCELLED:
            status = "cancelled"
        return cls(
            id=m.id,
            meeting_number=format_meeting_id(m.id),
            join_url=m.join_url,
            passcode=m.passcode,
            invitation=invitation_text(m, sip_domain=sip_domain),
            subject=m.topic,
            start_date=local.date(),
            start_time=local.time(),
            time_zone=m.schedule.time_zone,
            duration_minutes=m.schedule.duration_minutes,
            recurring=m.schedule.recurring,
            recurrence_rule=m.schedule.rule,
            start=m.schedule.start,
            end=m.schedule.end,
            status=status,
            state=state,
            expires_at=m.expires_at,
            version=m.version,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


class MeetingSummaryOut(BaseModel):
    """What an account admin sees of a meeting: no topic, no passcode."""

    id: int
    owner_id: uuid.UUID
    state: JoinState
    start: datetime
    time_zone: str
    duration_minutes: int
    recurring: bool
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, m: Meeting, *, state: JoinState) -> MeetingSummaryOut:
        return cls(
            id=m.id,
            owner_id=m.owner_id,
            state=state,
            start=m.schedule.start,
            time_zone=m.schedule.time_zone,
            duration_minutes=m.schedule.duration_minutes,
            recurring=m.schedule.recurring,
            expires_at=m.expires_at,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntraTenantIn(_Strict):
    tenant_id: str = Field(max_length=64, description="The Entra ID tenant id (GUID).")
    audiences: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Accepted `aud`: the add-in's application id and/or `api://…` URI. "
        "Empty: CALGATE_NAA_AUDIENCES.",
    )


class ExchangeServerIn(_Strict):
    metadata_url: str = Field(
        max_length=500,
        description="The server's authentication metadata URL (the tokens' `amurl`), e.g. "
        "https://mail.example.com:443/autodiscover/metadata/json/1.",
    )
    audiences: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Accepted `aud`: URLs of the add-in's pages (one ending in / accepts "
        "every page under it). Empty: CALGATE_EXCHANGE_ADDIN_URLS.",
    )


class SchedulingAuthIn(_Strict):
    """The complete set; what is not listed is no longer accepted."""

    entra_tenants: list[EntraTenantIn] = Field(default_factory=list, max_length=50)
    exchange_servers: list[ExchangeServerIn] = Field(default_factory=list, max_length=50)


class SchedulingAuthOut(BaseModel):
    entra_tenants: list[EntraTenantIn]
    exchange_servers: list[ExchangeServerIn]

    @classmethod
    def of(cls, config: TrustConfig) -> SchedulingAuthOut:
        return cls(
            entra_tenants=[
                EntraTenantIn(tenant_id=t.issuer, audiences=list(t.audiences)) for t in config.entra
            ],
            exchange_servers=[
                ExchangeServerIn(metadata_url=t.issuer, audiences=list(t.audiences))
                for t in config.exchange
            ],
        )


class IdentityLinkIn(_Strict):
    token: str = Field(
        min_length=1,
        max_length=16_384,
        description="The add-in's Entra ID access token (NAA) or Exchange identity token.",
    )


class LinkedIdentityOut(BaseModel):
    id: uuid.UUID
    kind: Literal["entra", "exchange"]
    issuer: str = Field(description="Entra tenant id, or Exchange metadata URL.")
    subject: str = Field(description="Entra object id (oid), or Exchange mailbox id.")
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, identity: LinkedIdentity) -> LinkedIdentityOut:
        kind: Literal["entra", "exchange"] = (
            "entra" if identity.kind.value == "entra" else "exchange"
        )
        return cls(
            id=identity.id,
            kind=kind,
            issuer=identity.issuer,
            subject=identity.subject,
            created_at=identity.created_at,
            last_used_at=identity.last_used_at,
        )
