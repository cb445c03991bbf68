"""Graph's error body, provider-protocols §2.5::

{"error": {"code": "ErrorItemNotFound", "message": "…",
           "innerError": {"date": "…", "request-id": "<guid>", "client-request-id": "<guid>"}}}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["GraphError", "graph_error_body", "status_error_body"]


class GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @classmethod
    def not_found(cls) -> GraphError:
        return cls(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    @classmethod
    def bad_request(cls, message: str, code: str = "ErrorInvalidRequest") -> GraphError:
        return cls(400, code, message)

    @classmethod
    def access_denied(
        cls, message: str = "Access is denied. Check credentials and try again."
    ) -> GraphError:
        return cls(403, "ErrorAccessDenied", message)


def graph_error_body(
    code: str,
    message: str,
    *,
    now: datetime | None = None,
    request_id: str | None = None,
    client_request_id: str | None = None,
) -> dict[str, Any]:
    request_id = request_id or str(uuid.uuid4())
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": stamp,
                "request-id": request_id,
                "client-request-id": client_request_id or request_id,
            },
        }
    }


_STATUS = {
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("generalException", "An unexpected error occurred."),
    502: ("BadGateway", "The server received an invalid response from an upstream server."),
    503: ("ServiceNotAvailable", "The service is temporarily unavailable. Try again later."),
    504: ("GatewayTimeout", "The server did not receive a timely response."),
}


def status_error_body(status: int, now: datetime | None = None) -> dict[str, Any]:
    """The body Graph answers an injected fault status with (FaultMiddleware)."""
    code, message = _STATUS.get(status, ("ErrorInternalServerError", "The request failed."))
    return graph_error_body(code, message, now=now)
