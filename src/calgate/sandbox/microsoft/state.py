"""In-memory state of the Microsoft emulator: tenants, app registrations, users (mailboxes),
grants and tokens, events, contacts and subscriptions. Nothing here is persisted."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "AppRegistration",
    "AuthCode",
    "EmulatorSettings",
    "Grant",
    "MicrosoftState",
    "RefreshToken",
    "StoredEvent",
    "Subscription",
    "Tenant",
    "User",
    "new_guid",
    "new_item_id",
]

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def new_guid() -> str:
    return str(uuid.uuid4())


def new_item_id(prefix: str = "AAMkA") -> str:
    """An opaque Outlook-style item id (base64url, ends in ``=``)."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(33)).decode()
    return f"{prefix}{raw}AAA="


def new_change_key() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode()


@dataclass
class Tenant:
    id: str
    domain: str
    display_name: str


@dataclass
class AppRegistration:
    client_id: str
    client_secret: str
    display_name: str
    tenant_id: str
    redirect_uris: list[str] = field(default_factory=list)
    spa_redirect_uris: list[str] = field(default_factory=list)
    public_client: bool = False
    multi_tenant: bool = True
    delegated_permissions: list[str] = field(
        default_factory=lambda: ["User.Read", "Calendars.ReadWrite", "Contacts.ReadWrite"]
    )
    application_permissions: list[str] = field(default_factory=list)
    allowed_mailboxes: set[str] | None = None  # an Exchange application access policy
    secret_expired: bool = False


@dataclass
class User:
    id: str
    tenant_id: str
    upn: str
    display_name: str
    time_zone: str = "UTC"  # IANA
    is_room: bool = False
    consent: Literal["approve", "deny"] = "approve"
    tokens_valid_after: datetime | None = None  # "revoke sessions" / password reset
    token_generation: int = 0
    calendar_id: str = field(default_factory=lambda: new_item_id("AAMkAGI"))
    events: dict[str, StoredEvent] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0

    def bump(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class Grant:
    """A user's consent to an app (delegated scopes); revoked by an admin or password reset."""

    user_id: str
    client_id: str
    scopes: set[str]
    revoked: bool = False
    generation: int = 0


@dataclass
class AuthCode:
    code: str
    client_id: str
    user_id: str
    scopes: list[str]
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str
    nonce: str | None
    expires_at: datetime
    redeemed: bool = False


@dataclass
class RefreshToken:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    issued_at: datetime
    expires_at: datetime
    user_generation: int
    grant_generation: int
    spa: bool = False


@dataclass
class StoredEvent:
    """One event (single instance or series master) as Graph stores it.

    ``data`` holds the Graph JSON fields as written (``start``/``end`` in the zone given at
    creation). ``exceptions`` maps an occurrence's original wall start (ISO, naive) to the
    fields that occurrence overrides; ``cancelled`` holds deleted occurrences' keys."""

    id: str
    data: dict[str, Any]
    properties: dict[str, str] = field(default_factory=dict)
    exceptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    seq: int = 0
    deleted: bool = False


@dataclass
class Subscription:
    id: str
    resource: str
    user_id: str  # mailbox owner
    kind: Literal["events", "contacts"]
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expires_at: datetime
    application_id: str
    creator_id: str  # user id for delegated tokens, app id for application tokens
    delegated: bool
    include_resource_data: bool = False
    latest_tls: str = "v1_2"
    needs_reauth: bool = False
    reauth_sent_for: datetime | None = None


@dataclass
class EmulatorSettings:
    """Knobs the control API can turn."""

    max_subscription_minutes: int = 10_080  # §3.1; legacy services: 4,230
    on_excess_expiry: Literal["clamp", "reject"] = "clamp"
    require_https_notification_url: bool = False
    reauth_window_minutes: int = 60
    validation_timeout_seconds: float = 10.0  # §3.2
    requests_per_10min: int = 10_000  # per app per mailbox, §2.5
    concurrent_requests: int = 4
    retry_after_seconds: int = 5
    room_delete_subject: bool = True  # Set-CalendarProcessing defaults, §2.3


@dataclass
class MicrosoftState:
    settings: EmulatorSettings = field(default_factory=EmulatorSettings)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    token_marker: str = ""  # embedded in issued refresh tokens (tests' canary marker)

    def tenant(self, ref: str) -> Tenant | None:
        ref = ref.lower()
        for tenant in self.tenants.values():
            if ref in (tenant.id.lower(), tenant.domain.lower()):
                return tenant
        return None

    def user(self, ref: str) -> User | None:
        """By object id or user principal name (case-insensitive)."""
        found = self.users.get(ref)
        if found is not None:
            return found
        ref = ref.lower()
        for user in self.users.values():
            if ref in (user.upn.lower(), user.id.lower()):
                return user
        return None

    def add_tenant(self, domain: str, display_name: str, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id or new_guid(), domain, display_name)
        self.tenants[tenant.id] = tenant
        return tenant

    def add_user(self, tenant: Tenant, upn: str, display_name: str, **kw: Any) -> User:
        if self.user(upn) is not None:
            raise ValueError(f"user {upn!r} already exists")
        user = User(
            id=kw.pop("user_id", None) or new_guid(),
            tenant_id=tenant.id,
            upn=upn,
            display_name=display_name,
            **kw,
        )
        self.users[user.id] = user
        return user
