"""The tamper-evident audit log (R3), on SQLite and PostgreSQL: entries are chained with an
HMAC keyed from the server secret, so an edited, removed or truncated entry is found by the
verifier, even when whoever edited the database recomputed a plain hash."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.services.audit import account_chain

OPERATOR = Principal(PrincipalKind.OPERATOR)


@pytest.fixture(autouse=True)
def _both(backend: str) -> str:
    return backend


async def _account_with_history(runtime: Runtime) -> uuid.UUID:
    """An account whose chain has six entries (seq 1..6)."""
    t = runtime.tenancy
    async with runtime.uow() as uow:
        account = await t.create_account(uow, OPERATOR, name="Audited")  # 1
        group = await t.create_group(uow, OPERATOR, account.id, name="Sales")  # 2
        await t.update_account_policy(uow, OPERATOR, account.id, {"calendar_access": "read"})  # 3
        await t.update_group_policy(
            uow, OPERATOR, account.id, group.id, {"bidirectional_sync": True}
        )  # 4
        await t.create_api_key(uow, OPERATOR, account.id, name="ops")  # 5
        await t.rename_account(uow, OPERATOR, account.id, "Audited Inc")  # 6
        await uow.commit()
    return account.id


async def _sql(runtime: Runtime, statement: str, **params: Any) -> None:
    """Tamper with the database directly, as someone with database access could."""
    async with runtime.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def _verify(runtime: Runtime, account_id: uuid.UUID) -> Any:
    async with runtime.uow(readonly=True) as uow:
        return await runtime.audit.verify(uow, account_chain(account_id))


async def test_untouched_chain_verifies_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)

    report = await _verify(runtime, account_id)

    assert report.valid
    assert report.entries == 6
    assert report.first_bad_seq is None
    assert report.problem is None
    async with runtime.uow(readonly=True) as uow:
        rows = await uow.audit.list(account_chain(account_id))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.action for r in rows] == [
        "account.created",
        "group.created",
        "policy.changed",
        "policy.changed",
        "api_key.created",
        "account.renamed",
    ]
    assert all(r.actor == "operator" for r in rows)
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert rows[2].details == {
        "level": "account",
        "before": {},
        "after": {"calendar_access": "read"},
    }


async def test_edited_details_are_detected_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)
    # Someone rewrites history: the policy change at seq 3 "never lowered" access.
    await _sql(
        runtime,
        "UPDATE audit_events SET details = :d WHERE chain = :c AND seq = 3",
        d='{"level": "account", "before": {}, "after": {}}',
        c=account_chain(account_id),
    )

    report = await _verify(runtime, account_id)

    assert not report.valid
    assert report.first_bad_seq == 3
    assert report.problem == "entry 3 was altered after it was written"
    assert report.entries == 2  # the entries before it are still good


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "admin-key:someone-else"), ("action", "group.renamed"), ("target", "x")],
)
async def test_any_edited_field_is_detected_R3(runtime: Runtime, column: str, value: str) -> None:
    account_id = await _account_with_history(runtime)
    await _sql(
        runtime,
        f"UPDATE audit_events SET {column} = :v WHERE chain = :c AND seq = 5",
        v=value,
        c=account_chain(account_id),
    )

    report = await _verify(runtime, account_id)

    assert (report.valid, report.first_bad_seq) == (False, 5)


async def test_edit_with_a_recomputed_plain_hash_is_still_detected_R3(runtime: Runtime) -> None:
    """The chain is an HMAC: without the server secret a forger cannot produce hashes."""
    account_id = await _account_with_history(runtime)
    forged = hashlib.sha256(b"forged entry").hexdigest()
    await _sql(
        runtime,
        "UPDATE audit_events SET target = 'account:other', hash = :h WHERE chain = :c AND seq = 4",
        h=forged,
        c=account_chain(account_id),
    )
    await _sql(
        runtime,
        "UPDATE audit_events SET prev_hash = :h WHERE chain = :c AND seq = 5",
        h=forged,
        c=account_chain(account_id),
    )

    report = await _verify(runtime, account_id)

    assert (report.valid, report.first_bad_seq) == (False, 4)
    assert "altered" in report.problem


async def test_deleted_middle_entry_is_detected_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)
    await _sql(
        runtime,
        "DELETE FROM audit_events WHERE chain = :c AND seq = 4",
        c=account_chain(account_id),
    )

    report = await _verify(runtime, account_id)

    assert not report.valid
    assert report.first_bad_seq == 4
    assert report.problem == "entry 4 is missing"


async def test_renumbered_entries_after_a_deletion_are_detected_R3(runtime: Runtime) -> None:
    """Closing the gap after deleting entry 4 breaks the link from 5 (now 4) instead."""
    account_id = await _account_with_history(runtime)
    chain = account_chain(account_id)
    await _sql(runtime, "DELETE FROM audit_events WHERE chain = :c AND seq = 4", c=chain)
    for seq in (5, 6):
        await _sql(
            runtime,
            "UPDATE audit_events SET seq = :new WHERE chain = :c AND seq = :old",
            new=seq - 1,
            old=seq,
            c=chain,
        )
    await _sql(runtime, "UPDATE audit_heads SET seq = 5 WHERE chain = :c", c=chain)

    report = await _verify(runtime, account_id)

    assert (report.valid, report.first_bad_seq) == (False, 4)
    assert report.problem == "entry 4 does not link to entry 3"


async def test_truncated_tail_is_detected_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)
    await _sql(
        runtime,
        "DELETE FROM audit_events WHERE chain = :c AND seq >= 5",
        c=account_chain(account_id),
    )

    report = await _verify(runtime, account_id)

    assert not report.valid
    assert report.entries == 4
    assert report.first_bad_seq == 5
    assert "removed from its end" in report.problem


async def test_emptied_chain_is_detected_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)
    await _sql(runtime, "DELETE FROM audit_events WHERE chain = :c", c=account_chain(account_id))

    report = await _verify(runtime, account_id)

    assert (report.valid, report.entries, report.first_bad_seq) == (False, 0, 1)


async def test_verification_pages_through_long_chains_R3(runtime: Runtime) -> None:
    account_id = await _account_with_history(runtime)
    async with runtime.uow(readonly=True) as uow:
        report = await runtime.audit.verify(uow, account_chain(account_id), batch=4)
    assert (report.valid, report.entries) == (True, 6)

    await _sql(
        runtime,
        "UPDATE audit_events SET actor = 'x' WHERE chain = :c AND seq = 6",
        c=account_chain(account_id),
    )
    async with runtime.uow(readonly=True) as uow:
        report = await runtime.audit.verify(uow, account_chain(account_id), batch=4)
    assert (report.valid, report.first_bad_seq) == (False, 6)


async def test_chains_are_per_account_R3(runtime: Runtime) -> None:
    a = await _account_with_history(runtime)
    b = await _account_with_history(runtime)
    await _sql(runtime, "DELETE FROM audit_events WHERE chain = :c AND seq = 2", c=account_chain(a))

    assert not (await _verify(runtime, a)).valid
    assert (await _verify(runtime, b)).valid


async def test_concurrent_policy_changes_keep_one_valid_chain_R3(runtime: Runtime) -> None:
    """Twenty admins change the same account's policy at once: every change gets its own
    entry, the chain stays valid, and no change is lost (each entry's `before` is the
    previous entry's `after`, so the changes were applied one after another)."""
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Busy")
        await uow.commit()
    fields: list[tuple[str, Any]] = [
        ("bidirectional_sync", True),
        ("calendar_access", "read"),
        ("contacts_access", "read_write"),
        ("google_calendar_access", "read"),
        ("allowed_providers", ["google"]),
    ]

    async def change(i: int) -> None:
        name, value = fields[i % len(fields)]
        async with runtime.uow() as uow:
            await runtime.tenancy.update_account_policy(
                uow, OPERATOR, account.id, {name: value if i < 15 else None}
            )
            await uow.commit()

    await asyncio.gather(*(change(i) for i in range(20)))

    report = await _verify(runtime, account.id)
    assert (report.valid, report.entries) == (True, 21)
    async with runtime.uow(readonly=True) as uow:
        rows = [
            r
            for r in await uow.audit.list(account_chain(account.id))
            if r.action == "policy.changed"
        ]
        final = await uow.accounts.get(account.id)
    assert len(rows) == 20
    assert rows[0].details["before"] == {}
    for previous, entry in itertools.pairwise(rows):
        assert entry.details["before"] == previous.details["after"], "a change was lost"
    assert final is not None
    assert final.policy.to_dict() == rows[-1].details["after"]


async def test_verify_all_checks_every_chain_including_removed_ones_R3(runtime: Runtime) -> None:
    a = await _account_with_history(runtime)
    b = await _account_with_history(runtime)
    async with runtime.uow() as uow:
        await runtime.audit.record(
            uow, actor="operator-cli", action="keys.rotated", target="vault", account_id=None
        )
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        reports = await runtime.audit.verify_all(uow)
    assert [(r.chain, r.valid, r.entries) for r in reports] == sorted(
        [(account_chain(a), True, 6), (account_chain(b), True, 6), ("system", True, 1)]
    )

    # b's chain removed whole (entries and head): b still exists, so that is noticed
    await _sql(runtime, "DELETE FROM audit_events WHERE chain = :c", c=account_chain(b))
    await _sql(runtime, "DELETE FROM audit_heads WHERE chain = :c", c=account_chain(b))
    await _sql(runtime, "UPDATE audit_events SET actor = 'x' WHERE chain = 'system'")
    async with runtime.uow(readonly=True) as uow:
        broken = {r.chain: r for r in await runtime.audit.verify_all(uow) if not r.valid}
    assert set(broken) == {account_chain(b), "system"}
    assert broken[account_chain(b)].problem == (
        "the account exists but its chain has no entries: they were removed"
    )
    assert broken["system"].first_bad_seq == 1
