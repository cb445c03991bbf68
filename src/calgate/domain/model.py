"""Tenancy: accounts own user groups and users; everything else hangs off an account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from calgate.domain.policy import PolicyOverrides

__all__ = ["Account", "ApiKey", "Group", "User"]


@dataclass(frozen=True, slots=True)
class Account:
    id: uuid.UUID
    name: str
    created_at: datetime
    policy: PolicyOverrides = field(default_factory=PolicyOverrides)


@dataclass(frozen=True, slots=True)
class Group:
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    created_at: datetime
    policy: PolicyOverrides = field(default_factory=PolicyOverrides)


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    account_id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime
    group_id: uuid.UUID | None = None
    external_id: str | None = None
    has_password: bool = False


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None = None
