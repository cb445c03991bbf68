"""`create_app(settings)`: the FastAPI application. Its lifespan owns the runtime (engine,
HTTP client, …) unless a test hands one in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from calgate import __version__
from calgate.api import stream
from calgate.api.middleware import ObservabilityMiddleware
from calgate.api.problems import install_problem_handlers
from calgate.api.routes import (
    accounts,
    connection_admin,
    connection_events,
    connections,
    health,
    join,
    meetings,
    operator,
    sessions,
    webhooks,
)
from calgate.bootstrap import Runtime, build_runtime
from calgate.metrics import Metrics
from calgate.settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """calgate connects a video-meeting platform's apps to the calendars their users
already have (Microsoft 365, Google Workspace, Exchange, CalDAV).

Authenticate with `Authorization: Bearer <token>`: the operator key, an account admin API
key, or a user session token from `POST /v1/sessions`. Errors are
`application/problem+json` (RFC 9457)."""


@asynccontextmanager
async def _background_jobs(runtime: Runtime, enabled: bool) -> AsyncIterator[None]:
    """Run the job runner alongside the app (``calgate serve`` without ``--no-jobs``)."""
    if not enabled:
        yield
        return
    runner = runtime.job_runner()
    task = asyncio.create_task(runner.run(), name="calgate-jobs")
    try:
        yield
    finally:
        runner.stop()
        await task


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    run_jobs: bool = False,
    **runtime_kwargs: Any,
) -> FastAPI:
    """Build the app. With ``runtime`` given, the caller owns it; otherwise the lifespan
    builds one from ``settings`` (``runtime_kwargs`` go to `build_runtime`) and closes it.
    ``run_jobs`` runs the background job runner for as long as the app is up."""
    metrics = runtime.metrics if runtime is not None else Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            await runtime.hub.start()
            async with _background_jobs(runtime, run_jobs):
                yield
            return
        built = await build_runtime(settings, metrics=metrics, **runtime_kwargs)
        app.state.runtime = built
        try:
            await built.hub.start()
            async with _background_jobs(built, run_jobs):
                yield
        finally:
            await built.aclose()

    app = FastAPI(
        title="calgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.metrics = metrics
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(accounts.router)
    app.include_router(stream.router)
    app.include_router(operator.router)
    app.include_router(meetings.router)
    app.include_router(join.router)
    app.include_router(connections.router)
    app.include_router(connection_events.router)
    app.include_router(connection_admin.router)
    app.include_router(webhooks.router)
    app.router.routes[0:0] = connections.hot_routes  # matched before every other route
    app.router.routes[0:0] = webhooks.hot_routes
    return app
