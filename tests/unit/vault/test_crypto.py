"""Sealing format: header, nonce, associated data (unit level, no database)."""

from __future__ import annotations

import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from calgate.errors import VaultError
from calgate.vault.base import SecretContext
from calgate.vault.crypto import DataKey, DataKeyCache, open_secret, seal_secret, secret_aad

ACCOUNT = uuid.UUID("6b1c1c6e-4a57-4d0b-9a0a-1f7e3c1d2e3f")


def make_key(account: uuid.UUID = ACCOUNT) -> DataKey:
    return DataKey(os.urandom(8), account, 1, AESGCM(AESGCM.generate_key(bit_length=256)))


def ctx(owner="connections", owner_id="c1", field="refresh_token", account=ACCOUNT):
    return SecretContext(account, owner, owner_id, field)


def test_seal_open_round_trip_with_fresh_nonces_R2():
    key = make_key()
    blobs = {seal_secret(key, ctx(), b"token") for _ in range(100)}
    assert len(blobs) == 100  # random nonces: never the same ciphertext twice
    assert len({b[9:21] for b in blobs}) == 100
    for blob in blobs:
        assert blob[0] == 1
        assert blob[1:9] == key.key_id
        assert open_secret(key, ctx(), blob) == b"token"
        assert len(blob) == 1 + 8 + 12 + len(b"token") + 16


def test_each_flipped_bit_is_rejected_R2():
    key = make_key()
    blob = seal_secret(key, ctx(), b"a secret value")
    for index in range(len(blob)):
        for bit in range(8):
            tampered = bytearray(blob)
            tampered[index] ^= 1 << bit
            with pytest.raises(VaultError):
                open_secret(key, ctx(), bytes(tampered))


@pytest.mark.parametrize(
    "other",
    [
        ctx(owner="room_integrations"),
        ctx(owner_id="c2"),
        ctx(field="password"),
        ctx(account=uuid.uuid4()),
    ],
)
def test_another_context_does_not_open_R2(other):
    key = make_key()
    blob = seal_secret(key, ctx(), b"v")
    with pytest.raises(VaultError):
        open_secret(key, other, blob)


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_ids = st.text(min_size=1, max_size=12)


@given(a=st.tuples(_names, _ids, _names), b=st.tuples(_names, _ids, _names))
def test_associated_data_is_unambiguous(a, b):
    """Different contexts never encode to the same associated data (length-prefixed)."""
    aad_a = secret_aad(b"\x01" + b"k" * 8, SecretContext(ACCOUNT, *a))
    aad_b = secret_aad(b"\x01" + b"k" * 8, SecretContext(ACCOUNT, *b))
    assert (aad_a == aad_b) == (a == b)


def test_context_names_are_validated():
    with pytest.raises(ValueError, match="owner"):
        SecretContext(ACCOUNT, "Bad Owner", "x", "f")
    with pytest.raises(ValueError, match="field"):
        SecretContext(ACCOUNT, "connections", "x", "")
    with pytest.raises(ValueError, match="owner_id"):
        SecretContext(ACCOUNT, "connections", "", "f")
    with pytest.raises(TypeError):
        SecretContext("not-a-uuid", "connections", "x", "f")  # type: ignore[arg-type]


def test_data_key_cache_is_bounded_and_forgets_accounts():
    cache = DataKeyCache(capacity=3)
    other = uuid.uuid4()
    keys = [make_key(), make_key(), make_key(other)]
    for k in keys:
        cache.put(k)
    assert cache.get(keys[0].key_id) is keys[0]  # now most recently used
    cache.put(make_key(other))
    assert len(cache) == 3
    assert cache.get(keys[1].key_id) is None
    cache.discard_account(other)
    assert len(cache) == 1
    assert cache.get(keys[0].key_id) is keys[0]
    assert "key" not in repr(keys[0]).lower().replace("datakey", "")
