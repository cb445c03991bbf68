"""Shared sandbox machinery: a controllable clock, fault injection and call counters.

Every emulator takes a :class:`SandboxCore`; its ASGI app is wrapped by
:class:`FaultMiddleware`, so faults injected through ``/_sandbox/faults`` apply to it the way
a real service's outages and throttling would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from fastapi import APIRouter

    from calgate.sandbox.webhooks import WebhookDispatcher

__all__ = [
    "Emulator",
    "Fault",
    "FaultInjector",
    "FaultMiddleware",
    "SandboxClock",
    "SandboxCore",
]


class SandboxClock:
    """Real time plus an offset, or frozen. Emulators ask it for every expiry and timestamp
    so tests can make a token lapse or a subscription expire without waiting."""

    def __init__(self, real: Callable[[], datetime] | None = None) -> None:
        self._real = real or (lambda: datetime.now(UTC))
        self._offset = timedelta()
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return self._real() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def freeze(self, at: datetime | None = None) -> datetime:
        self._frozen = (at.astimezone(UTC) if at else self.now()).replace(microsecond=0)
        return self._frozen

    def unfreeze(self) -> datetime:
        if self._frozen is not None:
            self._offset = self._frozen - self._real()
            self._frozen = None
        return self.now()

    def advance(self, seconds: float) -> datetime:
        delta = timedelta(seconds=seconds)
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta
        return self.now()


FaultKind = Literal["status", "latency", "drop_notifications"]


@dataclass
class Fault:
    """One injected fault. ``status`` answers the next ``count`` matching calls with
    ``status`` (429/5xx, optional ``Retry-After``); ``latency`` delays them by ``latency_ms``;
    ``drop_notifications`` swallows the next ``count`` webhook deliveries."""

    id: int
    kind: FaultKind
    provider: str = "*"
    path_prefix: str = ""
    count: int = 1
    status: int = 503
    retry_after: int | None = None
    latency_ms: int = 0
    hits: int = 0

    def matches(self, provider: str, path: str) -> bool:
        return (self.provider in ("*", provider)) and path.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class FaultInjector:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, **spec: Any) -> Fault:
        fault = Fault(id=next(self._ids), **spec)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[Fault]:
        return list(self._faults)

    def _take(self, kind: FaultKind, provider: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.matches(provider, path):
                fault.hits += 1
                if fault.hits >= fault.count:
                    self._faults.remove(fault)
                return fault
        return None

    def take_request_fault(self, provider: str, path: str) -> tuple[Fault | None, Fault | None]:
        """(latency fault, status fault) to apply to one incoming request, each consumed."""
        return self._take("latency", provider, path), self._take("status", provider, path)

    def take_drop(self, provider: str, path: str = "") -> bool:
        return self._take("drop_notifications", provider, path) is not None


@dataclass
class SandboxCore:
    """State shared by all emulators of one sandbox."""

    clock: SandboxClock = field(default_factory=SandboxClock)
    faults: FaultInjector = field(default_factory=FaultInjector)
    counters: Counter[str] = field(default_factory=Counter)
    webhooks: WebhookDispatcher | None = None

    def count(self, provider: str, name: str, n: int = 1) -> None:
        """Record a call, e.g. ``count("google", "token.refresh")``; read via
        ``GET /_sandbox/counters``."""
        self.counters[f"{provider}.{name}"] += n

    def counters_for(self, provider: str | None = None) -> dict[str, int]:
        if provider is None:
            return dict(sorted(self.counters.items()))
        prefix = provider + "."
        return {
            k[len(prefix) :]: v for k, v in sorted(self.counters.items()) if k.startswith(prefix)
        }


class Emulator(Protocol):
    """What a provider package exports to the sandbox."""

    name: str  # path prefix: /google, /microsoft

    def asgi_app(self) -> ASGIApp: ...

    def control_router(self) -> APIRouter:
        """Routes mounted under ``/_sandbox/{name}``: users, calendars, events, revoke…"""
        ...

    def describe(self, base_url: str) -> dict[str, Any]:
        """Seeded clients and users, for `calgate sandbox` to print and for tests."""
        ...


class FaultMiddleware:
    """Applies injected latency and error faults to one emulator's requests (the error body
    is the provider's own error format, produced by ``error_body``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        core: SandboxCore,
        provider: str,
        error_body: Callable[[int], dict[str, Any]],
    ) -> None:
        self.app = app
        self.core = core
        self.provider = provider
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        latency, status = self.core.faults.take_request_fault(self.provider, path)
        if latency is not None:
            await asyncio.sleep(latency.latency_ms / 1000)
        if status is None:
            await self.app(scope, receive, send)
            return
        self.core.count(self.provider, f"fault.{status.status}")
        body = json.dumps(self.error_body(status.status)).encode()
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status.retry_after is not None:
            headers.append((b"retry-after", str(status.retry_after).encode()))
        await send({"type": "http.response.start", "status": status.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
