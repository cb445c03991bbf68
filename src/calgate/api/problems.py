"""The one map from errors to RFC 9457 ``application/problem+json`` responses.

Every error leaving the API, including 404/405 from routing, 422 from validation and 500
from a bug, is a problem document with a human-readable ``detail``. Validation problems
list each offending field in ``errors`` without echoing the submitted value, which may be
a secret.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from calgate.errors import (
    CalgateError,
    ConfigurationError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyDenied,
    ReauthRequired,
    ServiceUnavailable,
    Unauthenticated,
)

__all__ = [
    "PROBLEM_JSON",
    "install_problem_handlers",
    "internal_error_response",
    "problem_response",
]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://calgate.dev/problems/"

_STATUS: list[tuple[type[CalgateError], int, str]] = [
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (ReauthRequired, 409, "reauth-required"),
    (InvalidInput, 422, "invalid-input"),
    (Unauthenticated, 401, "unauthenticated"),
    (PolicyDenied, 403, "policy-denied"),
    (Forbidden, 403, "forbidden"),
    (ServiceUnavailable, 503, "unavailable"),
    (ConfigurationError, 500, "misconfigured"),
]

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": _TYPE_BASE + slug if slug else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if rest and where == "body" else ".".join([where, *rest])
    return ".".join(parts)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "syntax error")
            return problem_response(
                400, f"request body is not valid JSON: {reason}", slug="malformed-json"
            )
    items = []
    for err in errors:
        field = _loc(err.get("loc", ()))
        if (
            err.get("type") == "missing"
            and err.get("loc", ())[:1] == ("body",)
            and len(err["loc"]) == 1
        ):
            field, message = "body", "a JSON body is required"
        elif err.get("type") == "extra_forbidden":
            message = "unknown field; it is not accepted here"
        else:
            message = str(err.get("msg", "invalid"))
        items.append({"field": field, "message": message})
    summary = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    if len(items) > 5:
        summary += f"; and {len(items) - 5} more"
    return problem_response(422, summary, slug="invalid-input", errors=items)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404 and exc.detail in {"Not Found", None}:
        detail = f"no such resource: {request.method} {request.url.path}"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        detail = f"{request.method} is not allowed on {request.url.path}"
        if allowed:
            detail += f"; allowed: {allowed}"
    else:
        detail = str(exc.detail)
    return problem_response(status, detail, headers=dict(exc.headers or {}) or None)


async def _calgate(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CalgateError)
    status, slug = next(
        ((code, name) for kind, code, name in _STATUS if isinstance(exc, kind)), (500, "error")
    )
    extra: dict[str, Any] = {}
    headers: dict[str, str] | None = None
    if isinstance(exc, InvalidInput) and exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail}]
    if isinstance(exc, PolicyDenied):
        extra["policy"] = exc.policy
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="calgate"'}
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.auth_failures.inc()
    if status >= 500:
        log.error("request failed: %s %s: %s", request.method, request.url.path, exc.detail)
    for key, value in getattr(exc, "problem_extra", {}).items():
        extra.setdefault(key, value)
    return problem_response(status, exc.detail, slug=slug, headers=headers, **extra)


def internal_error_response(request_id: str) -> JSONResponse:
    """The answer to a bug: no internals, only the request id under which the log has them."""
    return problem_response(
        500,
        "calgate hit an internal error; the server log has the details under request id "
        f"{request_id}",
        slug="internal",
        request_id=request_id,
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Normally the ObservabilityMiddleware answers first (so the response carries the
    # request id and security headers); this is the fallback outside it.
    request_id = request.scope.get("state", {}).get("request_id", "-")
    log.exception(
        "unhandled error in %s %s (request %s)", request.method, request.url.path, request_id
    )
    return internal_error_response(request_id)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(CalgateError, _calgate)
    app.add_exception_handler(Exception, _unhandled)
