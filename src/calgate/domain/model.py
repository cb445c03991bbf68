"""Tenancy: accounts own user groups and users; everything else hangs off an account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from calgate.domain.policy import PolicyOverrides

__all__ = ["Account", "ApiKey", "AuditEntry", "Group", "User"]


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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of an audit hash chain (see :mod:`calgate.services.audit`)."""

    chain: str
    seq: int
    account_id: uuid.UUID | None
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
