"""The Google emulator's in-memory world: OAuth clients, service accounts, users, grants and
tokens, calendars with their events, and push channels.

Nothing here speaks HTTP; the route modules read and change this state and the emulator
(`emulator.py`) owns one instance. All timestamps come from the sandbox clock.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from joserfc.jwk import RSAKey

__all__ = [
    "AccessToken",
    "AuthCode",
    "Calendar",
    "Channel",
    "Contact",
    "GoogleState",
    "Grant",
    "OAuthClient",
    "ServiceAccount",
    "StoredEvent",
    "User",
    "new_event_id",
]

_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"

ClientMode = Literal["testing", "production"]
Consent = Literal["approve", "deny"]


def new_event_id() -> str:
    """A Google-style event id: base32hex characters (a–v, 0–9), 26 long."""
    return "".join(secrets.choice(_BASE32HEX) for _ in range(26))


def valid_event_id(value: str) -> bool:
    return 5 <= len(value) <= 1024 and all(c in _BASE32HEX for c in value)


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    mode: ClientMode = "production"
    name: str = "sandbox client"

    def public(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "redirect_uris": list(self.redirect_uris),
            "mode": self.mode,
            "name": self.name,
        }


@dataclass
class ServiceAccount:
    email: str
    client_id: str
    key_id: str
    key: RSAKey  # private; the public half verifies assertions
    delegated_scopes: set[str]
    project_id: str = "calgate-sandbox"


@dataclass
class User:
    email: str
    display_name: str
    time_zone: str
    consent: Consent = "approve"


@dataclass
class Contact:
    resource_name: str
    display_name: str
    email: str
    etag: str


@dataclass
class Grant:
    """One refresh token issued to (client, user). ``dead`` names why it stopped working."""

    id: int
    token: str
    client_id: str
    user_email: str
    scopes: frozenset[str]
    issued_at: datetime
    last_used_at: datetime
    testing: bool = False  # issued to an app in "testing" publishing status
    dead: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "user": self.user_email,
            "scopes": sorted(self.scopes),
            "issued_at": self.issued_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat(),
            "dead": self.dead,
        }


@dataclass
class AccessToken:
    token: str
    client_id: str
    user_email: str | None
    scopes: frozenset[str]
    expires_at: datetime
    grant_id: int | None = None
    service_account: str | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    user_email: str
    scopes: frozenset[str]
    created_at: datetime
    offline: bool
    force_consent: bool
    code_challenge: str | None = None
    code_challenge_method: str = "plain"
    used: bool = False


@dataclass
class StoredEvent:
    """One stored item: a single event, a series master, or an exception of a series
    (``recurringEventId`` set). ``resource`` is the ``calendar#event`` JSON as served."""

    resource: dict[str, Any]
    seq: int

    @property
    def id(self) -> str:
        return str(self.resource["id"])

    @property
    def cancelled(self) -> bool:
        return self.resource.get("status") == "cancelled"

    @property
    def master_id(self) -> str | None:
        value = self.resource.get("recurringEventId")
        return str(value) if value else None


@dataclass
class Calendar:
    id: str
    summary: str
    time_zone: str
    owner: str | None  # user email for a primary calendar; None for a room
    kind: Literal["primary", "resource"] = "primary"
    description: str = ""
    events: dict[str, StoredEvent] = field(default_factory=dict)
    exceptions: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    sync_epoch: int = 0
    etag_seq: int = 0

    def put(self, stored: StoredEvent) -> None:
        self.events[stored.id] = stored
        if stored.master_id:
            self.exceptions[stored.master_id].add(stored.id)


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    address: str
    calendar_id: str
    owner: str  # user email (or service account) that created it
    expiration: datetime
    token: str | None = None
    message_number: int = 0
    created_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resourceId": self.resource_id,
            "calendarId": self.calendar_id,
            "address": self.address,
            "owner": self.owner,
            "expiration": self.expiration.isoformat(),
            "messages": self.message_number,
        }


@dataclass
class GoogleState:
    token_marker: str = ""
    clients: dict[str, OAuthClient] = field(default_factory=dict)
    service_accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    contacts: defaultdict[str, list[Contact]] = field(default_factory=lambda: defaultdict(list))
    calendars: dict[str, Calendar] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    sync_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _grant_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    seq_now: int = 0

    def next_seq(self) -> int:
        """A global, increasing change number: orders changes for sync tokens and etags."""
        self.seq_now = next(self._seq)
        return self.seq_now

    def next_grant_id(self) -> int:
        return next(self._grant_ids)

    def new_token(self, prefix: str) -> str:
        return f"{prefix}{self.token_marker}{secrets.token_urlsafe(32)}"

    def resource_id(self, calendar_id: str) -> str:
        """The stable, opaque id of a calendar's events collection (``X-Goog-Resource-ID``)."""
        digest = hmac.new(self.sync_key, b"resource:" + calendar_id.encode(), hashlib.sha256)
        return digest.hexdigest()[:27]

    def calendars_of(self, user_email: str) -> list[Calendar]:
        """Calendars a user sees: their own primary calendar and every room of the sandbox."""
        own = [c for c in self.calendars.values() if c.owner == user_email]
        rooms = [c for c in self.calendars.values() if c.kind == "resource"]
        return own + rooms
