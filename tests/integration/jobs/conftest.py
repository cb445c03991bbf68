from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind

OPERATOR = Principal(PrincipalKind.OPERATOR)


@pytest.fixture
def make_tenant_rows() -> Callable[[Runtime], Awaitable[tuple[uuid.UUID, uuid.UUID]]]:
    """An account with one user, made through the tenancy service."""

    async def factory(runtime: Runtime) -> tuple[uuid.UUID, uuid.UUID]:
        async with runtime.uow() as uow:
            account = await runtime.tenancy.create_account(uow, OPERATOR, name="Jobs Inc")
            user = await runtime.tenancy.create_user(
                uow, OPERATOR, account.id, email="jo@example.com", display_name="Jo"
            )
            await uow.commit()
        return account.id, user.id

    return factory
