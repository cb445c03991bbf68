"""Retry lives in one place: 429/503/timeouts only, Retry-After honoured (when short),
everything else answered at once."""

from __future__ import annotations

import httpx
import pytest

from calgate.connectors.errors import RateLimited, Unavailable
from calgate.connectors.http import RetryPolicy, send


class Script:
    """A wire-level fake provider answering a fixed script of responses."""

    def __init__(self, *answers: httpx.Response | type[Exception]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, type):
            raise answer("scripted", request=request)  # type: ignore[call-arg]
        return answer


async def run(script: Script, **policy: float) -> tuple[httpx.Response, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        request = http.build_request("POST", "https://provider.test/token", content=b"x=1")
        response = await send(
            http, request, provider="test", policy=RetryPolicy(**policy), sleep=sleep
        )
    return response, slept


async def test_429_with_retry_after_is_waited_for_then_retried() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200))
    response, slept = await run(script)
    assert response.status_code == 200
    assert slept == [2.0]
    assert script.calls == 2


async def test_503_and_timeouts_are_retried_with_backoff() -> None:
    script = Script(httpx.Response(503), httpx.ReadTimeout, httpx.Response(200))
    response, slept = await run(script)
    assert response.status_code == 200
    assert len(slept) == 2
    assert script.calls == 3


@pytest.mark.parametrize("status", [400, 401, 404, 500, 502])
async def test_other_answers_are_not_retried(status: int) -> None:
    script = Script(httpx.Response(status))
    response, slept = await run(script)
    assert response.status_code == status
    assert (slept, script.calls) == ([], 1)


async def test_a_long_retry_after_is_not_waited_for_in_a_request() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimited) as caught:
        await run(script)
    assert caught.value.retry_after == 120


async def test_attempts_are_bounded() -> None:
    script = Script(httpx.Response(503), httpx.Response(503), httpx.Response(503))
    response, _ = await run(script)
    assert response.status_code == 503
    assert script.calls == 3
    with pytest.raises(Unavailable):
        await run(Script(httpx.ConnectError))
