"""The vault on a real database (SQLite and PostgreSQL): round trip, binding of every
ciphertext to its place, crypto-shredding, no plaintext at rest."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from calgate.errors import Conflict, VaultError
from calgate.persistence.tables import AccountRow, VaultDataKeyRow, VaultSecretRow
from calgate.vault import Secret

from support.canary import MARKER, canary
from support.vault import OPERATOR, documented_aad, raw_data_key, raw_open


async def put(runtime, account, owner, owner_id, field, value):
    async with runtime.uow() as uow:
        await runtime.vault.put(
            uow, account_id=account, owner=owner, owner_id=owner_id, field=field, value=value
        )
        await uow.commit()


async def get(runtime, account, owner, owner_id, field):
    async with runtime.uow(readonly=True) as uow:
        return await runtime.vault.get(
            uow, account_id=account, owner=owner, owner_id=owner_id, field=field
        )


async def row_of(runtime, owner, owner_id, field):
    async with runtime.uow(readonly=True) as uow:
        return (
            await uow.session.execute(
                select(VaultSecretRow.__table__).where(
                    VaultSecretRow.owner == owner,
                    VaultSecretRow.owner_id == owner_id,
                    VaultSecretRow.field == field,
                )
            )
        ).one()


async def test_round_trip_and_replace_R2(runtime, make_account, backend):
    account = await make_account()
    conn = str(uuid.uuid4())
    first, second = canary("refresh-token"), canary("refresh-token")
    await put(runtime, account, "connections", conn, "refresh_token", Secret(first))
    got = await get(runtime, account, "connections", conn, "refresh_token")
    assert isinstance(got, Secret)
    assert got.reveal() == first

    await put(runtime, account, "connections", conn, "refresh_token", Secret(second))
    assert (await get(runtime, account, "connections", conn, "refresh_token")).reveal() == second
    # unicode and empty values survive too
    await put(runtime, account, "connections", conn, "password", Secret("pä$$wörd ✓"))
    assert (await get(runtime, account, "connections", conn, "password")).reveal() == "pä$$wörd ✓"
    await put(runtime, account, "connections", conn, "empty", Secret(""))
    assert (await get(runtime, account, "connections", conn, "empty")).reveal() == ""
    assert await get(runtime, account, "connections", conn, "other_field") is None


async def test_other_account_sees_nothing_and_cannot_overwrite_R2(runtime, make_account, backend):
    a, b = await make_account("A"), await make_account("B")
    conn = str(uuid.uuid4())
    await put(runtime, a, "connections", conn, "refresh_token", Secret(canary("rt")))
    assert await get(runtime, b, "connections", conn, "refresh_token") is None
    with pytest.raises(Conflict):
        await put(runtime, b, "connections", conn, "refresh_token", Secret(canary("rt")))
    async with runtime.uow() as uow:
        assert (
            await runtime.vault.delete(uow, account_id=b, owner="connections", owner_id=conn) == 0
        )


async def test_delete_one_field_or_all_R6(runtime, make_account, backend):
    account = await make_account()
    conn = str(uuid.uuid4())
    for field in ("refresh_token", "access_token", "client_state"):
        await put(runtime, account, "connections", conn, field, Secret(canary(field)))
    async with runtime.uow() as uow:
        n = await runtime.vault.delete(
            uow, account_id=account, owner="connections", owner_id=conn, field="access_token"
        )
        await uow.commit()
    assert n == 1
    assert await get(runtime, account, "connections", conn, "access_token") is None
    assert await get(runtime, account, "connections", conn, "refresh_token") is not None
    async with runtime.uow() as uow:
        n = await runtime.vault.delete(uow, account_id=account, owner="connections", owner_id=conn)
        await uow.commit()
    assert n == 2
    assert await get(runtime, account, "connections", conn, "refresh_token") is None


@pytest.mark.parametrize("part", ["format", "key_id", "nonce", "ciphertext", "tag"])
async def test_any_flipped_byte_is_rejected_R2(runtime, make_account, backend, part):
    account = await make_account()
    conn = str(uuid.uuid4())
    value = canary("refresh-token")
    await put(runtime, account, "connections", conn, "refresh_token", Secret(value))
    row = await row_of(runtime, "connections", conn, "refresh_token")
    blob = bytes(row.ciphertext)
    spans = {
        "format": range(0, 1),
        "key_id": range(1, 9),
        "nonce": range(9, 21),
        "ciphertext": range(21, len(blob) - 16),
        "tag": range(len(blob) - 16, len(blob)),
    }
    # the untouched bytes do decrypt with raw AESGCM: the rejections below are real
    key = await raw_data_key(runtime, row.dek_id)
    aad = documented_aad(blob[:9], account, "connections", conn, "refresh_token")
    assert raw_open(key, blob, aad).decode() == value
    for index in spans[part]:
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= bit
            async with runtime.uow() as uow:
                await uow.session.execute(
                    update(VaultSecretRow)
                    .where(VaultSecretRow.id == row.id)
                    .values(ciphertext=bytes(tampered))
                )
                await uow.commit()
            with pytest.raises(VaultError):
                await get(runtime, account, "connections", conn, "refresh_token")
    # truncation too
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(VaultSecretRow).where(VaultSecretRow.id == row.id).values(ciphertext=blob[:30])
        )
        await uow.commit()
    with pytest.raises(VaultError):
        await get(runtime, account, "connections", conn, "refresh_token")


async def test_every_swap_across_rows_fields_accounts_and_versions_fails_R2(
    runtime, make_account, backend
):
    """Sample: 2 accounts x 2 owner rows x 2 fields, sealed under two key versions. Every
    ciphertext copied into every other slot must fail, while the very same bytes decrypt
    with raw AESGCM and their own associated data."""
    accounts = [await make_account("A"), await make_account("B")]
    slots = []  # (account, owner, owner_id, field)
    for account in accounts:
        for owner in ("connections", "room_integrations"):
            owner_id = str(uuid.uuid4())
            for field in ("refresh_token", "client_secret"):
                slots.append((account, owner, owner_id, field))
    values = {}
    for field in ("refresh_token", "client_secret"):  # the second field under new versions
        for slot in [s for s in slots if s[3] == field]:
            values[slot] = canary("secret")
            await put(runtime, *slot, Secret(values[slot]))
        async with runtime.uow() as uow:
            await runtime.vault.rotate(uow, actor=OPERATOR)
            await uow.commit()
    rows = {slot: await row_of(runtime, *slot[1:]) for slot in slots}
    versions = {r.dek_id for r in rows.values()}
    assert len(versions) == 4  # two accounts x two versions

    # same bytes, right associated data, raw AESGCM: decrypts (so the failures below bite)
    for slot, row in rows.items():
        blob = bytes(row.ciphertext)
        key = await raw_data_key(runtime, row.dek_id)
        assert raw_open(key, blob, documented_aad(blob[:9], *slot)).decode() == values[slot]

    swaps = 0
    for source, target in itertools.permutations(slots, 2):
        src, dst = rows[source], rows[target]
        async with runtime.uow() as uow:
            await uow.session.execute(
                update(VaultSecretRow)
                .where(VaultSecretRow.id == dst.id)
                .values(ciphertext=src.ciphertext, dek_id=src.dek_id)
            )
            await uow.commit()
        with pytest.raises(VaultError):
            await get(runtime, *target)
        swaps += 1
    assert swaps == len(slots) * (len(slots) - 1)

    # cross-version: relabel a v1 ciphertext with the same account's v2 key id
    account = slots[0][0]
    row = rows[slots[0]]
    async with runtime.uow(readonly=True) as uow:
        keys = (
            await uow.session.execute(
                select(VaultDataKeyRow.__table__).where(VaultDataKeyRow.account_id == account)
            )
        ).all()
    other = next(k for k in keys if k.key_id != row.dek_id)
    blob = bytes(row.ciphertext)
    relabelled = blob[:1] + bytes.fromhex(other.key_id) + blob[9:]
    async with runtime.uow() as uow:
        await uow.session.execute(
            update(VaultSecretRow)
            .where(VaultSecretRow.id == row.id)
            .values(ciphertext=relabelled, dek_id=other.key_id)
        )
        await uow.commit()
    with pytest.raises(VaultError):
        await get(runtime, *slots[0])
    key = await raw_data_key(runtime, row.dek_id)
    assert raw_open(key, blob, documented_aad(blob[:9], *slots[0])).decode() == values[slots[0]]


async def test_deleting_an_account_shreds_its_keys_R2(runtime, make_account, backend):
    victim, bystander = await make_account("Victim"), await make_account("Bystander")
    conns = [str(uuid.uuid4()) for _ in range(3)]
    for conn in conns:
        await put(runtime, victim, "connections", conn, "refresh_token", Secret(canary("rt")))
    keep = str(uuid.uuid4())
    kept_value = canary("rt")
    await put(runtime, bystander, "connections", keep, "refresh_token", Secret(kept_value))

    # a "backup" of the account row and of its ciphertexts, taken before the deletion
    async with runtime.uow(readonly=True) as uow:
        account_row = (
            (await uow.session.execute(select(AccountRow.__table__).where(AccountRow.id == victim)))
            .mappings()
            .one()
        )
        backup = (
            (
                await uow.session.execute(
                    select(VaultSecretRow.__table__).where(VaultSecretRow.account_id == victim)
                )
            )
            .mappings()
            .all()
        )
    assert len(backup) == 3

    async with runtime.uow() as uow:
        await runtime.tenancy.delete_account(uow, OPERATOR, victim)
        await uow.commit()

    async with runtime.uow(readonly=True) as uow:
        left = (
            await uow.session.execute(
                select(VaultDataKeyRow).where(VaultDataKeyRow.account_id == victim)
            )
        ).all()
    assert left == []

    # restore the backup: the ciphertexts are back, their key is not
    async with runtime.uow() as uow:
        await uow.session.execute(insert(AccountRow.__table__).values(**account_row))
        await uow.session.execute(insert(VaultSecretRow.__table__), [dict(r) for r in backup])
        await uow.commit()
    for conn in conns:
        with pytest.raises(VaultError, match="destroyed"):
            await get(runtime, victim, "connections", conn, "refresh_token")
    # and a new secret for the restored account gets a new key, not the old one back
    await put(runtime, victim, "connections", str(uuid.uuid4()), "refresh_token", Secret("x"))
    for conn in conns:
        with pytest.raises(VaultError):
            await get(runtime, victim, "connections", conn, "refresh_token")
    assert (
        await get(runtime, bystander, "connections", keep, "refresh_token")
    ).reveal() == kept_value
    async with runtime.uow() as uow:
        await uow.session.execute(delete(AccountRow).where(AccountRow.id == victim))
        await uow.commit()


async def test_no_canary_plaintext_in_the_database_file_R2(runtime, make_account, database_url):
    account = await make_account()
    planted = [canary(kind) for kind in ("refresh-token", "exchange-password", "client-secret")]
    for value in planted:
        await put(runtime, account, "connections", str(uuid.uuid4()), "secret", Secret(value))
    await runtime.engine.dispose()  # close connections so the WAL can be read as it is
    path = Path(database_url.split("///", 1)[1])
    data = path.read_bytes() + (
        Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b""
    )
    with sqlite3.connect(path) as conn:
        count = conn.execute("SELECT count(*) FROM vault_secrets").fetchone()[0]
    assert count == 3  # the rows are there, and the guard also scans the file after the test
    assert MARKER.encode() not in data
    for value in planted:
        assert value.encode() not in data
