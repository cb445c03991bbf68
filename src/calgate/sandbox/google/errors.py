"""Google's two error shapes: the JSON API envelope of Calendar/People (provider-protocols §5.4)
and the OAuth token endpoint's ``{"error", "error_description"}`` (§4.2)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "OAuthError", "api_error_body", "fault_body", "install_error_handlers"]

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

REALM = 'Bearer realm="https://accounts.google.com/"'


def api_error_body(
    code: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    error_message: str | None = None,
    location: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": error_message or message}
    if location:
        item["locationType"] = "header" if location == "Authorization" else "parameter"
        item["location"] = location
    error: dict[str, Any] = {"errors": [item], "code": code, "message": message}
    if code in _STATUS:
        error["status"] = _STATUS[code]
    if details:
        error["details"] = details
    return {"error": error}


class ApiError(Exception):
    """A Calendar/People API error, answered in Google's JSON envelope."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        error_message: str | None = None,
        location: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = api_error_body(
            code,
            reason,
            message,
            domain=domain,
            error_message=error_message,
            location=location,
            details=details,
        )
        self.headers = headers or {}


def bad_request(message: str, reason: str = "badRequest") -> ApiError:
    return ApiError(400, reason, message)


def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


class OAuthError(Exception):
    """An OAuth endpoint error: ``{"error": …, "error_description": …}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def fault_body(status: int) -> dict[str, Any]:
    """What an injected fault answers (provider-protocols §5.4): Google's own bodies for rate
    limits and outages."""
    if status in (403, 429):
        return api_error_body(
            status, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits"
        )
    if status == 401:
        return api_error_body(401, "authError", "Invalid Credentials", location="Authorization")
    if status == 503:
        return api_error_body(503, "backendError", "The service is currently unavailable.")
    if status >= 500:
        return api_error_body(status, "backendError", "Backend Error")
    return api_error_body(status, "badRequest", "Bad Request")


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, status_code=exc.code, headers=exc.headers)

    async def on_oauth_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OAuthError)
        return JSONResponse(
            {"error": exc.error, "error_description": exc.description},
            status_code=exc.status,
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        body = api_error_body(400, "invalid", f"Invalid value for: {where or 'request'}")
        return JSONResponse(body, status_code=400)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = exc.status_code
        if code == 404:
            body = api_error_body(404, "notFound", "Not Found")
        elif code == 405:
            body = api_error_body(405, "httpMethodNotAllowed", "Method Not Allowed")
        else:
            body = api_error_body(code, "badRequest", str(exc.detail))
        return JSONResponse(body, status_code=code, headers=exc.headers)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(OAuthError, on_oauth_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
