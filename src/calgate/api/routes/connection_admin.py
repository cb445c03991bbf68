"""Account admins: users' calendar connections (list, remove = R6) and the account's own
app registrations at the providers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, status

from calgate.api.deps import PrincipalDep, RuntimeDep, UowDep
from calgate.api.routes.connection_schemas import AppIn, AppOut, ConnectionOut
from calgate.api.routes.push_schemas import NotificationsOut
from calgate.connections.apps import supported
from calgate.services.tenancy import require_account_admin
from calgate.vault.base import Secret

__all__ = ["router"]

router = APIRouter(prefix="/v1/accounts/{account_id}", tags=["connections (admin)"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such id in the caller's account"}
}


@router.get(
    "/users/{user_id}/connections",
    response_model=list[ConnectionOut],
    responses=NOT_FOUND,
    summary="A user's calendar connections",
)
async def list_user_connections(
    account_id: uuid.UUID, user_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep
) -> list[ConnectionOut]:
    await runtime.connections.user_exists(principal, account_id, user_id)
    items = await runtime.connections.list_for(principal, account_id, user_id)
    push = await runtime.push.status(account_id, [i.connection.id for i in items])
    out = [ConnectionOut.of(i) for i in items]
    for item in out:
        item.notifications = NotificationsOut.of(push[item.id])
    return out


@router.delete(
    "/users/{user_id}/connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Remove a user's calendar integration: tokens deleted at once, revoked at the "
    "provider where it has an endpoint (R6)",
)
async def remove_user_connection(
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    connection_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> None:
    require_account_admin(principal, account_id)  # a user removes theirs via /v1/me
    await runtime.connections.removals.remove(principal, account_id, user_id, connection_id)


@router.get(
    "/providers",
    response_model=list[AppOut],
    responses=NOT_FOUND,
    summary="The app registrations this account's users connect through",
)
async def list_apps(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> list[AppOut]:
    await runtime.tenancy.get_account(uow, principal, account_id)
    return [AppOut.of(a) for a in await runtime.connections.apps.list(uow, principal, account_id)]


@router.put(
    "/providers/{provider}",
    response_model=AppOut,
    responses=NOT_FOUND,
    summary="Use the account's own app registration at a provider (the secret goes to the vault)",
)
async def put_app(
    account_id: uuid.UUID,
    provider: str,
    body: AppIn,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> AppOut:
    await runtime.tenancy.get_account(uow, principal, account_id)
    app = await runtime.connections.apps.put(
        uow,
        principal,
        account_id,
        supported(provider),
        client_id=body.client_id,
        client_secret=Secret(body.client_secret),
        tenant=body.tenant,
        redirect_uri=body.redirect_uri,
    )
    await uow.commit()
    return AppOut.of(app)


@router.delete(
    "/providers/{provider}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
    summary="Go back to the deployment's app registration",
)
async def delete_app(
    account_id: uuid.UUID, provider: str, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> None:
    await runtime.tenancy.get_account(uow, principal, account_id)
    await runtime.connections.apps.delete(uow, principal, account_id, supported(provider))
    await uow.commit()
