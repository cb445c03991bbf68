"""AEAD sealing for the vault: AES-256-GCM with a random 96-bit nonce and associated data
that binds each ciphertext to its place.

Ciphertext layout (format 1)::

    0      1             9           21                      n-16        n
    | 0x01 | data key id | nonce(12) | ciphertext             | tag(16)  |
    `---- header (9) ----'

Associated data = ``DOMAIN || header || account uuid (16) || len(owner) owner ||
len(owner_id) owner_id || len(field) field`` with 4-byte big-endian lengths, so no two
different contexts can encode to the same bytes. The header is inside the associated data,
so flipping any header byte, or relabelling a ciphertext with another key version, fails
authentication like any other change. The KEK id is not in the header: it belongs to the
wrapped data key, so rotating the KEK only rewraps data keys, never ciphertexts.

Data keys are wrapped the same way under the KEK, with associated data naming the account,
the data key id and version (and, added by the local key wrapper, the KEK id).
"""

from __future__ import annotations

import functools
import os
import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from calgate.errors import VaultError
from calgate.vault.base import SecretContext

__all__ = [
    "FORMAT_V1",
    "HEADER_LEN",
    "KEY_ID_LEN",
    "NONCE_LEN",
    "DataKey",
    "DataKeyCache",
    "Header",
    "dek_context",
    "header_key_id",
    "new_dek",
    "new_key_id",
    "open_secret",
    "parse_header",
    "seal_secret",
    "secret_aad",
]

FORMAT_V1 = 1
KEY_ID_LEN = 8
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = 1 + KEY_ID_LEN
_BODY = HEADER_LEN + NONCE_LEN
_FORMAT_BYTE = bytes((FORMAT_V1,))
_DOMAIN = b"calgate/vault/secret/v1\x00"
_DEK_DOMAIN = b"calgate/vault/dek/v1\x00"
_U32 = struct.Struct(">I")


def _lp(value: str) -> bytes:
    raw = value.encode()
    return _U32.pack(len(raw)) + raw


@dataclass(frozen=True, slots=True)
class Header:
    format: int
    key_id: bytes

    def encode(self) -> bytes:
        return bytes((self.format,)) + self.key_id


def parse_header(blob: bytes) -> Header:
    return Header(FORMAT_V1, header_key_id(blob))


def header_key_id(blob: bytes) -> bytes:
    """The data key id from a ciphertext's header (after checking format and length)."""
    if len(blob) < _BODY + TAG_LEN:
        raise VaultError("stored ciphertext is truncated")
    if blob[0] != FORMAT_V1:
        raise VaultError(f"stored ciphertext has unknown format {blob[0]}")
    return blob[1:HEADER_LEN]


@functools.lru_cache(maxsize=1024)
def _lp_name(name: str) -> bytes:
    return _lp(name)


@functools.lru_cache(maxsize=8192)
def _uuid_bytes(value: uuid.UUID) -> bytes:
    return value.bytes


def secret_aad(header: bytes, ctx: SecretContext) -> bytes:
    owner_id = ctx.owner_id.encode()
    return (
        _DOMAIN
        + header
        + _uuid_bytes(ctx.account_id)
        + _lp_name(ctx.owner)
        + _U32.pack(len(owner_id))
        + owner_id
        + _lp_name(ctx.field)
    )


@dataclass(frozen=True, slots=True, repr=False)
class DataKey:
    """An unwrapped data key, ready to seal and open. Never logged (no repr of the key)."""

    key_id: bytes
    account_id: uuid.UUID
    version: int
    aead: AESGCM

    def __repr__(self) -> str:
        return f"DataKey({self.key_id.hex()}, account={self.account_id}, v{self.version})"


def seal_secret(key: DataKey, ctx: SecretContext, plaintext: bytes) -> bytes:
    header = _FORMAT_BYTE + key.key_id
    nonce = os.urandom(NONCE_LEN)
    return header + nonce + key.aead.encrypt(nonce, plaintext, secret_aad(header, ctx))


def open_secret(key: DataKey, ctx: SecretContext, blob: bytes) -> bytes:
    header = blob[:HEADER_LEN]
    if header[1:] != key.key_id:
        raise VaultError(f"secret {ctx.describe()} was sealed with another data key")
    try:
        return key.aead.decrypt(blob[HEADER_LEN:_BODY], blob[_BODY:], secret_aad(header, ctx))
    except InvalidTag:
        raise VaultError(
            f"secret {ctx.describe()} failed its integrity check: it was altered, copied "
            "from another row, field or account, or sealed with another key"
        ) from None


def new_key_id() -> bytes:
    return os.urandom(KEY_ID_LEN)


def new_dek() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def dek_context(account_id: uuid.UUID, key_id: bytes, version: int) -> bytes:
    """Associated data for wrapping a data key: which account, key and version. A wrapped
    key moved to another account or version does not unwrap. (The `KeyWrapper` binds its
    own KEK id on top.)"""
    return b"".join((_DEK_DOMAIN, account_id.bytes, key_id, _U32.pack(version)))


class DataKeyCache:
    """Unwrapped data keys by key id, least recently used evicted first. Data keys never
    change under their id (a KEK rewrap changes only the wrapping), so entries stay valid
    until the key is destroyed; destruction is checked against the database on every read
    (see `EnvelopeVault.get`), so a cached key never outlives crypto-shredding there."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[bytes, DataKey] = OrderedDict()

    def get(self, key_id: bytes) -> DataKey | None:
        key = self._keys.get(key_id)
        if key is not None:
            self._keys.move_to_end(key_id)
        return key

    def put(self, key: DataKey) -> None:
        self._keys[key.key_id] = key
        self._keys.move_to_end(key.key_id)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def discard_account(self, account_id: uuid.UUID | None) -> None:
        """Forget one account's keys (every key when ``None``)."""
        if account_id is None:
            self._keys.clear()
            return
        for key_id in [k for k, v in self._keys.items() if v.account_id == account_id]:
            del self._keys[key_id]

    def __len__(self) -> int:
        return len(self._keys)
