"""Real HTTP in the test's own event loop: serve an ASGI app with uvicorn on a free loopback
port, for streams (SSE, WebSocket) that the in-process httpx transport cannot carry. The app
keeps using the test's runtime (same loop, same engine)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

__all__ = ["serve_app"]


@asynccontextmanager
async def serve_app(app: ASGIApp, *, lifespan: str = "off") -> AsyncIterator[str]:
    """Yields ``http://127.0.0.1:PORT``. ``lifespan="off"`` suits apps whose lifespan the
    test already runs (the ``app`` fixture)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan=lifespan, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # uvicorn exposes no event to wait on
            if task.done():
                await task
                raise RuntimeError("test server stopped during startup")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
