"""Who is calling: every request is made by exactly one principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "PrincipalKind"]


class PrincipalKind(StrEnum):
    OPERATOR = "operator"
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    account_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None
    session_id: str | None = None  # a user session's id (binds started OAuth flows)

    @property
    def actor(self) -> str:
        """How the audit log names this principal (ids only, never a credential)."""
        if self.kind is PrincipalKind.OPERATOR:
            return "operator"
        if self.kind is PrincipalKind.ADMIN:
            return f"admin-key:{self.key_id}"
        return f"user:{self.user_id}"

    def can_administer(self, account_id: uuid.UUID) -> bool:
        if self.kind is PrincipalKind.OPERATOR:
            return True
        return self.kind is PrincipalKind.ADMIN and self.account_id == account_id
