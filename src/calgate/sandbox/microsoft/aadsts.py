"""Entra ID token-endpoint errors, provider-protocols §1.5::

{"error": "invalid_grant", "error_description": "AADSTS700082: …\\r\\nTrace ID: …\\r\\n
 Correlation ID: …\\r\\nTimestamp: …", "error_codes": [700082], "timestamp": "…",
 "trace_id": "<guid>", "correlation_id": "<guid>", "error_uri": "…?code=700082"}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["AadstsError", "aadsts_body", "status_aadsts_body"]


class AadstsError(Exception):
    def __init__(self, error: str, code: int, message: str, *, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}")
        self.error = error
        self.code = code
        self.message = message
        self.status = status

    def body(self, now: datetime, correlation_id: str | None = None) -> dict[str, Any]:
        return aadsts_body(self.error, self.code, self.message, now, correlation_id)


def aadsts_body(
    error: str, code: int, message: str, now: datetime, correlation_id: str | None = None
) -> dict[str, Any]:
    trace_id = str(uuid.uuid4())
    correlation_id = correlation_id or str(uuid.uuid4())
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def status_aadsts_body(status: int, now: datetime | None = None) -> dict[str, Any]:
    """The body an injected fault status gets on the identity endpoints (FaultMiddleware)."""
    now = now or datetime.now(UTC)
    if status == 429:
        return aadsts_body(
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop.",
            now,
        )
    return aadsts_body(
        "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.", now
    )
