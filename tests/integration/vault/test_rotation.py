"""Key rotation and online rewrap on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from sqlalchemy import select

from calgate.persistence.tables import AuditEventRow, VaultDataKeyRow
from calgate.services.audit import SYSTEM_CHAIN
from calgate.vault import Secret

from support.canary import canary
from support.vault import OPERATOR


async def seed(runtime, accounts, per_account):
    expected = {}
    for account in accounts:
        async with runtime.uow() as uow:
            for _ in range(per_account):
                slot = (account, "connections", str(uuid.uuid4()), "refresh_token")
                expected[slot] = canary("rt")
                await runtime.vault.put(
                    uow,
                    account_id=slot[0],
                    owner=slot[1],
                    owner_id=slot[2],
                    field=slot[3],
                    value=Secret(expected[slot]),
                )
            await uow.commit()
    return expected


async def read(runtime, slot):
    async with runtime.uow(readonly=True) as uow:
        return await runtime.vault.get(
            uow, account_id=slot[0], owner=slot[1], owner_id=slot[2], field=slot[3]
        )


async def test_rotate_and_rewrap_while_others_read_and_write_R2(runtime, make_account, backend):
    accounts = [await make_account(f"T{i}") for i in range(3)]
    expected = await seed(runtime, accounts, 20)
    slots = list(expected)
    # Every value each slot has held or is being given: a read must return one of those
    # from the value current when it began onwards (a write may commit, or several may,
    # while the read is under way, before the writer's coroutine resumes).
    history = {slot: [value] for slot, value in expected.items()}
    committed = dict.fromkeys(expected, 0)  # index in history of the last committed value
    stop = asyncio.Event()
    failures: list[str] = []
    reads = {"during": 0}
    rng = random.Random(7)

    async def reader() -> None:
        while not stop.is_set():
            slot = rng.choice(slots)
            since = committed[slot]
            try:
                got = await read(runtime, slot)
            except Exception as exc:
                failures.append(f"read {slot[2]}: {type(exc).__name__}: {exc}")
                continue
            if got is None or got.reveal() not in history[slot][since:]:
                failures.append(f"read {slot[2]}: wrong value")
            reads["during"] += 1
            await asyncio.sleep(0)

    async def writer() -> None:
        mine = slots[:10]
        while not stop.is_set():
            slot = rng.choice(mine)
            value = canary("rt")
            history[slot].append(value)  # before the write: a read may see it once committed
            try:
                async with runtime.uow() as uow:
                    await runtime.vault.put(
                        uow,
                        account_id=slot[0],
                        owner=slot[1],
                        owner_id=slot[2],
                        field=slot[3],
                        value=Secret(value),
                    )
                    await uow.commit()
            except Exception as exc:
                failures.append(f"write {slot[2]}: {type(exc).__name__}: {exc}")
                continue
            expected[slot] = value
            committed[slot] = len(history[slot]) - 1
            await asyncio.sleep(0)

    async def maintenance() -> list[object]:
        results: list[object] = []
        try:
            for kek in (False, True, False):
                async with runtime.uow() as uow:
                    results.append(await runtime.vault.rotate(uow, actor=OPERATOR, kek=kek))
                    await uow.commit()
                results.append(
                    await runtime.vault.rewrap(runtime.uow, actor=OPERATOR, batch_size=7)
                )
        finally:
            stop.set()
        return results

    tasks = [asyncio.create_task(reader()) for _ in range(6)] + [asyncio.create_task(writer())]
    results = await maintenance()
    await asyncio.gather(*tasks)

    assert failures == []
    assert reads["during"] > 50
    assert all(r.complete for r in results[1::2])
    async with runtime.uow(readonly=True) as uow:
        status = await runtime.vault.status(uow)
    assert status.secrets == len(slots)
    assert status.secrets_on_retired_keys == 0
    assert list(status.keks_in_use) == [runtime.vault.wrapper.current_kek_id]
    assert len(runtime.vault.wrapper.known_kek_ids()) == 2
    assert [v.version for v in status.versions] == [1, 2, 3, 4]
    assert status.versions[-1].secrets == len(slots)
    assert status.versions[-1].current == 3
    assert status.warnings == []
    for slot, value in expected.items():
        assert (await read(runtime, slot)).reveal() == value


async def test_rewrap_is_resumable_and_audited_R2(runtime, make_account, backend):
    accounts = [await make_account("A"), await make_account("B")]
    expected = await seed(runtime, accounts, 15)
    async with runtime.uow() as uow:
        rotation = await runtime.vault.rotate(uow, actor=OPERATOR)
        await uow.commit()
    assert rotation.data_keys_rotated == 2

    seen: list[tuple[int, int]] = []

    def crash_after_first_batch(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= 10:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        await runtime.vault.rewrap(
            runtime.uow, actor="operator-cli", batch_size=10, progress=crash_after_first_batch
        )
    assert seen[0] == (0, 30)
    async with runtime.uow(readonly=True) as uow:
        assert (await runtime.vault.status(uow)).secrets_on_retired_keys == 20

    progress: list[tuple[int, int]] = []
    result = await runtime.vault.rewrap(
        runtime.uow,
        actor="operator-cli",
        batch_size=10,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert result.secrets_rewrapped == 20
    assert result.complete
    assert progress[0] == (0, 20)
    assert progress[-1] == (20, 20)
    again = await runtime.vault.rewrap(runtime.uow, actor="operator-cli")
    assert again.secrets_rewrapped == 0
    assert again.complete
    for slot, value in expected.items():
        assert (await read(runtime, slot)).reveal() == value

    async with runtime.uow(readonly=True) as uow:
        entries = (
            await uow.session.execute(
                select(AuditEventRow.action, AuditEventRow.actor, AuditEventRow.details)
                .where(AuditEventRow.chain == SYSTEM_CHAIN)
                .order_by(AuditEventRow.seq)
            )
        ).all()
        report = await runtime.audit.verify(uow, SYSTEM_CHAIN)
    assert report.valid
    assert [e.action for e in entries] == [
        "keys.rotated",
        "keys.rewrapped",
        "keys.rewrapped",
        "keys.rewrapped",
    ]
    assert entries[0].details["data_keys_rotated"] == 2
    assert entries[1].details["complete"] is False
    assert entries[1].details["secrets_rewrapped"] == 10
    assert entries[2].details["complete"] is True
    assert entries[2].actor == "operator-cli"


async def test_kek_rotation_rewraps_data_keys_not_secrets_R2(runtime, make_account, backend):
    account = await make_account()
    expected = await seed(runtime, [account], 5)
    old_kek = runtime.vault.wrapper.current_kek_id
    async with runtime.uow() as uow:
        result = await runtime.vault.rotate(uow, actor=OPERATOR, kek=True, data_keys=False)
        await uow.commit()
    assert result.kek_id != old_kek
    assert result.data_keys_rotated == 0
    rewrap = await runtime.vault.rewrap(runtime.uow, actor=OPERATOR)
    assert (rewrap.data_keys_rewrapped, rewrap.secrets_rewrapped) == (1, 0)
    async with runtime.uow(readonly=True) as uow:
        keks = (await uow.session.execute(select(VaultDataKeyRow.kek_id))).scalars().all()
    assert keks == [result.kek_id]
    runtime.vault.cache.discard_account(None)  # force unwrapping under the new KEK
    for slot, value in expected.items():
        assert (await read(runtime, slot)).reveal() == value


async def test_status_counts_encryptions_and_warns_past_2_30_R2(runtime, make_account, backend):
    account = await make_account()
    await seed(runtime, [account], 4)
    async with runtime.uow(readonly=True) as uow:
        status = await runtime.vault.status(uow)
    assert [(v.version, v.data_keys, v.secrets, v.encryptions) for v in status.versions] == [
        (1, 1, 4, 4)
    ]
    assert status.warnings == []
    async with runtime.uow() as uow:
        await uow.session.execute(VaultDataKeyRow.__table__.update().values(encryptions=2**30 + 1))
        await uow.commit()
    async with runtime.uow(readonly=True) as uow:
        status = await runtime.vault.status(uow)
    assert len(status.hot_keys) == 1
    assert any("past 2^30" in w and str(account) in w for w in status.warnings)
