"""What a job is: its row as handlers see it, its states, and the exceptions a handler
raises to steer what happens next."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "GiveUp",
    "Job",
    "JobState",
    "RetryLater",
    "backoff_delay",
    "check_payload",
]

_MAX_STR = 200
_MAX_ITEMS = 100


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for its run_at (never run, or rescheduled)
    RUNNING = "running"  # leased by a runner until lease_until
    DONE = "done"
    FAILED = "failed"  # an attempt failed; waiting for its retry at run_at
    DEAD = "dead"  # gave up: attempts exhausted or the handler said so (kept for inspection)


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job, as its handler receives it. ``payload`` holds ids, never secrets."""

    id: int
    kind: str
    account_id: uuid.UUID | None
    payload: Mapping[str, Any]
    attempts: int  # this attempt's number, starting at 1
    max_attempts: int
    run_at: datetime
    dedupe_key: str | None = None


class RetryLater(Exception):
    """Raised by a handler to run the job again after ``delay`` without counting a failed
    attempt (e.g. a provider answered 429 with Retry-After)."""

    def __init__(self, delay: timedelta, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class GiveUp(Exception):
    """Raised by a handler when retrying cannot help: the job goes straight to ``dead``."""


def check_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a job payload: a flat mapping of short scalars (ids, flags, counts) or lists
    of them. Anything bigger is refused, so no event content or secret rides along."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise ValueError("job payload keys must be short strings")
        if isinstance(value, list | tuple):
            if len(value) > _MAX_ITEMS:
                raise ValueError(f"job payload list {key!r} is too long")
            out[key] = [_scalar(key, v) for v in value]
        else:
            out[key] = _scalar(key, value)
    return out


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) > _MAX_STR:
            raise ValueError(f"job payload value {key!r} is too long for an id")
        return value
    raise ValueError(f"job payload value {key!r} must be an id, number or flag")


def backoff_delay(
    attempt: int,
    *,
    base: timedelta = timedelta(seconds=10),
    cap: timedelta = timedelta(hours=1),
    rng: random.Random | None = None,
) -> timedelta:
    """Exponential back-off with jitter after failed attempt number ``attempt`` (1-based):
    a random delay between half and all of ``base * 2**(attempt-1)``, at most ``cap``."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling * jitter)
