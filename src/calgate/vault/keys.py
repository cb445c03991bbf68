"""Key-encryption keys (KEKs) held locally: from ``CALGATE_MASTER_KEY`` (plus
``CALGATE_MASTER_KEY_PREVIOUS`` during a rotation) or from a key file made by
``calgate keys generate``.

A key file holds one base64 key per line: the first is current, later ones are previous
keys kept so that data keys wrapped by them still unwrap until ``calgate keys rewrap`` has
moved every data key to the current KEK. ``calgate keys rotate --kek`` prepends a new key
(under a lock, atomically, mode 0600). Processes re-read the file when they meet a KEK id
they do not know, so a rotation made by one process is picked up by the others.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from calgate.errors import ConfigurationError, VaultError

if TYPE_CHECKING:
    from calgate.settings import Settings

__all__ = [
    "KEY_BYTES",
    "LoadedKeyring",
    "LocalKeyring",
    "decode_master_key",
    "generate_key_file",
    "kek_id_of",
    "load_keyring",
    "master_key_path",
    "read_key_file",
]

log = logging.getLogger(__name__)

KEY_BYTES = 32
_NONCE = 12
_FILE_HEADER = (
    "# calgate vault master keys (key-encryption keys). Keep this file secret and backed up:\n"
    "# without it no stored credential can be decrypted. First key: current; later keys:\n"
    "# previous, kept to unwrap data keys until `calgate keys rewrap` has finished.\n"
)


def decode_master_key(text: str) -> bytes:
    """Decode a base64 key of exactly 32 bytes; `ValueError` with a one-line reason."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        try:  # accept the URL-safe alphabet too
            raw = base64.urlsafe_b64decode(text.strip())
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 of exactly 32 bytes (not valid base64)") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must be base64 of exactly 32 bytes (got {len(raw)})")
    return raw


def kek_id_of(key: bytes) -> str:
    """A public fingerprint of a local KEK (HMAC of a constant, reveals nothing of it)."""
    return "local:" + hmac.new(key, b"calgate/kek-id", hashlib.sha256).hexdigest()[:16]


def master_key_path(settings: Settings) -> Path:
    return settings.master_key_file or settings.data_dir / "master.key"


def read_key_file(path: Path) -> list[bytes]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read key file {path}: {exc.strerror}") from None
    keys: list[bytes] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(decode_master_key(line))
        except ValueError as exc:
            raise ConfigurationError(f"key file {path} line {number}: {exc}") from None
    if not keys:
        raise ConfigurationError(f"key file {path} holds no key")
    return keys


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    """Atomically replace ``path`` with ``keys`` (mode 0600, fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_FILE_HEADER + "".join(_encode(k) + "\n" for k in keys))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def generate_key_file(path: Path, *, force: bool = False, exist_ok: bool = False) -> Path | None:
    """Write a new key file. An existing file is refused unless ``force``; then it is kept
    as ``<name>.replaced-<UTC time>`` (returned), never destroyed. With ``exist_ok`` an
    existing file is left alone."""
    with _file_lock(path):
        kept: Path | None = None
        if path.exists():
            if exist_ok:
                return None
            if not force:
                raise ConfigurationError(
                    f"{path} already exists; it may be the only key that decrypts stored "
                    "credentials (use --force to replace it; the old file is kept aside)"
                )
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            kept = path.with_name(f"{path.name}.replaced-{stamp}")
            path.replace(kept)
        _write_key_file(path, [AESGCM.generate_key(bit_length=256)])
        return kept


def _check_mode(path: Path, *, production: bool) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        message = f"key file {path} is readable by others (mode {mode:o}): chmod 600 it"
        if production:
            raise ConfigurationError(message)
        log.warning("%s", message)


class LocalKeyring:
    """`KeyWrapper` over AES-256-GCM KEKs held in this process."""

    def __init__(
        self, keys: list[bytes], *, path: Path | None = None, extra: list[bytes] | None = None
    ) -> None:
        if not keys:
            raise ConfigurationError("no master key configured")
        self._path = path
        self._extra = list(extra or [])
        self._stamp = self._file_stamp()
        self._set([*keys, *self._extra])

    def __repr__(self) -> str:
        return f"LocalKeyring(current={self._current_id}, keys={len(self._keys)})"

    def _set(self, keys: list[bytes]) -> None:
        self._keys = {kek_id_of(k): AESGCM(k) for k in keys}
        self._order = [kek_id_of(k) for k in keys]
        self._current_id = self._order[0]
        self._raw = list(keys)

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload(self) -> bool:
        """Re-read the key file if it changed; return whether it did."""
        if self._path is None:
            return False
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._set([*read_key_file(self._path), *self._extra])
        self._stamp = stamp
        return True

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def current_kek_id(self) -> str:
        return self._current_id

    def known_kek_ids(self) -> tuple[str, ...]:
        return tuple(self._order)

    @property
    def can_rotate(self) -> bool:
        return self._path is not None

    async def wrap(self, dek: bytes, *, context: bytes) -> tuple[str, bytes]:
        self.reload()
        nonce = os.urandom(_NONCE)
        aad = context + self._current_id.encode()
        return self._current_id, nonce + self._keys[self._current_id].encrypt(nonce, dek, aad)

    async def unwrap(self, wrapped: bytes, *, kek_id: str, context: bytes) -> bytes:
        if kek_id not in self._keys:
            self.reload()
        aead = self._keys.get(kek_id)
        if aead is None:
            raise VaultError(
                f"a data key is wrapped by master key {kek_id}, which this process does not "
                "have: restore it (key file, or CALGATE_MASTER_KEY_PREVIOUS)"
            )
        try:
            return aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], context + kek_id.encode())
        except InvalidTag:
            raise VaultError(
                f"a wrapped data key failed its integrity check under master key {kek_id}"
            ) from None

    async def rotate(self) -> str:
        if self._path is None:
            raise ConfigurationError(
                "the master key comes from CALGATE_MASTER_KEY: to rotate it, set the new key "
                "there and the old one in CALGATE_MASTER_KEY_PREVIOUS, restart, then run "
                "`calgate keys rewrap`"
            )
        with _file_lock(self._path):
            keys = read_key_file(self._path)
            new = AESGCM.generate_key(bit_length=256)
            _write_key_file(self._path, [new, *keys])
        self.reload()
        return kek_id_of(new)

    def redaction_literals(self) -> tuple[str, ...]:
        forms: list[str] = []
        for key in self._raw:
            forms += [_encode(key), base64.urlsafe_b64encode(key).decode(), key.hex()]
        return tuple(forms)


@dataclass(frozen=True, slots=True)
class LoadedKeyring:
    keyring: LocalKeyring
    generated: Path | None
    source: str


def load_keyring(settings: Settings) -> LoadedKeyring:
    """The KEKs from settings: ``CALGATE_MASTER_KEY`` (+ previous), else the key file; in
    development a missing key file is generated (the caller warns once)."""
    previous = [
        decode_master_key(part)
        for part in (
            settings.master_key_previous.get_secret_value().split(",")
            if settings.master_key_previous
            else []
        )
        if part.strip()
    ]
    if settings.master_key is not None:
        current = decode_master_key(settings.master_key.get_secret_value())
        return LoadedKeyring(LocalKeyring([current, *previous]), None, "CALGATE_MASTER_KEY")
    path = master_key_path(settings)
    generated: Path | None = None
    if not path.exists():
        if settings.is_production:
            raise ConfigurationError(
                f"no vault master key: {path} does not exist; create it with "
                "`calgate keys generate` or set CALGATE_MASTER_KEY (base64 of 32 bytes)"
            )
        generate_key_file(path, exist_ok=True)
        generated = path
    _check_mode(path, production=settings.is_production)
    keyring = LocalKeyring(read_key_file(path), path=path, extra=previous)
    return LoadedKeyring(keyring, generated, str(path))
