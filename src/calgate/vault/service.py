"""`EnvelopeVault`: the `CredentialVault` calgate runs with. Secrets are sealed with the
account's current data key (AES-256-GCM, see :mod:`calgate.vault.crypto`); data keys are
wrapped by a `KeyWrapper` (the local master key, or a KMS) and cached unwrapped in memory.

Key maintenance (rotate, rewrap, status) lives in :mod:`calgate.vault.maintenance`.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from calgate.clock import Clock
from calgate.errors import VaultError
from calgate.vault import maintenance
from calgate.vault.base import (
    CredentialVault,
    KeyWrapper,
    Progress,
    PurgeResult,
    RewrapResult,
    RotationResult,
    Secret,
    SecretContext,
)
from calgate.vault.crypto import (
    DataKey,
    DataKeyCache,
    dek_context,
    header_key_id,
    new_dek,
    new_key_id,
    open_secret,
    seal_secret,
)
from calgate.vault.sql import KeyRecord, VaultRepository

if TYPE_CHECKING:
    from calgate.domain.principal import Principal
    from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
    from calgate.services.audit import AuditLog

__all__ = ["EnvelopeVault"]

log = logging.getLogger(__name__)


class EnvelopeVault(CredentialVault):
    def __init__(
        self,
        wrapper: KeyWrapper,
        *,
        clock: Clock,
        audit: AuditLog,
        cache_size: int = 4096,
    ) -> None:
        self.wrapper = wrapper
        self.clock = clock
        self.audit = audit
        self.cache = DataKeyCache(cache_size)

    def __repr__(self) -> str:
        return f"EnvelopeVault(kek={self.wrapper.current_kek_id})"

    # keys ------------------------------------------------------------------------------------
    async def unwrap(self, record: KeyRecord) -> DataKey:
        """The usable data key of ``record`` (from the cache, or unwrapped and cached)."""
        key_id = bytes.fromhex(record.key_id)
        cached = self.cache.get(key_id)
        if cached is not None and cached.account_id == record.account_id:
            return cached
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        raw = await self.wrapper.unwrap(
            record.wrapped,
            kek_id=record.kek_id,
            context=dek_context(record.account_id, key_id, record.version),
        )
        key = DataKey(key_id, record.account_id, record.version, AESGCM(raw))
        self.cache.put(key)
        return key

    async def new_key_record(self, account_id: uuid.UUID, version: int) -> KeyRecord:
        """A fresh data key for ``account_id``, wrapped under the current KEK."""
        key_id = new_key_id()
        kek_id, wrapped = await self.wrapper.wrap(
            new_dek(), context=dek_context(account_id, key_id, version)
        )
        return KeyRecord(key_id.hex(), account_id, version, kek_id, wrapped)

    async def _current_key(self, repo: VaultRepository, account_id: uuid.UUID) -> DataKey:
        for _ in range(3):
            record = await repo.claim_current(account_id, 1)
            if record is not None:
                return await self.unwrap(record)
            version = await repo.next_version(account_id)
            record = await self.new_key_record(account_id, version)
            if await repo.insert_key(record, now=self.clock.now(), encryptions=1):
                log.info(
                    "vault: new data key %s (v%s) for account %s",
                    record.key_id,
                    version,
                    account_id,
                )
                return await self.unwrap(record)
        raise VaultError(f"could not obtain a data key for account {account_id}")

    # secrets ---------------------------------------------------------------------------------
    async def put(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        owner: str,
        owner_id: uuid.UUID | str,
        field: str,
        value: Secret,
    ) -> None:
        if not isinstance(value, Secret):
            raise TypeError("vault.put takes a Secret")
        ctx = SecretContext.of(account_id, owner, owner_id, field)
        repo = VaultRepository(uow.session)
        key = await self._current_key(repo, account_id)
        blob = seal_secret(key, ctx, value.reveal().encode())
        await repo.upsert_secret(ctx, key.key_id.hex(), blob, now=self.clock.now())

    async def get(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        owner: str,
        owner_id: uuid.UUID | str,
        field: str,
    ) -> Secret | None:
        ctx = SecretContext.of(account_id, owner, owner_id, field)
        found = await VaultRepository(uow.session).get_secret(ctx)
        if found is None:
            return None
        blob, dek_id, record = found
        if header_key_id(blob).hex() != dek_id:
            raise VaultError(f"secret {ctx.describe()} names another data key than its header")
        if record is None:
            raise VaultError(
                f"secret {ctx.describe()} cannot be decrypted: its data key was destroyed"
            )
        if record.account_id != account_id:
            raise VaultError(f"secret {ctx.describe()} is sealed with another account's key")
        key = await self.unwrap(record)
        return Secret(open_secret(key, ctx, blob).decode())

    async def delete(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        owner: str,
        owner_id: uuid.UUID | str,
        field: str | None = None,
    ) -> int:
        ctx = SecretContext.of(account_id, owner, owner_id, field or "any")
        return await VaultRepository(uow.session).delete_secrets(
            account_id, ctx.owner, ctx.owner_id, field
        )

    async def shred_account(self, uow: SqlUnitOfWork, account_id: uuid.UUID) -> PurgeResult:
        repo = VaultRepository(uow.session)
        keys = await repo.destroy_keys(account_id)  # keys first: same lock order as put
        secrets = await repo.purge_secrets(account_id)
        self.cache.discard_account(account_id)
        log.info(
            "vault: destroyed %s data keys and %s secrets of account %s", keys, secrets, account_id
        )
        return PurgeResult(secrets, keys, (account_id,))

    async def purge(
        self, uow: SqlUnitOfWork, *, actor: Principal | str, account_id: uuid.UUID | None
    ) -> PurgeResult:
        return await maintenance.purge(self, uow, actor=actor, account_id=account_id)

    # maintenance -----------------------------------------------------------------------------
    async def rotate(
        self,
        uow: SqlUnitOfWork,
        *,
        actor: Principal | str,
        kek: bool = False,
        data_keys: bool = True,
        account_id: uuid.UUID | None = None,
    ) -> RotationResult:
        return await maintenance.rotate(
            self, uow, actor=actor, kek=kek, data_keys=data_keys, account_id=account_id
        )

    async def rewrap(
        self,
        uows: UnitOfWorkFactory,
        *,
        actor: Principal | str,
        batch_size: int = 1000,
        progress: Progress | None = None,
    ) -> RewrapResult:
        return await maintenance.rewrap(
            self, uows, actor=actor, batch_size=batch_size, progress=progress
        )

    async def status(self, uow: SqlUnitOfWork) -> maintenance.VaultStatus:
        return await maintenance.status(self, uow)

    def redaction_literals(self) -> tuple[str, ...]:
        return self.wrapper.redaction_literals()
