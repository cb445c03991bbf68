"""Key maintenance: rotation, online rewrap, status and bulk purge.

* **rotate** starts new key versions: a new KEK (key file) and/or a new data key per
  account, in one transaction that locks each account's current data key, so no ``put``
  can seal under a key after it was retired. Old keys stay (retired) to decrypt old rows.
* **rewrap** moves everything to the current keys in small transactions: first data keys
  not wrapped by the current KEK, then secrets sealed under retired data keys. Each batch
  re-reads and locks its rows, skips rows a concurrent ``put`` already moved, and commits;
  an interrupted rewrap simply continues where it stopped when run again.
* **status** reports key ids, rows and encryptions per key version, and warns when a data
  key has sealed more than 2^30 secrets (random 96-bit nonces stay safe far below 2^32).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from calgate.errors import VaultError
from calgate.vault.base import Progress, PurgeResult, RewrapResult, RotationResult
from calgate.vault.crypto import dek_context, open_secret, seal_secret
from calgate.vault.sql import VaultRepository

if TYPE_CHECKING:
    from calgate.domain.principal import Principal
    from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
    from calgate.vault.service import EnvelopeVault

__all__ = ["ENCRYPTION_WARNING", "VaultStatus", "VersionStatus", "purge", "rewrap", "rotate"]

log = logging.getLogger(__name__)

ENCRYPTION_WARNING = 2**30


@dataclass(frozen=True, slots=True)
class VersionStatus:
    version: int
    data_keys: int
    current: int
    secrets: int
    encryptions: int
    max_encryptions: int


@dataclass(frozen=True, slots=True)
class VaultStatus:
    kek_id: str
    known_kek_ids: tuple[str, ...]
    keks_in_use: dict[str, int]
    kek_rotatable: bool
    versions: list[VersionStatus]
    secrets: int
    secrets_on_retired_keys: int
    secrets_without_key: int
    hot_keys: list[tuple[str, uuid.UUID, int, int]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out = [
            f"data key {key_id} (account {account}, v{version}) has sealed {count} secrets, "
            f"past 2^30: rotate with `calgate keys rotate --account {account}`"
            for key_id, account, version, count in self.hot_keys
        ]
        stale_keks = [k for k in self.keks_in_use if k != self.kek_id]
        if stale_keks or self.secrets_on_retired_keys:
            out.append(
                f"{self.secrets_on_retired_keys} secrets and "
                f"{sum(self.keks_in_use[k] for k in stale_keks)} data keys are not on the "
                "current keys: run `calgate keys rewrap`"
            )
        missing = [k for k in self.keks_in_use if k not in self.known_kek_ids]
        if missing:
            out.append(f"data keys are wrapped by unknown master keys: {', '.join(missing)}")
        if self.secrets_without_key:
            out.append(
                f"{self.secrets_without_key} secrets have no data key (destroyed): "
                "they can never be decrypted"
            )
        return out

    @property
    def removable_kek_ids(self) -> list[str]:
        """Previous master keys that wrap no data key any more: safe to remove."""
        return [k for k in self.known_kek_ids[1:] if k not in self.keks_in_use]


async def rotate(
    vault: EnvelopeVault,
    uow: SqlUnitOfWork,
    *,
    actor: Principal | str,
    kek: bool,
    data_keys: bool,
    account_id: uuid.UUID | None,
) -> RotationResult:
    if kek:
        await vault.wrapper.rotate()
    rotated = 0
    if data_keys:
        repo = VaultRepository(uow.session)
        current = await repo.lock_current_keys([account_id] if account_id else None)
        new = [await vault.new_key_record(k.account_id, k.version + 1) for k in current]
        await repo.rotate_keys(current, new, now=vault.clock.now())
        rotated = len(new)
    kek_id = vault.wrapper.current_kek_id
    await vault.audit.record(
        uow,
        actor=actor,
        action="keys.rotated",
        target=f"account:{account_id}" if account_id else "vault",
        account_id=None,
        details={
            "kek_id": kek_id,
            "kek_rotated": kek,
            "data_keys_rotated": rotated,
            "account": str(account_id) if account_id else None,
        },
    )
    log.info("vault: rotated (kek %s, new kek: %s, data keys: %s)", kek_id, kek, rotated)
    return RotationResult(kek_id, kek, rotated)


@dataclass
class _Tally:
    """Rewrap progress so far (kept up to date, so an interrupted run is audited too)."""

    total: int
    progress: Progress | None
    done: int = 0
    keys: int = 0
    secrets: int = 0
    unreadable: int = 0
    batches: int = 0

    def tick(self, rows: int) -> None:
        self.done += rows
        self.batches += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def result(self, complete: bool) -> RewrapResult:
        return RewrapResult(self.keys, self.secrets, self.unreadable, self.batches, complete)


async def _rewrap_keys(
    vault: EnvelopeVault, uows: UnitOfWorkFactory, batch_size: int, tally: _Tally
) -> None:
    after = ""
    while True:
        kek_id = vault.wrapper.current_kek_id
        async with uows() as uow:
            repo = VaultRepository(uow.session)
            records = await repo.keys_not_under(kek_id, after=after, limit=batch_size)
            if not records:
                return
            changes = []
            for rec in records:
                context = dek_context(rec.account_id, bytes.fromhex(rec.key_id), rec.version)
                try:
                    raw = await vault.wrapper.unwrap(
                        rec.wrapped, kek_id=rec.kek_id, context=context
                    )
                except VaultError as exc:
                    log.error("vault rewrap: data key %s skipped: %s", rec.key_id, exc.detail)
                    tally.unreadable += 1
                    continue
                new_kek, wrapped = await vault.wrapper.wrap(raw, context=context)
                changes.append((rec.key_id, rec.kek_id, new_kek, wrapped))
            await repo.rewrap_keys(changes)
            await uow.commit()
        after = records[-1].key_id
        tally.keys += len(changes)
        tally.tick(len(records))


async def _rewrap_secrets(
    vault: EnvelopeVault, uows: UnitOfWorkFactory, batch_size: int, tally: _Tally
) -> None:
    after = 0
    while True:
        async with uows() as uow:
            repo = VaultRepository(uow.session)
            batch = await repo.stale_batch(after=after, limit=batch_size)
            if not batch:
                return
            current = {k.account_id: k for k in await repo.lock_current_keys({a for _, a in batch})}
            rows = await repo.lock_secrets(batch)
            changes: list[tuple[int, str, bytes]] = []
            counts: Counter[str] = Counter()
            for row in rows:
                cur = current.get(row.context.account_id)
                if cur is None or row.key is None or row.dek_id == cur.key_id:
                    continue  # moved by a concurrent put, or nothing to move it to
                try:
                    plaintext = open_secret(
                        await vault.unwrap(row.key), row.context, row.ciphertext
                    )
                except VaultError as exc:
                    log.error("vault rewrap: secret row %s skipped: %s", row.id, exc.detail)
                    tally.unreadable += 1
                    continue
                blob = seal_secret(await vault.unwrap(cur), row.context, plaintext)
                changes.append((row.id, cur.key_id, blob))
                counts[cur.key_id] += 1
            await repo.replace_ciphertexts(changes, now=vault.clock.now())
            await repo.add_encryptions(dict(counts))
            await uow.commit()
        after = batch[-1][0]
        tally.secrets += len(changes)
        tally.tick(len(batch))


async def rewrap(
    vault: EnvelopeVault,
    uows: UnitOfWorkFactory,
    *,
    actor: Principal | str,
    batch_size: int,
    progress: Progress | None,
) -> RewrapResult:
    if not 1 <= batch_size <= 10_000:
        raise ValueError("batch_size must be between 1 and 10000")
    vault.wrapper.reload()
    kek_id = vault.wrapper.current_kek_id
    async with uows(readonly=True) as uow:
        repo = VaultRepository(uow.session)
        keys_total = sum(n for k, n in (await repo.keks_in_use()).items() if k != kek_id)
        total = keys_total + await repo.count_stale()
    tally = _Tally(total, progress)
    if progress is not None:
        progress(0, total)
    complete = False
    try:
        await _rewrap_keys(vault, uows, batch_size, tally)
        await _rewrap_secrets(vault, uows, batch_size, tally)
        complete = tally.unreadable == 0
    finally:
        await _audit_rewrap(vault, uows, actor, tally.result(complete))
    return tally.result(complete)


async def _audit_rewrap(
    vault: EnvelopeVault, uows: UnitOfWorkFactory, actor: Principal | str, result: RewrapResult
) -> None:
    try:
        async with uows() as uow:
            await vault.audit.record(
                uow,
                actor=actor,
                action="keys.rewrapped",
                target="vault",
                account_id=None,
                details={
                    "kek_id": vault.wrapper.current_kek_id,
                    "data_keys_rewrapped": result.data_keys_rewrapped,
                    "secrets_rewrapped": result.secrets_rewrapped,
                    "unreadable": result.unreadable,
                    "complete": result.complete,
                },
            )
            await uow.commit()
    except Exception:  # the rewrap's own error (if any) is the one to report
        log.exception("vault: could not audit the rewrap")


async def status(vault: EnvelopeVault, uow: SqlUnitOfWork) -> VaultStatus:
    repo = VaultRepository(uow.session)
    per_version = await repo.secrets_per_version()
    versions = [
        VersionStatus(v, n, cur, per_version.get(v, 0), total, top)
        for v, n, cur, total, top in await repo.key_versions()
    ]
    return VaultStatus(
        kek_id=vault.wrapper.current_kek_id,
        known_kek_ids=vault.wrapper.known_kek_ids(),
        keks_in_use=await repo.keks_in_use(),
        kek_rotatable=vault.wrapper.can_rotate,
        versions=versions,
        secrets=sum(per_version.values()),
        secrets_on_retired_keys=await repo.count_stale(),
        secrets_without_key=per_version.get(None, 0),
        hot_keys=await repo.hot_keys(ENCRYPTION_WARNING),
    )


async def purge(
    vault: EnvelopeVault,
    uow: SqlUnitOfWork,
    *,
    actor: Principal | str,
    account_id: uuid.UUID | None,
) -> PurgeResult:
    """Delete the stored credentials of one account (or of all) and destroy their data
    keys, so that copies in backups of the secrets table stay unreadable too."""
    repo = VaultRepository(uow.session)
    keys = await repo.destroy_keys(account_id)
    secrets = await repo.purge_secrets(account_id)
    vault.cache.discard_account(account_id)
    await vault.audit.record(
        uow,
        actor=actor,
        action="credentials.purged",
        target=f"account:{account_id}" if account_id else "all-accounts",
        account_id=account_id,
        details={"secrets_deleted": secrets, "data_keys_destroyed": keys},
    )
    log.info(
        "vault: purged %s secrets and %s data keys (account %s)", secrets, keys, account_id or "all"
    )
    return PurgeResult(secrets, keys, (account_id,) if account_id else ())
