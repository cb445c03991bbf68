"""Vault test helpers: an independent re-implementation of the documented ciphertext
format, so tests do not trust the code they check."""

from __future__ import annotations

import struct
import uuid

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind
from calgate.vault.crypto import dek_context
from calgate.vault.sql import VaultRepository

OPERATOR = Principal(PrincipalKind.OPERATOR)


def documented_aad(
    header: bytes, account: uuid.UUID, owner: str, owner_id: str, field: str
) -> bytes:
    """Associated data exactly as calgate.vault.crypto's docstring specifies it."""

    def lp(text: str) -> bytes:
        raw = text.encode()
        return struct.pack(">I", len(raw)) + raw

    return (
        b"calgate/vault/secret/v1\x00"
        + header
        + account.bytes
        + lp(owner)
        + lp(owner_id)
        + lp(field)
    )


async def raw_data_key(runtime: Runtime, dek_id: str) -> bytes:
    """The raw 32-byte data key, unwrapped straight from its database row."""
    async with runtime.uow(readonly=True) as uow:
        record = await VaultRepository(uow.session).get_key(dek_id)
    assert record is not None
    raw = await runtime.vault.wrapper.unwrap(
        record.wrapped,
        kek_id=record.kek_id,
        context=dek_context(record.account_id, bytes.fromhex(record.key_id), record.version),
    )
    assert len(raw) == 32
    return raw


def raw_open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Decrypt with nothing but cryptography's AESGCM and the documented layout."""
    return AESGCM(key).decrypt(blob[9:21], blob[21:], aad)
