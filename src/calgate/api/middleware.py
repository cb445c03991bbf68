"""Pure ASGI middleware: request ids, metrics, security headers, and the answer to a bug
(a 500 problem document carrying the request id; the traceback goes to the log only)."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calgate.api.problems import internal_error_response
from calgate.metrics import Metrics

__all__ = ["ObservabilityMiddleware"]

log = logging.getLogger(__name__)

_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or ()).get(b"x-request-id", b"")
        request_id = (
            incoming.decode("latin-1")[:64] if incoming.isascii() and incoming else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append("x-request-id", request_id)
                for name, value in _SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            if started:  # too late for an error response (e.g. a stream broke): let it go
                raise
            log.exception(
                "unhandled error in %s %s (request %s)",
                scope.get("method", "-"),
                scope.get("path", "-"),
                request_id,
            )
            await internal_error_response(request_id)(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_latency.labels(method, template).observe(time.perf_counter() - start)
