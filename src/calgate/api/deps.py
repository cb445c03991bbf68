"""Request dependencies: the runtime, the unit of work and the calling principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Forbidden, Unauthenticated
from calgate.persistence.uow import SqlUnitOfWork

__all__ = [
    "PrincipalDep",
    "RuntimeDep",
    "UowDep",
    "UserDep",
    "bearer_token",
    "get_principal",
    "get_runtime",
    "get_uow",
    "get_user_principal",
]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(runtime: RuntimeDep) -> AsyncIterator[SqlUnitOfWork]:
    async with runtime.uow() as uow:
        yield uow


UowDep = Annotated[SqlUnitOfWork, Depends(get_uow)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("send `Authorization: Bearer <token>`")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    token = bearer_token(request)
    async with runtime.uow(readonly=True) as uow:
        principal = await runtime.auth.authenticate(uow, token)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_user_principal(principal: PrincipalDep) -> Principal:
    if principal.kind is not PrincipalKind.USER:
        raise Forbidden(
            "this route is for signed-in users: use a session token from POST /v1/sessions"
        )
    return principal


UserDep = Annotated[Principal, Depends(get_user_principal)]
