"""Provider bodies are parsed with the cyclic collector paused for large ones, and the
collector's state is always given back."""

from __future__ import annotations

import gc
import json

import pytest

from calgate.connectors.http import parse_json


def _page(n: int) -> bytes:
    return json.dumps(
        {"items": [{"id": f"e{i}", "start": {"date": "2026-11-24"}} for i in range(n)]}
    ).encode()


@pytest.mark.parametrize("n", [1, 5_000])
def test_large_and_small_bodies_parse_alike_and_gc_is_enabled_after(n: int) -> None:
    body = _page(n)
    assert parse_json(body) == json.loads(body)
    assert gc.isenabled()


def test_a_large_body_is_parsed_with_the_collector_paused() -> None:
    body = _page(5_000)
    runs: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        parse_json(body)
        paused = len(runs)
        json.loads(body)  # the same allocations with the collector running
    finally:
        gc.callbacks.remove(seen)
    assert paused == 0
    assert len(runs) > paused


def test_a_disabled_collector_stays_disabled_and_bad_json_raises() -> None:
    gc.disable()
    try:
        parse_json(_page(5_000))
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        parse_json(b"{" + b" " * 70_000)
    assert gc.isenabled()
