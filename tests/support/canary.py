"""The canary guard (pytest plugin).

Test credentials are obviously fake and carry the marker ``cgcanary``. This plugin fails a
test when a marker shows up where a secret must never be: any log record (captured at DEBUG
from every logger), any HTTP error body seen by the test clients, or the raw bytes of the
SQLite database a test used (``-wal`` included). Use :func:`canary` to mint values.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MARKER = "cgcanary"


def canary(kind: str = "secret") -> str:
    """A fake secret carrying the canary marker, long enough for any length rule."""
    return f"fake-{kind}-{MARKER}-{secrets.token_hex(12)}"


@dataclass
class CanaryGuard:
    records: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def check_text(self, where: str, text: str) -> None:
        if MARKER in text:
            at = text.index(MARKER)
            self.leaks.append(f"{where}: …{text[max(0, at - 80) : at + 40]}…")

    def watch_file(self, path: Path) -> None:
        self.files.append(path)

    def scan(self) -> list[str]:
        for line in self.records:
            self.check_text("log", line)
        for base in self.files:
            for path in (base, Path(f"{base}-wal"), Path(f"{base}-journal")):
                if path.exists() and MARKER.encode() in path.read_bytes():
                    self.leaks.append(f"database file {path.name} holds a canary in plaintext")
        return self.leaks


class _Collector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.append(self.format(record))
        except Exception:  # a broken record is not a leak
            self.sink.append(str(record.msg))


@pytest.fixture(autouse=True)
def canary_guard() -> Iterator[CanaryGuard]:
    guard = CanaryGuard()
    handler = _Collector(guard.records)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet = {name: logging.getLogger(name).level for name in ("aiosqlite", "asyncio", "hpack")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield guard
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    leaks = guard.scan()
    if leaks:
        pytest.fail("canary secret leaked:\n  " + "\n  ".join(leaks[:10]), pytrace=False)
