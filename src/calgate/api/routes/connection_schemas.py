"""Request and response schemas of the calendar-connection routes."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from calgate.api.routes.push_schemas import NotificationsOut
from calgate.connections.apps import AppRegistration
from calgate.connections.service import ConnectionListing
from calgate.domain.calendar import Attendee, AttendeeResponse, Event, StoredEvent, When
from calgate.domain.connections import Permissions
from calgate.errors import NotFound

__all__ = [
    "AppIn",
    "AppOut",
    "AuthorizeIn",
    "AuthorizeOut",
    "ConnectionOut",
    "CredentialOut",
    "CredentialsOut",
    "EventIn",
    "EventOut",
    "PermissionsOut",
    "decode_event_id",
    "encode_event_id",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PermissionsOut(BaseModel):
    calendar: Literal["none", "read", "read_write"]
    contacts: Literal["none", "read", "read_write"]

    @classmethod
    def of(cls, p: Permissions) -> PermissionsOut:
        return cls.model_validate(p.as_dict())


class AuthorizeIn(_Strict):
    login_hint: str | None = Field(
        default=None,
        max_length=320,
        description="The provider account to preselect (an email address).",
    )


class AuthorizeOut(BaseModel):
    authorization_url: str = Field(
        description="Open this in the user's browser: calgate binds the attempt to that "
        "browser, then sends it to the provider's consent page."
    )
    provider: str
    scopes: list[str]
    permissions: PermissionsOut = Field(description="What the user's policy lets this ask for.")
    expires_at: datetime


class ConnectionOut(BaseModel):
    id: uuid.UUID
    provider: str
    account_email: str | None
    status: Literal["active", "reauth_required"]
    granted: PermissionsOut = Field(description="What the provider granted.")
    permissions: PermissionsOut = Field(description="What the policy lets apps use it for now.")
    scopes: list[str]
    reauth_url: str | None = None
    reauth_reason: str | None = None
    created_at: datetime
    last_refreshed_at: datetime | None
    last_used_at: datetime | None
    notifications: NotificationsOut | None = Field(
        default=None,
        description="Change notifications: subscription state and expiry, last notification, "
        "last sync and the next reconciliation check (the admin listing only).",
    )

    @classmethod
    def of(cls, item: ConnectionListing) -> ConnectionOut:
        c = item.connection
        return cls(
            id=c.id,
            provider=c.provider.value,
            account_email=c.account_email,
            status=c.status.value,
            granted=PermissionsOut.of(item.granted),
            permissions=PermissionsOut.of(item.effective),
            scopes=sorted(c.scopes),
            reauth_url=item.reauth_url,
            reauth_reason=c.reauth_reason,
            created_at=c.created_at,
            last_refreshed_at=c.last_refreshed_at,
            last_used_at=c.last_used_at,
        )


class CredentialOut(BaseModel):
    """One connection: ``active`` ones carry a usable access token; others say why not."""

    connection_id: uuid.UUID
    provider: str
    status: Literal["active", "reauth_required", "policy_denied"]
    account_email: str | None
    access_token: str | None = Field(
        default=None, description="Send it to the provider as `Authorization: Bearer`."
    )
    token_type: Literal["Bearer"] | None = None
    expires_at: datetime | None = None
    expires_in: int | None = Field(
        default=None, description="Seconds until the provider stops accepting it."
    )
    api_base_url: str | None = None
    permissions: PermissionsOut | None = None
    scopes: list[str] | None = None
    detail: str | None = Field(default=None, description="Why this connection is unusable.")
    reauth_url: str | None = Field(
        default=None, description="POST it with the user's session to connect again."
    )


class CredentialsOut(BaseModel):
    connections: list[CredentialOut]


# provider app registrations ---------------------------------------------------------------
class AppIn(_Strict):
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=2000)
    tenant: str | None = Field(
        default=None,
        max_length=255,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="Microsoft only: `common`, `organizations`, a tenant id or domain.",
    )
    redirect_uri: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://",
        description="Override of the redirect URI registered for this app (default: the "
        "server's `<public_url>/v1/oauth/callback`).",
    )


class AppOut(BaseModel):
    provider: str
    client_id: str
    source: Literal["deployment", "account"]
    redirect_uri: str
    tenant: str | None

    @classmethod
    def of(cls, app: AppRegistration) -> AppOut:
        return cls(
            provider=app.provider.value,
            client_id=app.client_id,
            source=app.source,
            redirect_uri=app.redirect_uri,
            tenant=app.tenant,
        )


# events (write paths) ----------------------------------------------------------------------
def encode_event_id(href: str) -> str:
    return base64.urlsafe_b64encode(href.encode()).decode().rstrip("=")


def decode_event_id(event_id: str) -> str:
    try:
        return base64.urlsafe_b64decode(event_id + "=" * (-len(event_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound(f"event {event_id[:40]} not found") from None


class TimeIn(_Strict):
    date_time: AwareDatetime | None = Field(default=None, description="A moment, with offset.")
    date: dt.date | None = Field(default=None, description="A day (all-day events).")
    time_zone: str = Field(default="UTC", max_length=64, description="IANA zone of the moment.")

    def when(self) -> When:
        return When(at=self.date_time, day=self.date, time_zone=self.time_zone)


class AttendeeIn(_Strict):
    email: EmailStr
    name: str = Field(default="", max_length=200)
    optional: bool = False
    resource: bool = False


class EventIn(_Strict):
    summary: str = Field(max_length=1000)
    start: TimeIn
    end: TimeIn
    description: str = Field(default="", max_length=32_000)
    location: str = Field(default="", max_length=1000)
    attendees: list[AttendeeIn] = Field(default_factory=list, max_length=500)
    recurrence: list[str] = Field(
        default_factory=list, max_length=20, description="RFC 5545 lines, e.g. `RRULE:FREQ=WEEKLY`."
    )

    @field_validator("recurrence")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        for line in value:
            if not line.upper().startswith(("RRULE:", "EXDATE", "RDATE", "EXRULE:")):
                raise ValueError("recurrence lines start with RRULE:, EXRULE:, RDATE or EXDATE")
        return value

    def event(self) -> Event:
        return Event(
            summary=self.summary,
            start=self.start.when(),
            end=self.end.when(),
            description=self.description,
            location=self.location,
            attendees=tuple(
                Attendee(
                    str(a.email).lower(),
                    a.name,
                    a.optional,
                    a.resource,
                    AttendeeResponse.NEEDS_ACTION,
                )
                for a in self.attendees
            ),
            recurrence=tuple(self.recurrence),
        )


class EventOut(BaseModel):
    id: str = Field(description="Opaque id of the event for PATCH and DELETE.")
    etag: str = Field(description="Send back as `If-Match` to change or delete it.")
    summary: str
    start: dict[str, Any]
    end: dict[str, Any]
    uid: str | None

    @classmethod
    def of(cls, stored: StoredEvent) -> EventOut:
        def time(w: When) -> dict[str, Any]:
            if w.day is not None:
                return {"date": w.day.isoformat()}
            assert w.at is not None
            return {"date_time": w.at.isoformat(), "time_zone": w.time_zone}

        return cls(
            id=encode_event_id(stored.ref.href),
            etag=stored.ref.etag,
            summary=stored.event.summary,
            start=time(stored.event.start),
            end=time(stored.event.end),
            uid=stored.event.uid,
        )
