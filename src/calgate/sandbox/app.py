"""The sandbox application: every emulator under its path prefix, plus the control API.

``create_sandbox_app()`` is what ``calgate sandbox`` serves and what tests mount in-process
(with an ``httpx`` client whose transport reaches calgate, so webhooks arrive in-process).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from calgate.sandbox.core import Emulator, SandboxCore
from calgate.sandbox.webhooks import WebhookDispatcher

__all__ = ["SandboxApp", "create_sandbox_app"]


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["freeze", "unfreeze", "advance", "set"]
    seconds: float = 0
    at: datetime | None = None


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["status", "latency", "drop_notifications"]
    provider: str = "*"
    path_prefix: str = ""
    count: int = Field(default=1, ge=1, le=100_000)
    status: int = Field(default=503, ge=400, le=599)
    retry_after: int | None = Field(default=None, ge=0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)


class SandboxApp(FastAPI):
    core: SandboxCore
    emulators: dict[str, Emulator]


def _control_router(core: SandboxCore, emulators: Sequence[Emulator]) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "emulators": [e.name for e in emulators],
            "now": core.clock.now().isoformat(),
            "frozen": core.clock.frozen,
        }

    @router.get("/clock")
    async def get_clock() -> dict[str, Any]:
        return {"now": core.clock.now().isoformat(), "frozen": core.clock.frozen}

    @router.post("/clock")
    async def set_clock(body: ClockIn) -> dict[str, Any]:
        if body.action == "freeze":
            core.clock.freeze(body.at)
        elif body.action == "unfreeze":
            core.clock.unfreeze()
        elif body.action == "advance":
            core.clock.advance(body.seconds)
        else:
            if body.at is None:
                raise ValueError("`at` is required to set the clock")
            core.clock.freeze(body.at)
        return {"now": core.clock.now().isoformat(), "frozen": core.clock.frozen}

    @router.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return [f.as_dict() for f in core.faults.list()]

    @router.post("/faults", status_code=201)
    async def add_fault(body: FaultIn) -> dict[str, Any]:
        return core.faults.add(**body.model_dump()).as_dict()

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> None:
        core.faults.clear()

    @router.get("/counters")
    async def counters(provider: str | None = None) -> dict[str, int]:
        return core.counters_for(provider)

    @router.delete("/counters", status_code=204)
    async def reset_counters() -> None:
        core.counters.clear()

    @router.get("/deliveries")
    async def deliveries(provider: str | None = None) -> list[dict[str, Any]]:
        assert core.webhooks is not None
        return [d.summary() for d in core.webhooks.history(provider)]

    @router.post("/deliveries/drain")
    async def drain() -> dict[str, str]:
        assert core.webhooks is not None
        await core.webhooks.drain()
        return {"status": "drained"}

    @router.get("/describe")
    async def describe(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {e.name: e.describe(base) for e in emulators}

    return router


def create_sandbox_app(
    emulators: Sequence[Emulator] | None = None,
    *,
    core: SandboxCore | None = None,
    webhook_client: httpx.AsyncClient | None = None,
) -> SandboxApp:
    """Compose the sandbox. Without ``emulators``, every provider emulator is included.
    ``webhook_client`` is the client webhooks are POSTed with (default: a plain client)."""
    core = core or SandboxCore()
    if emulators is None:
        emulators = default_emulators(core)
    owns_client = webhook_client is None
    client = webhook_client or httpx.AsyncClient(timeout=10.0)
    core.webhooks = WebhookDispatcher(core, client)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        assert core.webhooks is not None
        await core.webhooks.start()
        try:
            async with AsyncExitStack() as stack:
                # An emulator may run background work while the sandbox serves (optional
                # ``lifespan()`` async context manager, e.g. expiring subscriptions).
                for emulator in emulators:
                    hook = getattr(emulator, "lifespan", None)
                    if hook is not None:
                        await stack.enter_async_context(hook())
                yield
        finally:
            await core.webhooks.stop()
            if owns_client:
                await client.aclose()

    app = SandboxApp(
        title="calgate sandbox",
        lifespan=lifespan,
        openapi_url="/_sandbox/openapi.json",
        docs_url="/_sandbox/docs",
        redoc_url=None,
    )
    app.core = core
    app.emulators = {e.name: e for e in emulators}
    app.include_router(_control_router(core, emulators))
    for emulator in emulators:
        app.include_router(emulator.control_router(), prefix=f"/_sandbox/{emulator.name}")
        app.mount(f"/{emulator.name}", emulator.asgi_app())
    return app


_EMULATORS = {
    "google": "calgate.sandbox.google:GoogleEmulator",
    "microsoft": "calgate.sandbox.microsoft:MicrosoftEmulator",
    "exchange": "calgate.sandbox.exchange:ExchangeEmulator",
}


def default_emulators(core: SandboxCore) -> list[Emulator]:
    """Every emulator that exists, each with its seeded data."""
    found: list[Emulator] = []
    for target in _EMULATORS.values():
        module_name, _, cls_name = target.partition(":")
        if importlib.util.find_spec(module_name) is None:
            continue  # not built yet
        cls = getattr(importlib.import_module(module_name), cls_name)
        found.append(cls(core))
    return found
