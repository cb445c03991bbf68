"""Sending requests to providers: the one place that retries.

Only throttling (429), temporary unavailability (503) and timeouts are retried, at most
``attempts`` times, honouring ``Retry-After`` when it is short enough to wait for in a
request; everything else is answered at once and translated by the provider's client.
Nothing here logs URLs' query strings or bodies (they can carry codes and tokens).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from calgate.connectors.errors import RateLimited, Unavailable

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "parse_json", "retry_after", "send"]

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.2  # seconds, doubled per attempt, with jitter
    max_wait: float = 5.0  # longer Retry-After values are not waited for in-request

    def backoff(self, attempt: int) -> float:
        delay: float = self.base_delay * (2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


DEFAULT_POLICY = RetryPolicy()

_LARGE = 64 * 1024


def parse_json(body: bytes) -> Any:
    """A provider's JSON body as Python objects (``ValueError`` if it is not JSON).

    A sync page is megabytes: hundreds of thousands of dicts and lists, each allocation
    counting towards the cyclic garbage collector, which then walks the whole growing heap
    again and again (a third of a 10,000-event sync went there). Parsed JSON cannot hold a
    reference cycle, so the collector is paused while a large body is parsed (orjson keeps
    the GIL throughout) and resumes afterwards."""
    if len(body) < _LARGE or not gc.isenabled():
        return orjson.loads(body)
    gc.disable()
    try:
        return orjson.loads(body)
    finally:
        gc.enable()


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), if present and sane."""
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    provider: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> httpx.Response:
    """Send ``request`` with retries on 429/503/timeouts. The last response is returned as
    is (the caller translates it); transport failures become `Unavailable`."""
    what = f"{request.method} {request.url.copy_with(query=None)}"
    for attempt in range(1, policy.attempts + 1):
        try:
            response = await http.send(request)
        except httpx.TimeoutException as exc:
            if attempt == policy.attempts:
                raise Unavailable(
                    f"{provider} did not answer in time ({attempt} attempts)", provider=provider
                ) from exc
            log.info("%s: timeout on %s, retrying (attempt %s)", provider, what, attempt)
            await sleep(policy.backoff(attempt))
            continue
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach {provider}: {type(exc).__name__}", provider=provider
            ) from exc
        if response.status_code not in RETRYABLE_STATUS or attempt == policy.attempts:
            return response
        wait = retry_after(response)
        if wait is not None and wait > policy.max_wait:
            await response.aclose()
            if response.status_code == 429:
                raise RateLimited(
                    f"{provider} is throttling calgate (Retry-After {wait:.0f} s)",
                    provider=provider,
                    retry_after=wait,
                )
            raise Unavailable(
                f"{provider} is unavailable (Retry-After {wait:.0f} s)", provider=provider
            )
        await response.aclose()
        log.info(
            "%s: %s on %s, retrying (attempt %s)", provider, response.status_code, what, attempt
        )
        await sleep(wait if wait is not None else policy.backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
