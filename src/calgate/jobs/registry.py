"""Which handler runs which kind of job, and which recurring work exists.

Handlers are plain async functions ``async def handler(job: Job, *, dep: T, …) -> None``;
their keyword-only parameters are filled from the runtime's dependencies by name when the
registry is bound (in :mod:`calgate.bootstrap`), so a missing dependency fails at startup,
not at 3 a.m. when the job first runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from calgate.errors import ConfigurationError
from calgate.jobs.model import Job

__all__ = ["BoundJobs", "Handler", "JobKind", "JobRegistry", "Schedule"]

Handler = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int
    timeout: timedelta


@dataclass(frozen=True, slots=True)
class Schedule:
    """Recurring work: a job of ``kind`` enqueued once per ``every``."""

    name: str
    kind: str
    every: timedelta


class JobRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}
        self._schedules: dict[str, Schedule] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = 5,
        timeout: timedelta = timedelta(minutes=5),
    ) -> None:
        if kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is registered twice")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._kinds[kind] = JobKind(kind, handler, max_attempts, timeout)

    def schedule(self, name: str, kind: str, *, every: timedelta) -> None:
        if kind not in self._kinds:
            raise ValueError(f"schedule {name!r} names unregistered job kind {kind!r}")
        if every < timedelta(seconds=1):
            raise ValueError("a schedule's interval must be at least one second")
        self._schedules[name] = Schedule(name, kind, every)

    def get(self, kind: str) -> JobKind | None:
        return self._kinds.get(kind)

    @property
    def kinds(self) -> Mapping[str, JobKind]:
        return dict(self._kinds)

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return tuple(self._schedules.values())

    def bind(self, deps: Mapping[str, Any]) -> BoundJobs:
        """Inject dependencies into every handler; refuse handlers that ask for one that
        does not exist."""
        calls: dict[str, Callable[[Job], Awaitable[None]]] = {}
        for kind in self._kinds.values():
            wanted = [
                p
                for p in inspect.signature(kind.handler).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY
            ]
            missing = [p.name for p in wanted if p.name not in deps and p.default is inspect._empty]
            if missing:
                raise ConfigurationError(
                    f"job handler for {kind.name!r} needs {', '.join(missing)}, which the "
                    "runtime does not provide"
                )
            calls[kind.name] = partial(
                kind.handler, **{p.name: deps[p.name] for p in wanted if p.name in deps}
            )
        return BoundJobs(self, calls)


class BoundJobs:
    """A registry whose handlers have their dependencies: what a runner executes."""

    def __init__(
        self, registry: JobRegistry, calls: Mapping[str, Callable[[Job], Awaitable[None]]]
    ) -> None:
        self.registry = registry
        self._calls = dict(calls)

    def call(self, kind: str) -> Callable[[Job], Awaitable[None]] | None:
        return self._calls.get(kind)
