"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from calgate import __version__
from calgate.api.deps import RuntimeDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"description": "a dependency is down"}},
)
async def readyz(runtime: RuntimeDep) -> dict[str, str]:
    await runtime.check_database()
    return {"status": "ready", "database": "ok"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
