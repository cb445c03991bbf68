"""An app's session token never reaches the server's logs through the WebSocket stack, even
at DEBUG: uvicorn's WebSocket protocol logs every handshake header (``Authorization``
included) at DEBUG, so calgate keeps those loggers at INFO unless CALGATE_LOG_WIRE opts in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from calgate.logging import configure_logging

from support.canary import CanaryGuard, canary
from support.live import serve_app
from support.settings import IsolatedSettings

_WIRE = ("websockets", "uvicorn.error", "uvicorn.protocols", "wsproto")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", *_WIRE)
    saved = {
        n: (
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).propagate,
            logging.getLogger(n).level,
        )
        for n in names
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (h, propagate, lvl) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = h
        logger.propagate = propagate
        logger.setLevel(lvl)


@pytest.mark.usefixtures("restore_logging")
async def test_session_token_in_a_ws_handshake_is_not_logged_at_debug(
    make_settings: Callable[..., IsolatedSettings], app, canary_guard: CanaryGuard
) -> None:
    configure_logging(make_settings(log_level="DEBUG"))
    token = canary("session")
    client_log = logging.getLogger("test.ws-client")  # the test's own client stays quiet
    client_log.setLevel(logging.INFO)
    async with serve_app(app) as base:
        url = base.replace("http://", "ws://") + "/v1/me/notifications/ws"
        try:
            async with websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {token}"}, logger=client_log
            ) as ws:
                await ws.recv()
        except (ConnectionClosed, InvalidStatus):
            pass  # refused: the token is not a session; what matters is what was logged
    assert any("uvicorn" in r or "websockets" in r for r in canary_guard.records)
    # the canary guard fails the test if the token appears in any record


def test_wire_logs_are_an_explicit_opt_in(
    make_settings: Callable[..., IsolatedSettings], restore_logging: None
) -> None:
    configure_logging(make_settings(log_level="DEBUG"))
    assert not logging.getLogger("uvicorn.error").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("websockets.server").isEnabledFor(logging.DEBUG)
    configure_logging(make_settings(log_level="DEBUG", log_wire=True))
    assert logging.getLogger("uvicorn.error").isEnabledFor(logging.DEBUG)


def test_webhook_requests_leave_no_access_log_line_at_info(
    make_settings: Callable[..., IsolatedSettings], restore_logging: None, canary_guard: CanaryGuard
) -> None:
    configure_logging(make_settings(log_level="INFO"))
    access = logging.getLogger("uvicorn.access")
    line = '%s - "%s %s HTTP/%s" %d'
    before = len(canary_guard.records)
    access.info(line, "127.0.0.1:1", "POST", "/webhooks/google", "1.1", 200)
    assert len(canary_guard.records) == before
    access.info(line, "127.0.0.1:1", "GET", "/healthz", "1.1", 200)
    assert len(canary_guard.records) == before + 1
