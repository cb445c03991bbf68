"""What every part of the Google emulator shares: the sandbox core, the emulator's state, its
tunable settings, and the hook that fires push notifications after a change."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.google.state import GoogleState

__all__ = ["GoogleContext", "GoogleSettings", "ctx", "emulator_root"]


@dataclass
class GoogleSettings:
    """Lifetimes and limits, each from provider-protocols §4–§5 unless marked as a sandbox
    choice. Change them in tests or through ``PATCH /_sandbox/google/settings``."""

    access_token_ttl: timedelta = timedelta(seconds=3600)  # §4.2: access tokens last 1 hour
    code_ttl: timedelta = timedelta(minutes=10)  # sandbox choice
    refresh_cap: int = 100  # §4.2: 100 refresh tokens per account per client id
    testing_refresh_ttl: timedelta = timedelta(days=7)  # §4.2: Testing apps
    unused_refresh_ttl: timedelta = timedelta(days=183)  # §4.2: 6 months unused
    sync_token_ttl: timedelta = timedelta(days=30)  # sandbox choice (undocumented)
    expansion_horizon: timedelta = timedelta(days=730)  # sandbox choice for open series
    channel_default_ttl: timedelta = timedelta(seconds=604800)  # §5.3: 7 days
    channel_max_ttl: timedelta = timedelta(days=30)  # sandbox choice (verify)
    require_https_webhooks: bool = False  # §5.3 requires HTTPS; off so loopback demos work
    quota_per_minute: int = 0  # per user; 0 = unlimited
    quota_status: int = 403  # 403 userRateLimitExceeded or 429 rateLimitExceeded (§5.4)


@dataclass
class GoogleContext:
    core: SandboxCore
    state: GoogleState
    settings: GoogleSettings
    on_change: Callable[[str], None] = field(default=lambda _calendar_id: None)
    quota_window: dict[str, tuple[int, int]] = field(default_factory=dict)
    list_cache: OrderedDict[tuple[Any, ...], list[dict[str, Any]]] = field(
        default_factory=OrderedDict
    )

    def now(self) -> datetime:
        return self.core.clock.now()

    def count(self, name: str) -> None:
        self.core.count("google", name)


def emulator_root(request: Request) -> str:
    """``http://host:port/google/``: where this emulator is mounted, from the request."""
    root_path = str(request.scope.get("root_path", ""))
    return str(request.url.replace(path=root_path.rstrip("/") + "/", query="", fragment=""))


def ctx(request: Request) -> GoogleContext:
    context = request.app.state.google
    assert isinstance(context, GoogleContext)
    return context
