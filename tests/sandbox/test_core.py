"""The shared sandbox core: controllable clock, fault injection, counters and webhook
deliveries (provider-protocols §10.2 clocks, §10.4–5 webhook behaviour; DESIGN §5 faults)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager

from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxClock, SandboxCore

from .conftest import T0
from support.webhooks import Receiver


@pytest.fixture
async def sandbox(core: SandboxCore, receiver: Receiver) -> AsyncIterator[SandboxApp]:
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app))
    app = create_sandbox_app([], core=core, webhook_client=hooks)
    assert core.webhooks is not None
    core.webhooks.backoff = 0.001
    async with LifespanManager(app):
        yield app
    await hooks.aclose()


@pytest.fixture
async def http(sandbox: SandboxApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox.test"
    ) as client:
        yield client


def test_clock_real_frozen_and_advanced() -> None:
    """provider-protocols §10.2: expiries run on a clock tests can move."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    clock = SandboxClock(real=lambda: base)
    assert clock.now() == base
    clock.advance(60)
    assert clock.now() == datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    frozen = clock.freeze()
    clock.advance(30)
    assert clock.now() == frozen.replace(second=30)
    assert clock.unfreeze() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)


async def test_clock_control_api(http: httpx.AsyncClient) -> None:
    """provider-protocols §10.2: the control API moves time for every emulator."""
    assert (await http.get("/_sandbox/clock")).json() == {"now": T0.isoformat(), "frozen": True}
    r = await http.post("/_sandbox/clock", json={"action": "advance", "seconds": 3600})
    assert r.json()["now"] == "2026-11-23T10:00:00+00:00"
    r = await http.post("/_sandbox/clock", json={"action": "set", "at": "2027-01-01T00:00:00Z"})
    assert r.json()["now"] == "2027-01-01T00:00:00+00:00"
    r = await http.post("/_sandbox/clock", json={"action": "unfreeze"})
    assert r.json()["frozen"] is False
    health = (await http.get("/_sandbox/healthz")).json()
    assert health["status"] == "ok"
    assert health["emulators"] == []


async def test_faults_are_listed_consumed_and_cleared(
    http: httpx.AsyncClient, core: SandboxCore
) -> None:
    """DESIGN §5 fault injection: a status fault answers `count` matching calls, then is
    gone; latency faults are consumed the same way; path_prefix and provider narrow them."""
    spec = {"kind": "status", "provider": "google", "path_prefix": "/google/x", "count": 2}
    fault = (await http.post("/_sandbox/faults", json=spec)).json()
    assert fault["status"] == 503
    assert core.faults.take_request_fault("microsoft", "/google/x") == (None, None)
    assert core.faults.take_request_fault("google", "/google/y") == (None, None)
    assert core.faults.take_request_fault("google", "/google/x/1")[1] is not None
    assert [f["hits"] for f in (await http.get("/_sandbox/faults")).json()] == [1]
    assert core.faults.take_request_fault("google", "/google/x/2")[1] is not None
    assert (await http.get("/_sandbox/faults")).json() == []

    await http.post("/_sandbox/faults", json={"kind": "latency", "latency_ms": 1})
    latency, status = core.faults.take_request_fault("google", "/")
    assert latency is not None
    assert status is None
    await http.post("/_sandbox/faults", json={"kind": "status", "status": 429})
    assert (await http.delete("/_sandbox/faults")).status_code == 204
    assert core.faults.list() == []
    bad = await http.post("/_sandbox/faults", json={"kind": "status", "status": 200})
    assert bad.status_code == 422


async def test_counters(http: httpx.AsyncClient, core: SandboxCore) -> None:
    core.count("google", "token.refresh")
    core.count("google", "token.refresh")
    core.count("microsoft", "delta")
    assert (await http.get("/_sandbox/counters")).json() == {
        "google.token.refresh": 2,
        "microsoft.delta": 1,
    }
    assert (await http.get("/_sandbox/counters", params={"provider": "google"})).json() == {
        "token.refresh": 2
    }
    assert (await http.delete("/_sandbox/counters")).status_code == 204
    assert (await http.get("/_sandbox/counters")).json() == {}


async def test_deliveries_retry_drop_and_history(
    http: httpx.AsyncClient, core: SandboxCore, receiver: Receiver
) -> None:
    """provider-protocols §10.4–5: webhooks are POSTed over HTTP, retried on failure, and
    droppable; GET /_sandbox/deliveries shows what happened (no query strings)."""
    assert core.webhooks is not None
    receiver.statuses.extend([500, 200])
    core.webhooks.enqueue("google", "http://hooks.test/a?secret=x", content=b"one")
    await core.webhooks.drain()
    core.faults.add(kind="drop_notifications", provider="google")
    dropped = core.webhooks.enqueue("google", "http://hooks.test/b", content=b"two")
    assert dropped.state == "dropped"
    receiver.statuses.append(404)
    core.webhooks.enqueue(
        "google", "http://hooks.test/c", content=b"three", retry_statuses=frozenset({503})
    )
    await http.post("/_sandbox/deliveries/drain")
    history = (await http.get("/_sandbox/deliveries", params={"provider": "google"})).json()
    assert [(d["url"], d["state"], d["attempts"]) for d in history] == [
        ("http://hooks.test/a", "delivered", 2),
        ("http://hooks.test/b", "dropped", 0),
        ("http://hooks.test/c", "failed", 1),
    ]
    assert [r.body for r in receiver.requests] == [b"one", b"one", b"three"]
    counters = core.counters_for("google")
    assert counters["webhook.delivered"] == 1
    assert counters["webhook.dropped"] == 1


async def test_deliveries_with_one_ordering_key_arrive_in_order(
    core: SandboxCore, receiver: Receiver, sandbox: SandboxApp
) -> None:
    """provider-protocols §5.3: a channel's messages carry increasing numbers; the
    dispatcher sends one channel's deliveries one after the other, in queue order."""
    assert core.webhooks is not None
    receiver.statuses.extend([503] * 3)  # early failures must not let later ones overtake
    for n in range(20):
        core.webhooks.enqueue(
            "google", "http://hooks.test/chan", content=str(n).encode(), ordering_key="chan-1"
        )
    await core.webhooks.drain()
    delivered = [int(r.body) for r in receiver.requests]
    assert sorted(set(delivered)) == list(range(20))
    firsts = []
    for value in delivered:
        if value not in firsts:
            firsts.append(value)
    assert firsts == list(range(20))
