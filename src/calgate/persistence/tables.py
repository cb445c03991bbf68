"""SQLAlchemy table models. Portable across SQLite and PostgreSQL; changed only together with
a new Alembic revision in ``migrations/versions`` (a test compares the two)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from calgate.persistence.types import JSONType, UTCDateTime

__all__ = [
    "AccountRow",
    "ApiKeyRow",
    "AuditEventRow",
    "AuditHeadRow",
    "Base",
    "ConnectionRow",
    "GroupRow",
    "JobRow",
    "JobScheduleRow",
    "MeetingOccurrenceRow",
    "MeetingRow",
    "OAuthStateRow",
    "OperatorOtpRow",
    "ProviderAppRow",
    "SchedulingIdentityRow",
    "SchedulingTrustRow",
    "SubscriptionRow",
    "SyncStateRow",
    "SyncedEventRow",
    "UserEventRow",
    "UserRow",
    "VaultDataKeyRow",
    "VaultSecretRow",
    "WebhookInboxRow",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT autoincrement ids need INTEGER on SQLite to alias the rowid.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupRow(Base):
    __tablename__ = "user_groups"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("account_id", "email"),
        Index("ix_users_external_id", "external_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_groups.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEventRow(Base):
    """One entry of a hash chain. No foreign keys: the audit log outlives what it describes."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The last entry of each chain, so that a truncated tail is detected too."""

    __tablename__ = "audit_heads"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class JobRow(Base):
    """A durable background job (see :mod:`calgate.jobs`). The payload holds ids only."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_run_at", "state", "run_at"),
        Index("ix_jobs_state_updated_at", "state", "updated_at"),
        # At most one *queued* job per (kind, dedupe key): later enqueues coalesce into it.
        Index(
            "uq_jobs_kind_dedupe_key_queued",
            "kind",
            "dedupe_key",
            unique=True,
            sqlite_where=text("state = 'queued' AND dedupe_key IS NOT NULL"),
            postgresql_where=text("state = 'queued' AND dedupe_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobScheduleRow(Base):
    """Recurring work: the runner that moves ``next_run_at`` forward enqueues the job, so
    any number of runners share it without a leader."""

    __tablename__ = "job_schedules"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserEventRow(Base):
    """A notification for one user's apps (see :mod:`calgate.notify`): ids only, never
    event content. Kept for a retention window so that streams can resume."""

    __tablename__ = "user_events"
    __table_args__ = (Index("ix_user_events_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    coalesce_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class VaultDataKeyRow(Base):
    """A data key (DEK) of one account, wrapped by a key-encryption key (see
    :mod:`calgate.vault`). Exactly one per account is current (``retired_at`` null); deleting
    an account's rows destroys its keys (crypto-shredding)."""

    __tablename__ = "vault_data_keys"
    __table_args__ = (
        UniqueConstraint("account_id", "version"),
        Index(
            "uq_vault_data_keys_current",
            "account_id",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        Index("ix_vault_data_keys_kek_id", "kek_id"),
    )

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str] = mapped_column(String(200))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    encryptions: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VaultSecretRow(Base):
    """One encrypted secret (AES-256-GCM ciphertext only), bound to its place by associated
    data: (account, owner table, owner row id, field). No foreign key to its data key: a
    ciphertext whose key was destroyed simply stays unreadable."""

    __tablename__ = "vault_secrets"
    __table_args__ = (
        UniqueConstraint("owner", "owner_id", "field"),
        Index("ix_vault_secrets_account_id_dek_id", "account_id", "dek_id"),
        Index("ix_vault_secrets_dek_id", "dek_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    owner: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(64))
    dek_id: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OperatorOtpRow(Base):
    """The last accepted TOTP step of the operator's second factor (single-use codes)."""

    __tablename__ = "operator_otp_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_step: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeetingRow(Base):
    """A meeting of the built-in registry (see :mod:`calgate.meetings`). The id is the
    meeting number itself (9–11 random digits). Only what R11 lets scheduling tools submit is
    kept: topic, start, time zone, duration and recurrence."""

    __tablename__ = "meetings"
    __table_args__ = (
        Index("ix_meetings_account_id_owner_id_start_at", "account_id", "owner_id", "start_at"),
        Index("ix_meetings_account_id_start_at", "account_id", "start_at"),
        Index("ix_meetings_expires_at", "expires_at"),
        Index("ix_meetings_cancelled_at", "cancelled_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(300))
    passcode: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    time_zone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    recurrence_rule: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MeetingOccurrenceRow(Base):
    """One occurrence of a meeting series that moved or was cancelled, keyed by its
    original start."""

    __tablename__ = "meeting_occurrences"

    meeting_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    original_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    cancelled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SchedulingTrustRow(Base):
    """Which add-in tokens an account accepts (R14): an Entra ID tenant (``kind`` entra,
    ``issuer`` = tenant id) or an on-premises Exchange server (``kind`` exchange, ``issuer`` =
    its authentication metadata URL), with the accepted audiences. A tenant or server belongs
    to one account."""

    __tablename__ = "scheduling_trusts"
    __table_args__ = (UniqueConstraint("kind", "issuer"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(500))
    audiences: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SchedulingIdentityRow(Base):
    """An add-in identity linked to a calgate user: an Entra ID object id in a tenant, or an
    Exchange mailbox id (``msexchuid``) at a metadata URL. Ids only, never a token."""

    __tablename__ = "scheduling_identities"
    __table_args__ = (UniqueConstraint("kind", "issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConnectionRow(Base):
    """A user's calendar connection (see :mod:`calgate.connections`). Its refresh and access
    tokens are in the vault (owner ``connections``); ``token_version`` moves on every refresh
    (compare-and-swap), ``lease_*`` is the cross-process single-flight refresh lease. A
    removed connection stays as a tombstone (no secrets, no account details) so that apps
    learn why, until housekeeping deletes it."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_account_id_user_id", "account_id", "user_id"),
        Index("ix_connections_status_last_refreshed_at", "status", "last_refreshed_at"),
        # One live connection per provider account and user; tombstones do not count.
        Index(
            "uq_connections_user_id_provider_subject_live",
            "user_id",
            "provider",
            "subject",
            unique=True,
            sqlite_where=text("status != 'removed'"),
            postgresql_where=text("status != 'removed'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(255))
    account_email: Mapped[str | None] = mapped_column(String(320))
    client_id: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    token_scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(24))
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reauth_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(16))


class OAuthStateRow(Base):
    """A started calendar connection: the SHA-256 of its single-use ``state``, bound to the
    user and session that started it and (once opened) to the browser that carries it. The
    PKCE verifier is in the vault (owner ``oauth_states``). Deleted when used or expired."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    login_hint: Mapped[str | None] = mapped_column(String(320))
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ProviderAppRow(Base):
    """An account's own app registration at a provider (overrides the deployment's); the
    client secret is in the vault (owner ``provider_apps``)."""

    __tablename__ = "provider_apps"
    __table_args__ = (UniqueConstraint("account_id", "provider"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(255))
    tenant: Mapped[str | None] = mapped_column(String(255))
    redirect_uri: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscriptionRow(Base):
    """A provider change-notification subscription of a connection (issue #6): a Graph
    subscription or a Google watch channel. ``external_id`` is the provider's id (Graph
    subscription id, Google channel id — ours); its secret (Graph ``clientState``, Google
    channel token) is in the vault (owner ``subscriptions``) and, for the constant-time check
    on every webhook, as its SHA-256 in ``secret_digest``. ``renew_at`` is the due time of
    the next renewal (80 % of the lifetime the provider granted)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("provider", "external_id"),
        Index("ix_subscriptions_renew_at", "renew_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(24))
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renew_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_notification_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))


class WebhookInboxRow(Base):
    """A provider notification, stored before it is acknowledged: ids only (Graph basic
    notifications carry no event content; Google's carry none at all). ``dedupe_key`` is
    unique, so a replayed or repeated notification is dropped. Purged after the
    notification retention."""

    __tablename__ = "webhook_inbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    connection_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SyncStateRow(Base):
    """Incremental sync of one connection: the provider's cursor (Google ``nextSyncToken``,
    Graph ``deltaLink``; neither is a credential), the window it covers, outcomes, and the
    due time of the next reconciliation check (``next_sync_at``)."""

    __tablename__ = "sync_states"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    cursor: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_sync_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    next_subscribe_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class SyncedEventRow(Base):
    """A calendar event tied to a meeting, kept by bi-directional sync (R8, R12; see
    :mod:`calgate.meetings.sync`). Only events that carry one of the account's meetings get a
    row. ``has_content``: the sanitized fields (topic, description, organizer name and id,
    time zone, recurrence) are sealed in the vault (owner ``synced_events``) and the times
    are set, which happens only while the event (for a series: its current or next
    occurrence) is within the next 30 days; otherwise the row is a link only (ids, meeting,
    provider version), so that a later move or deletion still reaches the meeting."""

    __tablename__ = "synced_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_id"),
        Index("ix_synced_events_account_id_user_id", "account_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE")
    )
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(1024))
    meeting_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # single | series | occurrence
    series_event_id: Mapped[str | None] = mapped_column(String(1024))
    original_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_version: Mapped[str | None] = mapped_column(String(255))
    provider_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    has_content: Mapped[bool] = mapped_column(Boolean)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
