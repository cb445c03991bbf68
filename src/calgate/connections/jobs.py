"""Background work of calendar connections: the hourly keep-alive (idle grants refreshed
before they lapse, expired started flows and old tombstones deleted)."""

from __future__ import annotations

from datetime import timedelta

from calgate.connections.service import Connections
from calgate.jobs.model import Job
from calgate.jobs.registry import JobRegistry

__all__ = ["KEEPALIVE", "keepalive", "register_connection_jobs"]

KEEPALIVE = "connections.keepalive"


async def keepalive(job: Job, *, connections: Connections) -> None:
    await connections.keep_alive()


def register_connection_jobs(registry: JobRegistry) -> None:
    registry.register(KEEPALIVE, keepalive, max_attempts=3, timeout=timedelta(minutes=30))
    registry.schedule("connections-keepalive", KEEPALIVE, every=timedelta(hours=1))
