"""Subscriptions as the rest of calgate sees them, and the secret they carry."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from calgate.domain.policy import Provider
from calgate.vault.base import Secret

__all__ = [
    "SECRET_OWNER",
    "SubscriptionState",
    "SubscriptionView",
    "digest",
    "new_secret",
]

SECRET_OWNER = "subscriptions"  # noqa: S105 - the vault owner name of clientState / channel tokens


class SubscriptionState(StrEnum):
    PENDING = "pending"  # Google: stored before events.watch, so its first message is known
    ACTIVE = "active"
    REPLACED = "replaced"  # Google: superseded by a new channel; accepted until it lapses


def new_secret() -> Secret:
    """256 random bits, URL-safe (Graph clientState ≤ 128 chars, Google token ≤ 256)."""
    return Secret(secrets.token_urlsafe(32))


def digest(value: str) -> str:
    """SHA-256 of a presented secret, compared in constant time with the stored one (the
    secret itself is 256 random bits, so an unkeyed digest reveals nothing)."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """What an admin sees of a connection's subscription (never its secret)."""

    id: uuid.UUID
    provider: Provider
    state: SubscriptionState
    expires_at: datetime | None
    renew_at: datetime | None
    last_notification_at: datetime | None
    last_error: str | None
