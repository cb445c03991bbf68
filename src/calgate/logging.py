"""Logging, configured once by :func:`configure_logging`.

The first line of defence is that calgate never hands a secret to a logger: code logs ids,
not payloads, and secrets travel as :class:`~pydantic.SecretStr` or the vault's ``Secret``.
The :class:`RedactionFilter` is the second line: it scrubs what looks like a credential
(bearer tokens, JWTs, ``token=`` style parameters, JSON secret fields) and any literal value
registered with it (the operator key, the server secret, key material) from every record
that reaches calgate's handlers, uvicorn's access log included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from calgate.settings import Settings

__all__ = ["REDACTED", "RedactionFilter", "configure_logging", "redact"]

REDACTED = "[REDACTED]"

# Names whose values are credentials wherever they appear as key=value or "key": "value".
_SECRET_NAMES = (
    "access_token|refresh_token|id_token|client_secret|client_assertion|assertion|password|"  # noqa: S105
    "passwd|code_verifier|code|token|secret|api_key|apikey|client_state|clientState|"
    "validationToken|private_key|session|state"  # state: OAuth's, bound to a pending flow
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and their echoes.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    # JWS/JWT compact serialisations.
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
        REDACTED,
    ),
    # query strings and form bodies: token=..., &code=...
    (
        re.compile(rf"(?i)([?&;\s]|^)((?:{_SECRET_NAMES}))=([^&\s\"']+)"),
        rf"\1\2={REDACTED}",
    ),
    # JSON: "refresh_token": "..."
    (
        re.compile(rf"(?i)(\"(?:{_SECRET_NAMES})\"\s*:\s*)\"[^\"]*\""),
        rf'\1"{REDACTED}"',
    ),
    # calgate's own API keys and session tokens, in case one is echoed.
    (re.compile(r"\bcg(?:op|ak)_[A-Za-z0-9_-]{8,}"), REDACTED),
)


def redact(text: str, literals: Iterable[str] = ()) -> str:
    """Return ``text`` with every credential-looking value and every literal replaced."""
    for literal in literals:
        if literal:
            text = text.replace(literal, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactionFilter(logging.Filter):
    """Scrubs secrets from a record's message and traceback before any handler formats it."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self._literals: set[str] = {s for s in literals if len(s) >= 8}

    def add_literal(self, value: str) -> None:
        if len(value) >= 8:
            self._literals.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message, self._literals)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._literals)
            record.exc_info = None
        return True


_HANDLER_NAME = "calgate"


_WIRE_LOGGERS = ("websockets", "uvicorn.error", "uvicorn.protocols", "wsproto")


class _QuietWebhooks(logging.Filter):
    """Provider webhooks arrive by the thousand: their access-log lines are left out at INFO
    (the webhook metrics count them); at DEBUG they are kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args
        path = args[2] if isinstance(args, tuple) and len(args) > 2 else ""
        return not (isinstance(path, str) and path.startswith("/webhooks/"))


_QUIET_WEBHOOKS = _QuietWebhooks()


def configure_logging(settings: Settings, *, secrets: Iterable[str] = ()) -> RedactionFilter:
    """Install calgate's handler on the root logger (idempotent) and return its filter.

    ``secrets`` are literal values that must never appear in a log line.
    """
    redaction = RedactionFilter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(redaction)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # uvicorn installs its own handlers; route its records (access log included) through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    access = logging.getLogger("uvicorn.access")
    if _QUIET_WEBHOOKS not in access.filters:
        access.addFilter(_QUIET_WEBHOOKS)
    # Third-party request logs carry URLs; keep them at WARNING unless debugging.
    if settings.log_level != "DEBUG":
        for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    # The WebSocket stack logs every handshake header (an app's `Authorization: Bearer
    # <session>` included) and frame at DEBUG, through uvicorn's "uvicorn.error" logger:
    # never, unless explicitly asked for (CALGATE_LOG_WIRE).
    for wire in _WIRE_LOGGERS:
        logging.getLogger(wire).setLevel(logging.NOTSET if settings.log_wire else logging.INFO)
    return redaction
