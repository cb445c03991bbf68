"""Fixtures for vault integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest

from calgate.bootstrap import Runtime

from support.vault import OPERATOR


@pytest.fixture
def make_account(runtime: Runtime) -> Callable[[str], Awaitable[uuid.UUID]]:
    async def factory(name: str = "Tenant") -> uuid.UUID:
        async with runtime.uow() as uow:
            account = await runtime.tenancy.create_account(uow, OPERATOR, name=name)
            await uow.commit()
        return account.id

    return factory
