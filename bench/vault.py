"""Vault benchmark: sealing/opening a secret through the vault against raw AESGCM, measured
in the same run, and an online rewrap of 100k secrets on SQLite.

    python bench/vault.py            # full: 200k crypto ops of each kind, rewrap of 100k
    python bench/vault.py --quick    # under a minute: 40k crypto ops of each, same rewrap

"vault encrypt" is everything `EnvelopeVault.put` does besides the database write: the
data key from the in-memory cache, the header, the associated data (account, owner, row,
field), a random nonce, AES-256-GCM. "raw" is `os.urandom(12)` + `AESGCM.encrypt` with an
associated data of the same length. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from calgate.bootstrap import Runtime, build_runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.settings import Settings
from calgate.vault import Secret
from calgate.vault.base import SecretContext
from calgate.vault.crypto import header_key_id, open_secret, seal_secret, secret_aad
from calgate.vault.sql import VaultRepository

OPERATOR = Principal(PrincipalKind.OPERATOR)
TOKEN = "1//0g" + "x" * 98  # the size of a Google refresh token


def paired(
    baseline: Callable[[], object], candidate: Callable[[], object], n: int
) -> tuple[float, float]:
    """Seconds per call of each: the best of many short interleaved chunks, so that a busy
    machine slows both alike instead of skewing the ratio."""
    best = [float("inf"), float("inf")]
    chunk = 200
    for _ in range(max(1, n // chunk)):
        for i, fn in enumerate((baseline, candidate)):
            start = time.perf_counter()
            for _ in range(chunk):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / chunk)
    return best[0], best[1]


async def crypto(runtime: Runtime, n: int) -> dict[str, float]:
    account = await new_account(runtime, "bench-crypto")
    owner_id = str(uuid.uuid4())
    async with runtime.uow() as uow:
        await runtime.vault.put(
            uow,
            account_id=account,
            owner="connections",
            owner_id=owner_id,
            field="refresh_token",
            value=Secret(TOKEN),
        )
        await uow.commit()
        record = await VaultRepository(uow.session).claim_current(account, 0)
    assert record is not None
    vault = runtime.vault
    key_id = bytes.fromhex(record.key_id)
    await vault.unwrap(record)  # warm the cache, as any running process has it
    secret = Secret(TOKEN)

    def vault_encrypt() -> bytes:
        ctx = SecretContext.of(account, "connections", owner_id, "refresh_token")
        key = vault.cache.get(key_id)
        assert key is not None
        return seal_secret(key, ctx, secret.reveal().encode())

    blob = vault_encrypt()

    def vault_decrypt() -> Secret:
        ctx = SecretContext.of(account, "connections", owner_id, "refresh_token")
        key = vault.cache.get(header_key_id(blob))
        assert key is not None
        return Secret(open_secret(key, ctx, blob).decode())

    raw_key = AESGCM(AESGCM.generate_key(bit_length=256))
    ctx = SecretContext.of(account, "connections", owner_id, "refresh_token")
    aad = secret_aad(blob[:9], ctx)
    plaintext = TOKEN.encode()

    def raw_encrypt() -> bytes:
        nonce = os.urandom(12)
        return nonce + raw_key.encrypt(nonce, plaintext, aad)

    raw_blob = raw_encrypt()

    def raw_decrypt() -> bytes:
        return raw_key.decrypt(raw_blob[:12], raw_blob[12:], aad)

    if vault_decrypt().reveal() != TOKEN or raw_decrypt() != plaintext:
        raise RuntimeError("round trip failed")
    raw_enc, vault_enc = paired(raw_encrypt, vault_encrypt, n)
    raw_dec, vault_dec = paired(raw_decrypt, vault_decrypt, n)
    out = {
        "raw_encrypt_us": raw_enc * 1e6,
        "vault_encrypt_us": vault_enc * 1e6,
        "raw_decrypt_us": raw_dec * 1e6,
        "vault_decrypt_us": vault_dec * 1e6,
    }
    # end to end with the database, for context (not part of the overhead figure)
    m = 200
    start = time.perf_counter()
    for _ in range(m):
        async with runtime.uow() as uow:
            await vault.put(
                uow,
                account_id=account,
                owner="connections",
                owner_id=owner_id,
                field="refresh_token",
                value=secret,
            )
            await uow.commit()
    out["put_with_db_us"] = (time.perf_counter() - start) / m * 1e6
    start = time.perf_counter()
    for _ in range(m):
        async with runtime.uow(readonly=True) as uow:
            await vault.get(
                uow,
                account_id=account,
                owner="connections",
                owner_id=owner_id,
                field="refresh_token",
            )
    out["get_with_db_us"] = (time.perf_counter() - start) / m * 1e6
    return out


async def new_account(runtime: Runtime, name: str) -> uuid.UUID:
    async with runtime.uow() as uow:
        account = await runtime.tenancy.create_account(uow, OPERATOR, name=name)
        await uow.commit()
    return account.id


async def seed(runtime: Runtime, total: int, accounts: int) -> None:
    """Insert ``total`` real sealed secrets quickly: the driver's executemany with SQLite's
    storage formats (this setup is not what is measured)."""
    now = runtime.clock.now()
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    for a in range(accounts):
        account = await new_account(runtime, f"bench-{a}")
        async with runtime.uow() as uow:
            repo = VaultRepository(uow.session)
            record = await runtime.vault.new_key_record(account, 1)
            await repo.insert_key(record, now=now, encryptions=total // accounts)
            key = await runtime.vault.unwrap(record)
            rows = []
            for _ in range(total // accounts):
                ctx = SecretContext.of(account, "connections", uuid.uuid4(), "refresh_token")
                blob = seal_secret(key, ctx, TOKEN.encode())
                rows.append((account.hex, ctx.owner, ctx.owner_id, ctx.field, record.key_id, blob))
            conn = await uow.session.connection()
            await conn.exec_driver_sql(
                "INSERT INTO vault_secrets (account_id, owner, owner_id, field, dek_id, "
                f"ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, '{stamp}', "
                f"'{stamp}')",
                rows,
            )
            await uow.commit()


async def rewrap(runtime: Runtime, total: int) -> dict[str, float]:
    start = time.perf_counter()
    await seed(runtime, total, accounts=100)
    seeded = time.perf_counter() - start
    async with runtime.uow() as uow:
        await runtime.vault.rotate(uow, actor=OPERATOR)
        await uow.commit()
    start = time.perf_counter()
    result = await runtime.vault.rewrap(runtime.uow, actor=OPERATOR, batch_size=1000)
    elapsed = time.perf_counter() - start
    if not result.complete or result.secrets_rewrapped != total + 1:  # + the crypto one
        raise RuntimeError(f"rewrap incomplete: {result}")
    async with runtime.uow(readonly=True) as uow:
        status = await runtime.vault.status(uow)
    if status.secrets_on_retired_keys:
        raise RuntimeError("secrets left on retired keys")
    return {"seed_s": seeded, "rewrap_s": elapsed, "rows": total}


async def main(quick: bool) -> dict[str, float]:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            env="development",
            master_key=None,
            master_key_file=None,
        )
        runtime = await build_runtime(settings)
        try:
            figures = await crypto(runtime, 40_000 if quick else 200_000)
            figures |= await rewrap(runtime, 100_000)
        finally:
            await runtime.aclose()
    return figures


def report(f: dict[str, float]) -> dict[str, float]:
    enc = f["vault_encrypt_us"] / f["raw_encrypt_us"]
    dec = f["vault_decrypt_us"] / f["raw_decrypt_us"]
    rows = [
        (
            "encrypt one secret",
            f"{f['raw_encrypt_us']:.2f} µs",
            f"{f['vault_encrypt_us']:.2f} µs",
            f"{enc:.2f}x",
            "≤ 5x",
        ),
        (
            "decrypt one secret",
            f"{f['raw_decrypt_us']:.2f} µs",
            f"{f['vault_decrypt_us']:.2f} µs",
            f"{dec:.2f}x",
            "≤ 5x",
        ),
        (
            "put / get with SQLite",
            "—",
            f"{f['put_with_db_us']:.0f} / {f['get_with_db_us']:.0f} µs",
            "",
            "(context)",
        ),
        (
            f"rewrap {int(f['rows'])} secrets",
            "—",
            f"{f['rewrap_s']:.2f} s",
            f"{f['rows'] / f['rewrap_s']:.0f}/s",
            "≤ 30 s",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    head = ("measure", "raw AESGCM", "vault", "ratio", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
    for line in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print(f"(seeding 100k ciphertexts took {f['seed_s']:.1f} s, not counted)")
    return {
        "encrypt_overhead_x": round(enc, 2),
        "decrypt_overhead_x": round(dec, 2),
        "rewrap_100k_s": round(f["rewrap_s"] * 100_000 / f["rows"], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (< 1 minute)")
    args = parser.parse_args()
    start = time.perf_counter()
    result = report(asyncio.run(main(args.quick)))
    print(f"(total {time.perf_counter() - start:.1f} s)", file=sys.stderr)
    print(json.dumps(result))
