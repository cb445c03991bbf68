"""SQL access for the vault: ``vault_data_keys`` (wrapped data keys) and ``vault_secrets``
(ciphertexts only). Core statements, so that bulk work (rewrap, purge) stays fast.

Lock order, on PostgreSQL: a writer first locks the account's *current data key* row (the
encryption counter update in `claim_current`), then secret rows. Rotation locks the same
data key row, so a concurrent ``put`` either finishes before a rotation commits or sees the
new key; it can never write a ciphertext under a key that was already retired.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from calgate.errors import Conflict
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import VaultDataKeyRow, VaultSecretRow
from calgate.vault.base import SecretContext

__all__ = ["KeyRecord", "StaleSecret", "VaultRepository"]

KEYS: Table = VaultDataKeyRow.__table__  # type: ignore[assignment]
SECRETS: Table = VaultSecretRow.__table__  # type: ignore[assignment]
K = KEYS.c
S = SECRETS.c


@dataclass(frozen=True, slots=True, repr=False)
class KeyRecord:
    key_id: str
    account_id: uuid.UUID
    version: int
    kek_id: str
    wrapped: bytes

    def __repr__(self) -> str:
        return f"KeyRecord({self.key_id}, v{self.version}, kek={self.kek_id})"


@dataclass(frozen=True, slots=True, repr=False)
class StaleSecret:
    id: int
    context: SecretContext
    dek_id: str
    ciphertext: bytes
    key: KeyRecord | None


def _key(row: Row[Any] | Sequence[Any]) -> KeyRecord:
    key_id, account_id, version, kek_id, wrapped = tuple(row)[:5]
    return KeyRecord(key_id, account_id, version, kek_id, bytes(wrapped))


_KEY_COLUMNS = (K.key_id, K.account_id, K.version, K.kek_id, K.wrapped)
_STALE_JOIN = SECRETS.join(KEYS, K.key_id == S.dek_id)
_ON_RETIRED_KEY = K.retired_at.is_not(None)


class VaultRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # data keys -----------------------------------------------------------------------------
    async def claim_current(self, account_id: uuid.UUID, encryptions: int) -> KeyRecord | None:
        """Count ``encryptions`` on the account's current key, locking it; return the key."""
        row = (
            await self.session.execute(
                update(KEYS)
                .where(K.account_id == account_id, K.retired_at.is_(None))
                .values(encryptions=K.encryptions + encryptions)
                .returning(*_KEY_COLUMNS)
            )
        ).first()
        return _key(row) if row else None

    async def next_version(self, account_id: uuid.UUID) -> int:
        top = await self.session.scalar(
            select(func.max(K.version)).where(K.account_id == account_id)
        )
        return int(top or 0) + 1

    async def insert_key(self, key: KeyRecord, *, now: datetime, encryptions: int = 0) -> bool:
        """Insert a current key; ``False`` if the account got one concurrently."""
        try:
            async with self.session.begin_nested():
                await self.session.execute(
                    KEYS.insert().values(
                        key_id=key.key_id,
                        account_id=key.account_id,
                        version=key.version,
                        kek_id=key.kek_id,
                        wrapped=key.wrapped,
                        encryptions=encryptions,
                        created_at=now,
                        retired_at=None,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def get_key(self, key_id: str) -> KeyRecord | None:
        row = (await self.session.execute(select(*_KEY_COLUMNS).where(K.key_id == key_id))).first()
        return _key(row) if row else None

    async def lock_current_keys(
        self, account_ids: Iterable[uuid.UUID] | None = None
    ) -> list[KeyRecord]:
        """Current keys (of some accounts, or all), locked, in account order."""
        stmt = select(*_KEY_COLUMNS).where(K.retired_at.is_(None))
        if account_ids is not None:
            stmt = stmt.where(K.account_id.in_(sorted(set(account_ids))))
        rows = await self.session.execute(stmt.order_by(K.account_id).with_for_update())
        return [_key(r) for r in rows]

    async def rotate_keys(
        self, retire: Sequence[KeyRecord], new: Sequence[KeyRecord], *, now: datetime
    ) -> None:
        if retire:
            await self.session.execute(
                update(KEYS).where(K.key_id.in_([k.key_id for k in retire])).values(retired_at=now)
            )
        if new:
            await self.session.execute(
                KEYS.insert(),
                [
                    {
                        "key_id": k.key_id,
                        "account_id": k.account_id,
                        "version": k.version,
                        "kek_id": k.kek_id,
                        "wrapped": k.wrapped,
                        "encryptions": 0,
                        "created_at": now,
                        "retired_at": None,
                    }
                    for k in new
                ],
            )

    async def keys_not_under(self, kek_id: str, *, after: str, limit: int) -> list[KeyRecord]:
        rows = await self.session.execute(
            select(*_KEY_COLUMNS)
            .where(K.kek_id != kek_id, K.key_id > after)
            .order_by(K.key_id)
            .limit(limit)
            .with_for_update()
        )
        return [_key(r) for r in rows]

    async def rewrap_keys(self, changes: Sequence[tuple[str, str, str, bytes]]) -> None:
        """``(key_id, old_kek_id, new_kek_id, wrapped)``: replace each key's wrapping."""
        if changes:
            await self.session.execute(
                update(KEYS)
                .where(K.key_id == bindparam("b_key"), K.kek_id == bindparam("b_old"))
                .values(kek_id=bindparam("b_new"), wrapped=bindparam("b_wrapped")),
                [{"b_key": k, "b_old": o, "b_new": n, "b_wrapped": w} for k, o, n, w in changes],
            )

    async def add_encryptions(self, counts: dict[str, int]) -> None:
        if counts:
            await self.session.execute(
                update(KEYS)
                .where(K.key_id == bindparam("b_key"))
                .values(encryptions=K.encryptions + bindparam("b_n")),
                [{"b_key": k, "b_n": n} for k, n in sorted(counts.items())],
            )

    async def destroy_keys(self, account_id: uuid.UUID | None) -> int:
        stmt = delete(KEYS)
        if account_id is not None:
            stmt = stmt.where(K.account_id == account_id)
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    # secrets -------------------------------------------------------------------------------
    async def upsert_secret(
        self, ctx: SecretContext, dek_id: str, blob: bytes, *, now: datetime
    ) -> None:
        values = {
            "account_id": ctx.account_id,
            "owner": ctx.owner,
            "owner_id": ctx.owner_id,
            "field": ctx.field,
            "dek_id": dek_id,
            "ciphertext": blob,
            "created_at": now,
            "updated_at": now,
        }
        dialect = self._dialect
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(SECRETS).values(values)
        stmt = insert.on_conflict_do_update(
            index_elements=[S.owner, S.owner_id, S.field],
            set_={
                "dek_id": insert.excluded.dek_id,
                "ciphertext": insert.excluded.ciphertext,
                "updated_at": insert.excluded.updated_at,
            },
            where=S.account_id == insert.excluded.account_id,
        )
        result = await self.session.execute(stmt)
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict(f"secret {ctx.describe()} belongs to another account")

    async def get_secret(self, ctx: SecretContext) -> tuple[bytes, str, KeyRecord | None] | None:
        """The ciphertext, the data key id the row names, and that key (``None`` if it was
        destroyed), read in one statement."""
        row = (
            await self.session.execute(
                select(S.ciphertext, S.dek_id, *_KEY_COLUMNS)
                .select_from(SECRETS.outerjoin(KEYS, K.key_id == S.dek_id))
                .where(
                    S.owner == ctx.owner,
                    S.owner_id == ctx.owner_id,
                    S.field == ctx.field,
                    S.account_id == ctx.account_id,
                )
            )
        ).first()
        if row is None:
            return None
        key = _key(tuple(row)[2:]) if row[2] is not None else None
        return bytes(row[0]), row[1], key

    async def delete_secrets(
        self, account_id: uuid.UUID, owner: str, owner_id: str, field: str | None
    ) -> int:
        stmt = delete(SECRETS).where(
            S.account_id == account_id, S.owner == owner, S.owner_id == owner_id
        )
        if field is not None:
            stmt = stmt.where(S.field == field)
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def purge_secrets(self, account_id: uuid.UUID | None) -> int:
        stmt = delete(SECRETS)
        if account_id is not None:
            stmt = stmt.where(S.account_id == account_id)
        return int((await self.session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def count_stale(self) -> int:
        stmt = select(func.count()).select_from(_STALE_JOIN).where(_ON_RETIRED_KEY)
        return int(await self.session.scalar(stmt) or 0)

    async def stale_batch(self, *, after: int, limit: int) -> list[tuple[int, uuid.UUID]]:
        """Ids and accounts of the next secrets sealed under retired keys (no locks)."""
        rows = await self.session.execute(
            select(S.id, S.account_id)
            .select_from(_STALE_JOIN)
            .where(_ON_RETIRED_KEY, S.id > after)
            .order_by(S.id)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]

    async def lock_secrets(self, batch: Sequence[tuple[int, uuid.UUID]]) -> list[StaleSecret]:
        """Re-read (and on PostgreSQL lock) the rows of a `stale_batch`, with their keys."""
        accounts = dict(batch)
        rows = list(
            await self.session.execute(
                select(S.id, S.owner, S.owner_id, S.field, S.dek_id, S.ciphertext)
                .where(S.id.in_(list(accounts)))
                .order_by(S.id)
                .with_for_update()
            )
        )
        keys = {
            k.key_id: k
            for k in [
                _key(r)
                for r in await self.session.execute(
                    select(*_KEY_COLUMNS).where(K.key_id.in_({r[4] for r in rows}))
                )
            ]
        }
        return [
            StaleSecret(
                r[0],
                SecretContext(accounts[r[0]], r[1], r[2], r[3]),
                r[4],
                bytes(r[5]),
                keys.get(r[4]),
            )
            for r in rows
        ]

    async def replace_ciphertexts(
        self, changes: Sequence[tuple[int, str, bytes]], *, now: datetime
    ) -> None:
        """``(id, new_dek_id, blob)`` for rows this transaction has locked (or, on SQLite,
        read inside its write transaction). The driver's own executemany: going through
        SQLAlchemy's per-row parameter processing would dominate the time of a rewrap."""
        if not changes:
            return
        conn = await self.session.connection()
        marks = ("$1", "$2", "$3") if conn.dialect.paramstyle == "numeric_dollar" else "???"
        await conn.exec_driver_sql(
            f"UPDATE vault_secrets SET dek_id = {marks[0]}, ciphertext = {marks[1]} "  # noqa: S608
            f"WHERE id = {marks[2]}",
            [(dek_id, blob, row_id) for row_id, dek_id, blob in changes],
        )
        await self.session.execute(
            update(SECRETS).where(S.id.in_([c[0] for c in changes])).values(updated_at=now)
        )

    # status --------------------------------------------------------------------------------
    async def key_versions(self) -> list[tuple[int, int, int, int, int]]:
        """Per version: (version, keys, current keys, total encryptions, max encryptions)."""
        rows = await self.session.execute(
            select(
                K.version,
                func.count(),
                func.count().filter(K.retired_at.is_(None)),
                func.coalesce(func.sum(K.encryptions), 0),
                func.coalesce(func.max(K.encryptions), 0),
            )
            .group_by(K.version)
            .order_by(K.version)
        )
        return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    async def secrets_per_version(self) -> dict[int | None, int]:
        rows = await self.session.execute(
            select(K.version, func.count())
            .select_from(SECRETS.outerjoin(KEYS, K.key_id == S.dek_id))
            .group_by(K.version)
        )
        return {r[0]: r[1] for r in rows}

    async def keks_in_use(self) -> dict[str, int]:
        rows = await self.session.execute(select(K.kek_id, func.count()).group_by(K.kek_id))
        return {r[0]: r[1] for r in rows}

    async def hot_keys(
        self, threshold: int, limit: int = 20
    ) -> list[tuple[str, uuid.UUID, int, int]]:
        rows = await self.session.execute(
            select(K.key_id, K.account_id, K.version, K.encryptions)
            .where(K.encryptions >= threshold)
            .order_by(K.encryptions.desc())
            .limit(limit)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]
