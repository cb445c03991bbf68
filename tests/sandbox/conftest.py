"""Fixtures shared by the emulator tests: a sandbox core on a frozen clock, and a webhook
receiver. Real-HTTP helpers live in ``support.servers`` / ``support.webhooks``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calgate.sandbox.core import SandboxCore

from support.webhooks import Receiver

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def core() -> SandboxCore:
    """A sandbox core whose clock is frozen at T0 (advance it to make things expire)."""
    sandbox = SandboxCore()
    sandbox.clock.freeze(T0)
    return sandbox


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()
