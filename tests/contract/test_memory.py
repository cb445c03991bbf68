"""The in-memory reference connector against the contract."""

from __future__ import annotations

import pytest

from calgate.connectors.base import TokenGrant
from calgate.connectors.memory import MemoryConnector
from calgate.connectors.memory.client import MemoryWorld
from calgate.connectors.oauth import new_pkce_pair
from calgate.domain.policy import Access, ContactsAccess

from .contract import ConnectorContract, utc_window

REDIRECT = "http://testserver/v1/oauth/callback"


@pytest.fixture
def world() -> MemoryWorld:
    return MemoryWorld()


@pytest.fixture
def connector(world: MemoryWorld) -> MemoryConnector:
    return MemoryConnector(world=world)


@pytest.fixture
def account_email() -> str:
    return "alice@example.com"


@pytest.fixture
async def grant(connector: MemoryConnector, world: MemoryWorld, account_email: str) -> TokenGrant:
    verifier, challenge = new_pkce_pair()
    scopes = frozenset(connector.scopes_for(Access.READ_WRITE, ContactsAccess.NONE))
    code = world.approve(account_email, scopes, challenge, REDIRECT)
    return await connector.exchange_code(code=code, code_verifier=verifier, redirect_uri=REDIRECT)


@pytest.fixture
def calendar_id() -> str:
    return "primary"


@pytest.fixture
def window(clock):
    return utc_window(clock.now())


@pytest.fixture
def expire_sync_tokens(world: MemoryWorld):
    async def expire() -> None:
        world.expire_sync_tokens()

    return expire


class TestMemoryConnector(ConnectorContract):
    pass
