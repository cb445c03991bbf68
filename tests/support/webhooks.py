"""A webhook receiver for tests: a tiny Starlette app that records every request it gets
(method, path, headers, body) and answers with scripted status codes. Mount it in-process
(``httpx.ASGITransport(app=receiver.app)``) or serve it on a port (``support.servers``)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Receiver:
    """``statuses`` answers the next requests in order (then 200)."""

    statuses: deque[int] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._cond:
            self.requests.append(
                Received(request.method, request.url.path, dict(request.headers), body)
            )
            status = self.statuses.popleft() if self.statuses else 200
            self._cond.notify_all()
        return Response(status_code=status)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests arrived (for tests whose server runs in a thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} webhook(s), got {len(self.requests)}")
            return list(self.requests)
