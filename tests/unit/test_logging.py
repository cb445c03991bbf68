"""Logging: the redaction filter (second line of defence) and the JSON-lines option."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from calgate.logging import REDACTED, RedactionFilter, configure_logging, redact

from support.canary import MARKER, canary
from support.settings import IsolatedSettings

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdefgh12345678xyz", "abcdefgh12345678xyz"),
        ("authorization: basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        (f"got id token {JWT} from the IdP", JWT),
        ("POST /token?code=4%2F0AX4XfWh&state=abc", "4%2F0AX4XfWh"),
        ("GET /v1/oauth/start?state=8KVJbuVsMVaRSef7TDYU HTTP/1.1", "8KVJbuVsMVaRSef7TDYU"),
        ("grant_type=refresh_token&refresh_token=1//0gTheToken&client_id=x", "1//0gTheToken"),
        ("form: client_secret=s3cr3t-value", "s3cr3t-value"),
        ('{"access_token": "ya29.a0Af-value", "expires_in": 3599}', "ya29.a0Af-value"),
        ('{"password":"hunter2hunter2"}', "hunter2hunter2"),
        ('{"clientState": "graph-client-state"}', "graph-client-state"),
        ("echoed key cgak_Q2FsZ2F0ZUtleUV4YW1wbGU in a message", "cgak_Q2FsZ2F0ZUtleUV4YW1wbGU"),
    ],
)
def test_redact_scrubs_credential_shapes(text: str, secret: str) -> None:
    out = redact(text)

    assert secret not in out
    assert REDACTED in out


def test_redact_keeps_ordinary_text() -> None:
    text = "user 7f1c created group 'Sales' in account 42 (policy read_write)"
    assert redact(text) == text


def test_redact_replaces_registered_literals() -> None:
    secret = canary("operator-key")
    assert redact(f"key was {secret}!", [secret]) == f"key was {REDACTED}!"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("calgate.test", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_filter_scrubs_message_args_and_traceback() -> None:
    secret = canary("server-secret")
    flt = RedactionFilter([secret])
    try:
        raise RuntimeError(f"failed with refresh_token={secret}")
    except RuntimeError as exc:
        record = _record("calling with %s and Bearer %s", secret, "tokentokentoken123", exc=exc)

    assert flt.filter(record) is True  # scrubs, never drops
    formatted = logging.Formatter().format(record)
    assert MARKER not in formatted
    assert "tokentokentoken123" not in formatted
    assert "RuntimeError" in formatted  # the traceback itself survives


def test_filter_literals_added_later_and_short_ones_ignored() -> None:
    flt = RedactionFilter()
    secret = canary("key")
    flt.add_literal(secret)
    flt.add_literal("ab")  # too short to redact safely: would shred ordinary text

    record = _record("%s about tabs", secret)
    flt.filter(record)
    assert record.getMessage() == f"{REDACTED} about tabs"


def test_filter_survives_a_broken_format_string() -> None:
    record = _record("%d items", "not a number")
    assert RedactionFilter().filter(record)
    assert "%d items" in record.getMessage()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uv = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate)
        for n in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    noisy = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "aiosqlite", "asyncio")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (h, propagate) in uv.items():
        logging.getLogger(name).handlers[:] = h
        logging.getLogger(name).propagate = propagate
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_with_redaction(
    make_settings: Callable[..., IsolatedSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    # Not a canary: this test logs the secret on purpose, and the canary guard's own
    # handler sees records before calgate's handler redacts them.
    secret = "literal-operator-key-0123456789abcdef"
    configure_logging(make_settings(log_format="json", log_level="info"), secrets=[secret])
    # configured once: a second call replaces calgate's handler instead of adding one
    redaction = configure_logging(
        make_settings(log_format="json", log_level="INFO"), secrets=[secret]
    )

    logging.getLogger("calgate.demo").info("signed in user %s with %s", "u-1", secret)
    logging.getLogger("calgate.demo").debug("not shown at INFO")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /x?token=%s HTTP/1.1" 200', "tt1")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2
    first = lines[0]
    assert first["level"] == "INFO"
    assert first["logger"] == "calgate.demo"
    assert first["message"] == f"signed in user u-1 with {REDACTED}"
    assert "ts" in first
    assert "tt1" not in lines[1]["message"]
    assert isinstance(redaction, RedactionFilter)


@pytest.mark.usefixtures("restore_logging")
def test_text_format_is_one_line_per_record(
    make_settings: Callable[..., IsolatedSettings], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(make_settings(log_level="WARNING"))

    logging.getLogger("calgate.x").warning("disk %s is full", "/data")
    logging.getLogger("calgate.x").info("hidden")

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "WARNING" in err
    assert "calgate.x: disk /data is full" in err
