"""Shared fixtures of the connector contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from calgate.clock import FrozenClock
from calgate.sandbox.microsoft.tokens import TokenSigner

from support.connect import SandboxWorld, sandbox_world


@pytest.fixture(scope="session")
def ms_signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def sandbox(clock: FrozenClock, ms_signer: TokenSigner) -> AsyncIterator[SandboxWorld]:
    async with sandbox_world(clock, ms_signer) as world:
        yield world
