"""Accounts, admin API keys, policies, user groups, users and the audit log
(operator and account-admin routes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from calgate.api.deps import PrincipalDep, RuntimeDep, UowDep
from calgate.api.routes.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    EffectivePolicyOut,
    GroupIn,
    GroupOut,
    GroupPatch,
    Page,
    PolicyIn,
    UserIn,
    UserOut,
    UserPatch,
)
from calgate.services.audit import account_chain
from calgate.services.tenancy import require_account_admin

__all__ = ["router"]

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such id in the caller's account"}
}


# accounts -------------------------------------------------------------------------------
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    summary="Create an account (operator)",
)
async def create_account(
    body: AccountIn, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> AccountOut:
    account = await runtime.tenancy.create_account(
        uow, principal, name=body.name, policy=body.policy.changes() if body.policy else None
    )
    await uow.commit()
    return AccountOut.of(account)


@router.get("", response_model=list[AccountOut], summary="List accounts the caller may see")
async def list_accounts(
    principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> list[AccountOut]:
    return [AccountOut.of(a) for a in await runtime.tenancy.list_accounts(uow, principal)]


@router.get("/{account_id}", response_model=AccountOut, responses=NOT_FOUND)
async def get_account(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> AccountOut:
    return AccountOut.of(await runtime.tenancy.get_account(uow, principal, account_id))


@router.patch("/{account_id}", response_model=AccountOut, responses=NOT_FOUND)
async def rename_account(
    account_id: uuid.UUID,
    body: AccountPatch,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> AccountOut:
    account = await runtime.tenancy.rename_account(uow, principal, account_id, body.name)
    await uow.commit()
    return AccountOut.of(account)


@router.delete(
    "/{account_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Delete an account and everything in it (operator)",
)
async def delete_account(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> None:
    await runtime.tenancy.delete_account(uow, principal, account_id)
    await uow.commit()


# policy -----------------------------------------------------------------------------------
@router.get(
    "/{account_id}/policy",
    response_model=dict[str, Any],
    responses=NOT_FOUND,
    summary="The account's own policy values (only those it sets)",
)
async def get_account_policy(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> dict[str, Any]:
    return (await runtime.tenancy.get_account(uow, principal, account_id)).policy.to_dict()


@router.patch(
    "/{account_id}/policy",
    response_model=dict[str, Any],
    responses=NOT_FOUND,
    summary="Change account policy values (null clears a value)",
)
async def patch_account_policy(
    account_id: uuid.UUID, body: PolicyIn, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> dict[str, Any]:
    account = await runtime.tenancy.update_account_policy(
        uow, principal, account_id, body.changes()
    )
    await uow.commit()
    return account.policy.to_dict()


# API keys ---------------------------------------------------------------------------------
@router.post(
    "/{account_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=NOT_FOUND,
    summary="Create an account admin API key (shown once)",
)
async def create_api_key(
    account_id: uuid.UUID, body: ApiKeyIn, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> ApiKeyCreated:
    created = await runtime.tenancy.create_api_key(uow, principal, account_id, name=body.name)
    await uow.commit()
    return ApiKeyCreated(**ApiKeyOut.of(created.key).model_dump(), key=created.secret)


@router.get("/{account_id}/api-keys", response_model=list[ApiKeyOut], responses=NOT_FOUND)
async def list_api_keys(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> list[ApiKeyOut]:
    return [
        ApiKeyOut.of(k) for k in await runtime.tenancy.list_api_keys(uow, principal, account_id)
    ]


@router.delete(
    "/{account_id}/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def revoke_api_key(
    account_id: uuid.UUID,
    key_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> None:
    await runtime.tenancy.revoke_api_key(uow, principal, account_id, key_id)
    await uow.commit()


# groups -----------------------------------------------------------------------------------
@router.post(
    "/{account_id}/groups",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupOut,
    responses=NOT_FOUND,
)
async def create_group(
    account_id: uuid.UUID, body: GroupIn, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> GroupOut:
    group = await runtime.tenancy.create_group(
        uow,
        principal,
        account_id,
        name=body.name,
        policy=body.policy.changes() if body.policy else None,
    )
    await uow.commit()
    return GroupOut.of(group)


@router.get("/{account_id}/groups", response_model=list[GroupOut], responses=NOT_FOUND)
async def list_groups(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> list[GroupOut]:
    return [GroupOut.of(g) for g in await runtime.tenancy.list_groups(uow, principal, account_id)]


@router.get("/{account_id}/groups/{group_id}", response_model=GroupOut, responses=NOT_FOUND)
async def get_group(
    account_id: uuid.UUID,
    group_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> GroupOut:
    return GroupOut.of(await runtime.tenancy.get_group(uow, principal, account_id, group_id))


@router.patch("/{account_id}/groups/{group_id}", response_model=GroupOut, responses=NOT_FOUND)
async def rename_group(
    account_id: uuid.UUID,
    group_id: uuid.UUID,
    body: GroupPatch,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> GroupOut:
    group = await runtime.tenancy.rename_group(uow, principal, account_id, group_id, body.name)
    await uow.commit()
    return GroupOut.of(group)


@router.delete(
    "/{account_id}/groups/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Delete a user group (its users stay, in no group)",
)
async def delete_group(
    account_id: uuid.UUID,
    group_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> None:
    await runtime.tenancy.delete_group(uow, principal, account_id, group_id)
    await uow.commit()


@router.get(
    "/{account_id}/groups/{group_id}/policy", response_model=dict[str, Any], responses=NOT_FOUND
)
async def get_group_policy(
    account_id: uuid.UUID,
    group_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> dict[str, Any]:
    return (await runtime.tenancy.get_group(uow, principal, account_id, group_id)).policy.to_dict()


@router.patch(
    "/{account_id}/groups/{group_id}/policy",
    response_model=dict[str, Any],
    responses=NOT_FOUND,
    summary="Change group policy values (null clears a value)",
)
async def patch_group_policy(
    account_id: uuid.UUID,
    group_id: uuid.UUID,
    body: PolicyIn,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> dict[str, Any]:
    group = await runtime.tenancy.update_group_policy(
        uow, principal, account_id, group_id, body.changes()
    )
    await uow.commit()
    return group.policy.to_dict()


# users ------------------------------------------------------------------------------------
@router.post(
    "/{account_id}/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=NOT_FOUND,
)
async def create_user(
    account_id: uuid.UUID, body: UserIn, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> UserOut:
    user = await runtime.tenancy.create_user(
        uow,
        principal,
        account_id,
        email=str(body.email),
        display_name=body.display_name,
        group_id=body.group_id,
        password=body.password,
        external_id=body.external_id,
    )
    await uow.commit()
    return UserOut.of(user)


@router.get("/{account_id}/users", response_model=Page[UserOut], responses=NOT_FOUND)
async def list_users(
    account_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
    group_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=320)] = None,
) -> Page[UserOut]:
    users = await runtime.tenancy.list_users(
        uow, principal, account_id, group_id=group_id, limit=limit, after=after
    )
    return Page[UserOut](
        items=[UserOut.of(u) for u in users], next=users[-1].email if len(users) == limit else None
    )


@router.get("/{account_id}/users/{user_id}", response_model=UserOut, responses=NOT_FOUND)
async def get_user(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> UserOut:
    return UserOut.of(await runtime.tenancy.get_user(uow, principal, account_id, user_id))


@router.patch("/{account_id}/users/{user_id}", response_model=UserOut, responses=NOT_FOUND)
async def update_user(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    body: UserPatch,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> UserOut:
    user = await runtime.tenancy.update_user(uow, principal, account_id, user_id, body.changes())
    await uow.commit()
    return UserOut.of(user)


@router.delete(
    "/{account_id}/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def delete_user(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> None:
    await runtime.tenancy.delete_user(uow, principal, account_id, user_id)
    await uow.commit()


@router.get(
    "/{account_id}/users/{user_id}/effective-policy",
    response_model=EffectivePolicyOut,
    responses=NOT_FOUND,
    summary="The user's effective policy, each value with where it came from (R15)",
)
async def effective_policy(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> EffectivePolicyOut:
    user = await runtime.tenancy.get_user(uow, principal, account_id, user_id)
    return EffectivePolicyOut.of(
        user, await runtime.tenancy.effective_policy(uow, account_id, user)
    )


# audit ------------------------------------------------------------------------------------
class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str


class AuditVerifyOut(BaseModel):
    chain: str
    valid: bool
    entries: int
    first_bad_seq: int | None
    problem: str | None


@router.get(
    "/{account_id}/audit",
    response_model=Page[AuditEntryOut],
    responses=NOT_FOUND,
    summary="The account's audit log, oldest first",
)
async def list_audit(
    account_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
    after: Annotated[int, Query(ge=0, description="sequence number to continue after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[AuditEntryOut]:
    require_account_admin(principal, account_id)
    rows = await uow.audit.list(account_chain(account_id), after_seq=after, limit=limit)
    items = [
        AuditEntryOut(
            seq=r.seq,
            at=r.at,
            actor=r.actor,
            action=r.action,
            target=r.target,
            details=r.details,
            hash=r.hash,
        )
        for r in rows
    ]
    return Page[AuditEntryOut](items=items, next=str(rows[-1].seq) if len(rows) == limit else None)


@router.get(
    "/{account_id}/audit/verify",
    response_model=AuditVerifyOut,
    responses=NOT_FOUND,
    summary="Check the account's audit chain for edited or removed entries",
)
async def verify_audit(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> AuditVerifyOut:
    require_account_admin(principal, account_id)
    report = await runtime.audit.verify(uow, account_chain(account_id))
    return AuditVerifyOut(
        chain=report.chain,
        valid=report.valid,
        entries=report.entries,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )
