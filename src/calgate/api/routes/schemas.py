"""Request and response schemas shared by the tenancy routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from calgate.domain.model import Account, ApiKey, Group, User
from calgate.domain.policy import Access, ContactsAccess, EffectivePolicy, Provider

T = TypeVar("T")

__all__ = [
    "AccountIn",
    "AccountOut",
    "AccountPatch",
    "ApiKeyCreated",
    "ApiKeyIn",
    "ApiKeyOut",
    "EffectivePolicyOut",
    "GroupIn",
    "GroupOut",
    "GroupPatch",
    "Page",
    "PolicyIn",
    "ResolvedOut",
    "Strict",
    "UserIn",
    "UserOut",
    "UserPatch",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(Strict):
    """A partial policy: fields left out are unchanged; a field set to null is cleared
    (inherits again)."""

    bidirectional_sync: bool | None = None
    calendar_access: Access | None = None
    contacts_access: ContactsAccess | None = None
    google_calendar_access: Access | None = Field(
        default=None, description="Ceiling for Google Workspace connections (R7)."
    )
    allowed_providers: list[Provider] | None = Field(default=None, min_length=0)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(mode="json", include=self.model_fields_set)


Name = Field(min_length=1, max_length=200)


class AccountIn(Strict):
    name: str = Name
    policy: PolicyIn | None = None


class AccountPatch(Strict):
    name: str = Name


class AccountOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    policy: dict[str, Any]

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(id=a.id, name=a.name, created_at=a.created_at, policy=a.policy.to_dict())


class GroupIn(Strict):
    name: str = Name
    policy: PolicyIn | None = None


class GroupPatch(Strict):
    name: str = Name


class GroupOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    created_at: datetime
    policy: dict[str, Any]

    @classmethod
    def of(cls, g: Group) -> GroupOut:
        return cls(
            id=g.id,
            account_id=g.account_id,
            name=g.name,
            created_at=g.created_at,
            policy=g.policy.to_dict(),
        )


class UserIn(Strict):
    email: EmailStr
    display_name: str | None = Field(default=None, max_length=200)
    group_id: uuid.UUID | None = None
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        description="Only for calgate's own user directory (local sign-in); never returned.",
    )
    external_id: str | None = Field(
        default=None, max_length=255, description="Subject (`sub`) of the user's OIDC identity."
    )


class UserPatch(Strict):
    email: EmailStr | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    group_id: uuid.UUID | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    external_id: str | None = Field(default=None, max_length=255)

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}


class UserOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    email: str
    display_name: str
    group_id: uuid.UUID | None
    external_id: str | None
    has_password: bool
    created_at: datetime

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls(
            id=u.id,
            account_id=u.account_id,
            email=u.email,
            display_name=u.display_name,
            group_id=u.group_id,
            external_id=u.external_id,
            has_password=u.has_password,
            created_at=u.created_at,
        )


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(default=None, description="Pass as `after` to get the next page.")


class ApiKeyIn(Strict):
    name: str = Name


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    hint: str = Field(description="Last four characters of the key, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id,
            account_id=k.account_id,
            name=k.name,
            hint=k.hint,
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. Shown this once; calgate stores only a digest.")


class ResolvedOut(BaseModel):
    value: Any
    source: str = Field(description="`account`, `group` or `default`")
    reason: str


class EffectivePolicyOut(BaseModel):
    account_id: uuid.UUID
    user_id: uuid.UUID
    group_id: uuid.UUID | None
    policy: dict[str, ResolvedOut]

    @classmethod
    def of(cls, user: User, eff: EffectivePolicy) -> EffectivePolicyOut:
        out: dict[str, ResolvedOut] = {}
        for name, rv in eff.as_dict().items():
            value = rv.value
            if isinstance(value, frozenset):
                value = sorted(str(v) for v in value)
            elif hasattr(value, "value"):
                value = value.value
            out[name] = ResolvedOut(value=value, source=rv.source, reason=rv.reason)
        return cls(account_id=user.account_id, user_id=user.id, group_id=user.group_id, policy=out)
