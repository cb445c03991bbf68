"""Repositories and the unit of work, on SQLite and PostgreSQL: transactions, uniqueness and
account scoping at the storage layer."""

from __future__ import annotations

import uuid

import pytest

from calgate.bootstrap import Runtime
from calgate.domain.model import Account, Group, User
from calgate.domain.policy import Access, PolicyOverrides
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Conflict

OPERATOR = Principal(PrincipalKind.OPERATOR)


@pytest.fixture(autouse=True)
def _both(backend: str) -> str:
    return backend


class Boom(Exception):
    pass


async def test_leaving_the_block_on_an_exception_rolls_back(runtime: Runtime) -> None:
    account_id = uuid.uuid4()

    async def fail_midway() -> None:
        async with runtime.uow() as uow:
            await uow.accounts.add(Account(account_id, "Doomed", runtime.clock.now()))
            assert await uow.accounts.get(account_id) is not None  # visible inside
            raise Boom

    with pytest.raises(Boom):
        await fail_midway()

    async with runtime.uow(readonly=True) as uow:
        assert await uow.accounts.get(account_id) is None


async def test_nothing_is_kept_without_commit(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Uncommitted")

    async with runtime.uow(readonly=True) as uow:
        assert await uow.accounts.get(account.id) is None
        assert await uow.audit.head(f"account:{account.id}") is None  # audit went with it


async def test_commit_keeps_the_change_and_its_audit_entry(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(
            uow, OPERATOR, name="Kept", policy={"calendar_access": "read"}
        )
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        stored = await uow.accounts.get(account.id)
        entries = await uow.audit.list(f"account:{account.id}")
    assert stored == account
    assert stored.policy.calendar_access is Access.READ
    assert stored.created_at.tzinfo is not None  # aware UTC on every backend
    assert [e.action for e in entries] == ["account.created"]


async def test_unit_of_work_outside_its_block_is_refused(runtime: Runtime) -> None:
    uow = runtime.uow()
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.session


async def test_duplicate_names_conflict_and_the_transaction_survives(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Acme")
        other = await runtime.tenancy.create_account(uow, OPERATOR, name="Other")
        await runtime.tenancy.create_group(uow, OPERATOR, account.id, name="Sales")
        with pytest.raises(Conflict, match="Sales"):
            await runtime.tenancy.create_group(uow, OPERATOR, account.id, name="Sales")
        # the same name in another account is fine, and the transaction is still usable
        await runtime.tenancy.create_group(uow, OPERATOR, other.id, name="Sales")
        await runtime.tenancy.create_user(uow, OPERATOR, account.id, email="a@example.com")
        with pytest.raises(Conflict, match=r"a@example\.com"):
            await runtime.tenancy.create_user(uow, OPERATOR, account.id, email="A@example.com")
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        assert [g.name for g in await uow.groups.list(account.id)] == ["Sales"]
        assert [g.name for g in await uow.groups.list(other.id)] == ["Sales"]
        assert await uow.users.count(account.id) == 1


async def test_repositories_never_return_another_accounts_rows(runtime: Runtime) -> None:
    now = runtime.clock.now()
    a, b = Account(uuid.uuid4(), "A", now), Account(uuid.uuid4(), "B", now)
    group = Group(uuid.uuid4(), a.id, "G", now, PolicyOverrides(bidirectional_sync=True))
    user = User(uuid.uuid4(), a.id, "u@example.com", "U", now, group_id=group.id)
    async with runtime.uow() as uow:
        await uow.accounts.add(a)
        await uow.accounts.add(b)
        await uow.groups.add(group)
        await uow.users.add(user)
        await uow.commit()

    async with runtime.uow() as uow:
        assert await uow.groups.get(a.id, group.id) == group
        assert await uow.groups.get(b.id, group.id) is None
        assert await uow.users.get(b.id, user.id) is None
        assert await uow.users.list(b.id) == []
        assert await uow.users.find_by_email("u@example.com", account_id=b.id) == []
        # writes scoped to the wrong account touch nothing
        await uow.users.update(b.id, user.id, display_name="Hijacked")
        await uow.users.delete(b.id, user.id)
        await uow.groups.delete(b.id, group.id)
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        assert await uow.users.get(a.id, user.id) == user
        assert await uow.groups.get(a.id, group.id) == group


async def test_deleting_a_group_keeps_its_users_in_no_group(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Acme")
        group = await runtime.tenancy.create_group(uow, OPERATOR, account.id, name="G")
        user = await runtime.tenancy.create_user(
            uow, OPERATOR, account.id, email="x@example.com", group_id=group.id
        )
        await runtime.tenancy.delete_group(uow, OPERATOR, account.id, group.id)
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        stored = await uow.users.get(account.id, user.id)
    assert stored is not None
    assert stored.group_id is None


async def test_deleting_an_account_removes_its_rows_but_not_its_audit_log(
    runtime: Runtime,
) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Gone")
        await runtime.tenancy.create_group(uow, OPERATOR, account.id, name="G")
        await runtime.tenancy.create_user(uow, OPERATOR, account.id, email="x@example.com")
        key = await runtime.tenancy.create_api_key(uow, OPERATOR, account.id, name="k")
        await uow.commit()

    async with runtime.uow() as uow:
        await runtime.tenancy.delete_account(uow, OPERATOR, account.id)
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        assert await uow.accounts.get(account.id) is None
        assert await uow.groups.list(account.id) == []
        assert await uow.users.count(account.id) == 0
        assert await uow.api_keys.get(account.id, key.key.id) is None
        report = await runtime.audit.verify(uow, f"account:{account.id}")
    assert report.valid
    assert report.entries == 5  # created, group, user, key, deleted


async def test_user_list_pages_by_email(runtime: Runtime) -> None:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name="Acme")
        for n in (3, 1, 2):
            await runtime.tenancy.create_user(uow, OPERATOR, account.id, email=f"u{n}@example.com")
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        first = await uow.users.list(account.id, limit=2)
        rest = await uow.users.list(account.id, limit=2, after=first[-1].email)
    assert [u.email for u in first] == ["u1@example.com", "u2@example.com"]
    assert [u.email for u in rest] == ["u3@example.com"]
