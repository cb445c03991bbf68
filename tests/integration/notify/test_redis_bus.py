"""The Redis bus between processes: a message committed through one runtime reaches the
subscribers of another (own engine, own Redis connections), and a lost subscription
recovers what it missed from the database."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from calgate.bootstrap import Runtime, build_runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.notify import Notification, Subscription
from calgate.persistence.tables import UserEventRow

pytestmark = [pytest.mark.redis, pytest.mark.usefixtures("backend")]

OPERATOR = Principal(PrincipalKind.OPERATOR)


@pytest.fixture
def settings(make_settings, redis_url, bus_prefix):  # type: ignore[no-untyped-def]
    return make_settings(bus_url=redis_url, bus_prefix=bus_prefix)


async def _user(runtime: Runtime, email: str) -> tuple[uuid.UUID, uuid.UUID]:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name=f"A {email}")
        user = await runtime.tenancy.create_user(uow, OPERATOR, account.id, email=email)
        await uow.commit()
    return account.id, user.id


async def _publish(runtime: Runtime, account_id: uuid.UUID, user_id: uuid.UUID, tag: str) -> None:
    async with runtime.uow() as uow:
        await runtime.hub.publish(
            uow,
            account_id=account_id,
            user_id=user_id,
            type="calendar.changed",
            data={"connection_id": tag},
        )
        await uow.commit()


async def _next(sub: Subscription) -> Notification:
    item = await sub.get(wait_seconds=10)
    assert isinstance(item, Notification), item
    return item


async def test_a_message_crosses_processes_once(runtime, settings, clock):
    other = await build_runtime(settings, clock=clock, auto_migrate=False)
    try:
        account_id, user_id = await _user(runtime, "ann@example.com")
        here = await runtime.hub.subscribe(account_id, user_id)
        there = await other.hub.subscribe(account_id, user_id)
        await _publish(other, account_id, user_id, "c-1")
        for sub in (here, there):
            got = await _next(sub)
            assert got.data == {"connection_id": "c-1"}
            assert got.user_id == user_id
        await _publish(runtime, account_id, user_id, "c-2")
        assert (await _next(there)).data == {"connection_id": "c-2"}
        assert (await _next(here)).data == {"connection_id": "c-2"}  # exactly once: c-2 next
    finally:
        await other.aclose()


async def test_a_lost_subscription_recovers_missed_messages(runtime, settings, clock, redis_url):
    account_id, user_id = await _user(runtime, "bea@example.com")
    sub = await runtime.hub.subscribe(account_id, user_id)
    await _publish(runtime, account_id, user_id, "before")
    assert (await _next(sub)).data == {"connection_id": "before"}

    # A message committed while its live publish was lost (stored, never on the bus) ...
    async with runtime.uow() as uow:
        uow.session.add(
            UserEventRow(
                account_id=account_id,
                user_id=user_id,
                type="calendar.changed",
                data={"connection_id": "lost"},
                created_at=clock.now(),
            )
        )
        await uow.commit()
    # ... then this process's one subscriber connection dies (killed from outside).
    bus = runtime.hub._bus
    name = f"calgate-bus-{bus.channel.replace(':', '-')}"  # type: ignore[attr-defined]
    admin = Redis.from_url(redis_url)
    try:
        clients = await admin.client_list()
        ids = [c["id"] for c in clients if c.get("name") == name]
        assert len(ids) == 1
        await admin.execute_command("CLIENT", "KILL", "ID", ids[0])
        # once reconnected, the hub reads what it may have missed from the database
        assert (await _next(sub)).data == {"connection_id": "lost"}
        await _publish(runtime, account_id, user_id, "after")
        assert (await _next(sub)).data == {"connection_id": "after"}
        gaps = runtime.metrics.registry.get_sample_value(
            "calgate_notification_bus_errors_total", {"what": "gap"}
        )
        assert gaps == 1.0
    finally:
        await admin.aclose()
