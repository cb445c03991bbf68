"""Master keys: parsing, key files, the local key wrapper, start-up rules."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from calgate.bootstrap import build_runtime
from calgate.errors import ConfigurationError, VaultError
from calgate.vault.keys import (
    LocalKeyring,
    decode_master_key,
    generate_key_file,
    kek_id_of,
    load_keyring,
    read_key_file,
)


def b64(n: int = 32) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def test_decode_master_key_says_what_is_expected_R2():
    assert len(decode_master_key(b64())) == 32
    assert len(decode_master_key(base64.urlsafe_b64encode(os.urandom(32)).decode())) == 32
    with pytest.raises(ValueError, match=r"^must be base64 of exactly 32 bytes \(got 16\)$"):
        decode_master_key(b64(16))
    with pytest.raises(ValueError, match="not valid base64"):
        decode_master_key("this is not base64!")


def test_generate_key_file_is_private_and_never_overwritten_R2(tmp_path):
    path = tmp_path / "keys" / "master.key"
    assert generate_key_file(path) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = read_key_file(path)
    assert len(first) == 1
    assert len(first[0]) == 32
    with pytest.raises(ConfigurationError, match="already exists"):
        generate_key_file(path)
    assert read_key_file(path) == first
    kept = generate_key_file(path, force=True)
    assert kept is not None
    assert read_key_file(kept) == first
    assert read_key_file(path) != first


def test_bad_key_file_lines_are_reported_by_line(tmp_path):
    path = tmp_path / "master.key"
    path.write_text(f"# comment\n{b64()}\n{b64(31)}\n")
    with pytest.raises(
        ConfigurationError, match=r"line 3: must be base64 of exactly 32 bytes \(got 31\)"
    ):
        read_key_file(path)
    path.write_text("# nothing\n")
    with pytest.raises(ConfigurationError, match="holds no key"):
        read_key_file(path)


async def test_local_keyring_wraps_with_bound_context_R2():
    key = os.urandom(32)
    ring = LocalKeyring([key])
    assert ring.current_kek_id == kek_id_of(key)
    assert ring.current_kek_id.startswith("local:")
    kek_id, wrapped = await ring.wrap(b"d" * 32, context=b"ctx")
    assert await ring.unwrap(wrapped, kek_id=kek_id, context=b"ctx") == b"d" * 32
    with pytest.raises(VaultError, match="integrity"):
        await ring.unwrap(wrapped, kek_id=kek_id, context=b"other")
    with pytest.raises(VaultError, match="does not have"):
        await ring.unwrap(wrapped, kek_id="local:unknown", context=b"ctx")
    assert not ring.can_rotate
    with pytest.raises(ConfigurationError, match="CALGATE_MASTER_KEY_PREVIOUS"):
        await ring.rotate()
    assert base64.b64encode(key).decode() in ring.redaction_literals()
    assert base64.b64encode(key).decode() not in repr(ring)


async def test_key_file_rotation_is_seen_by_other_processes_R2(tmp_path):
    path = tmp_path / "master.key"
    generate_key_file(path)
    mine, theirs = (
        LocalKeyring(read_key_file(path), path=path),
        LocalKeyring(read_key_file(path), path=path),
    )
    old = mine.current_kek_id
    new = await mine.rotate()
    assert new != old
    assert mine.current_kek_id == new
    assert mine.known_kek_ids() == (new, old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kek_id, wrapped = await mine.wrap(b"k" * 32, context=b"c")
    # the other process does not know the new key yet, and picks it up from the file
    assert await theirs.unwrap(wrapped, kek_id=kek_id, context=b"c") == b"k" * 32
    assert theirs.current_kek_id == new


def test_development_generates_a_key_file_once_R2(make_settings):
    settings = make_settings()
    first = load_keyring(settings)
    assert first.generated is not None
    assert first.generated.exists()
    second = load_keyring(settings)
    assert second.generated is None
    assert second.keyring.current_kek_id == first.keyring.current_kek_id


def test_environment_key_wins_and_previous_keys_unwrap(make_settings):
    current, previous = b64(), b64()
    settings = make_settings(master_key=current, master_key_previous=f"{previous}, ")
    loaded = load_keyring(settings)
    assert loaded.generated is None
    assert loaded.source == "CALGATE_MASTER_KEY"
    assert loaded.keyring.known_kek_ids() == (
        kek_id_of(base64.b64decode(current)),
        kek_id_of(base64.b64decode(previous)),
    )
    assert not (settings.data_dir / "master.key").exists()


def production(make_settings, **overrides):
    return make_settings(env="production", auth_mode="local", **overrides)


def test_production_refuses_to_start_without_a_key_R2(make_settings):
    with pytest.raises(ValueError, match="production needs a vault master key"):
        production(make_settings)


async def test_production_refuses_a_missing_key_file_R2(make_settings, tmp_path):
    settings = production(make_settings, master_key_file=tmp_path / "absent.key")
    with pytest.raises(
        ConfigurationError, match="does not exist; create it with `calgate keys generate`"
    ):
        await build_runtime(settings, auto_migrate=False)
    assert not (tmp_path / "absent.key").exists()  # never generated in production


def test_production_refuses_a_key_file_others_can_read(make_settings, tmp_path):
    path = tmp_path / "master.key"
    generate_key_file(path)
    path.chmod(0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        load_keyring(production(make_settings, master_key_file=path))


def test_wrong_key_length_is_one_clear_sentence_R2(make_settings):
    bad = b64(24)
    with pytest.raises(ValueError, match=r"must be base64 of exactly 32 bytes \(got 24\)") as info:
        make_settings(master_key=bad)
    assert bad not in str(info.value)  # the rejected value itself is never shown
