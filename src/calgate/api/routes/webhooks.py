"""Provider webhook receivers (R9): ``/webhooks/google``, ``/webhooks/microsoft`` and
``/webhooks/microsoft/lifecycle``. Unauthenticated by design (providers cannot send our
credentials): every notification is checked against its subscription's secret in constant
time, stored, and only then acknowledged; unknown or forged ones are refused and counted.

Answers follow what each provider expects: Graph gets its validation token echoed as
``text/plain`` and ``202`` for every well-formed collection (mismatches are ignored, not
retried, as Graph asks); Google gets ``200`` when stored (or already stored) and ``403``
for a channel or token it does not know (Google does not retry a 4xx). If the notification
cannot be stored, the answer is ``503`` so that the provider retries.
"""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.routing import Route

from calgate.bootstrap import Runtime

__all__ = ["hot_routes", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

_MAX_BODY = 1_000_000
_NOT_STORED = Response(status_code=503, headers={"Retry-After": "5"})


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _body(request: Request) -> bytes | None:
    """The body, or None once it passes ``_MAX_BODY`` (read no further: these routes are
    served ahead of the app's body-limit middleware)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _validation(request: Request) -> Response | None:
    """Graph's endpoint validation (§3.2): echo the URL-decoded token exactly."""
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    return PlainTextResponse(token, status_code=200)


async def _graph(request: Request, *, lifecycle: bool) -> Response:
    started = time.perf_counter()
    answer = _validation(request)
    if answer is not None:
        return answer
    runtime = _runtime(request)
    raw = await _body(request)
    if raw is None:
        runtime.push.metrics.refused.labels("microsoft", "too_large").inc()
        return Response(status_code=413)
    try:
        body = json.loads(raw)
    except ValueError:
        runtime.push.metrics.refused.labels("microsoft", "malformed").inc()
        return Response(status_code=400)
    try:
        await runtime.push.ingest.microsoft(body, lifecycle=lifecycle)
    except Exception:
        log.exception("could not store a Microsoft notification; Graph will retry")
        return _NOT_STORED
    runtime.push.metrics.ack.labels("microsoft").observe(time.perf_counter() - started)
    return Response(status_code=202)


@router.post(
    "/webhooks/microsoft",
    status_code=202,
    summary="Microsoft Graph change notifications (and the validation handshake)",
    response_class=Response,
)
async def microsoft(request: Request) -> Response:
    """``?validationToken=…`` → the token as ``text/plain``; otherwise a
    changeNotificationCollection, stored before the ``202``."""
    return await _graph(request, lifecycle=False)


@router.post(
    "/webhooks/microsoft/lifecycle",
    status_code=202,
    summary="Microsoft Graph lifecycle notifications (missed, reauthorizationRequired, "
    "subscriptionRemoved)",
    response_class=Response,
)
async def microsoft_lifecycle(request: Request) -> Response:
    return await _graph(request, lifecycle=True)


async def microsoft_validation_get(request: Request) -> Response:
    """Older Graph samples validate with GET; accept both."""
    return _validation(request) or Response(status_code=405)


@router.post(
    "/webhooks/google",
    summary="Google Calendar push notifications (watch channels)",
    response_class=Response,
)
async def google(request: Request) -> Response:
    """Empty body; ``X-Goog-Channel-ID``, ``X-Goog-Channel-Token``,
    ``X-Goog-Message-Number``, ``X-Goog-Resource-State`` headers."""
    started = time.perf_counter()
    runtime = _runtime(request)
    try:
        result = await runtime.push.ingest.google(request.headers)
    except Exception:
        log.exception("could not store a Google notification; Google will retry")
        return _NOT_STORED
    runtime.push.metrics.ack.labels("google").observe(time.perf_counter() - started)
    if result.refused:
        return Response(status_code=400 if result.refused == ["malformed"] else 403)
    return Response(status_code=200)


async def _graph_changes(request: Request) -> Response:
    if request.method == "GET":
        return await microsoft_validation_get(request)
    return await _graph(request, lifecycle=False)


async def _graph_lifecycle(request: Request) -> Response:
    if request.method == "GET":
        return await microsoft_validation_get(request)
    return await _graph(request, lifecycle=True)


hot_routes = [
    Route("/webhooks/google", google, methods=["POST"]),
    Route("/webhooks/microsoft", _graph_changes, methods=["POST", "GET"]),
    Route("/webhooks/microsoft/lifecycle", _graph_lifecycle, methods=["POST", "GET"]),
]
"""Plain Starlette routes the app puts in front of every other, and `calgate serve` ahead of
the middleware (webhooks arrive by the thousand; see `calgate.api.stream.direct_streams`);
the FastAPI declarations above document them in OpenAPI."""
