"""The vault's public surface: the `Secret` type, the `CredentialVault` port, the
`KeyWrapper` port for key-encryption keys, and the value types they exchange.

Everything calgate stores that would let someone act as a user or a room (refresh tokens,
Exchange passwords, client secrets, service-account keys, webhook client-state secrets) goes
through a `CredentialVault` as a `Secret` and never exists in plaintext outside memory.

Key hierarchy::

    KEK (key-encryption key: CALGATE_MASTER_KEY / key file, or a KMS behind `KeyWrapper`)
     └── DEK per account and version (AES-256, stored wrapped by the KEK)
          └── secret = AES-256-GCM(DEK, random 96-bit nonce, AAD = header + context)
"""

from __future__ import annotations

import functools
import hmac
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

from pydantic_core import core_schema

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler

    from calgate.domain.principal import Principal
    from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory

__all__ = [
    "MASK",
    "CredentialVault",
    "KeyWrapper",
    "Progress",
    "PurgeResult",
    "RewrapResult",
    "RotationResult",
    "Secret",
    "SecretContext",
]

MASK = "**********"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Secret:
    """A secret value in memory. Its ``repr``, ``str``, format and JSON forms are all
    redacted; only :meth:`reveal` returns the value, so a secret cannot reach a log line, an
    f-string or a response by accident. Comparison is constant-time; pickling is refused."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if type(value) is not str:
            if isinstance(value, Secret):
                value = value.reveal()
            elif not isinstance(value, str):
                raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The plaintext. Call it only where the value leaves calgate for its purpose (an
        HTTP call to a provider, the token-vending response)."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """In a pydantic model: accepts a str (or Secret); JSON and ``mode="json"`` dumps
        give the mask, never the value."""
        from_str = core_schema.no_info_after_validator_function(cls, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_str]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: MASK, when_used="json"
            ),
        )


@functools.lru_cache(maxsize=512)
def _valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


@dataclass(slots=True)
class SecretContext:
    """Where a secret lives: the account, the owning table and row, and the field. The
    ciphertext is bound to all four (and to its key version) through associated data.
    Treat it as immutable (not frozen only because this is on every vault call's path)."""

    account_id: uuid.UUID
    owner: str
    owner_id: str
    field: str

    def __post_init__(self) -> None:
        if not isinstance(self.account_id, uuid.UUID):
            raise TypeError("account_id must be a UUID")
        if type(self.owner) is not str or not _valid_name(self.owner):
            raise ValueError(f"vault owner {self.owner!r} must match {_NAME.pattern}")
        if type(self.field) is not str or not _valid_name(self.field):
            raise ValueError(f"vault field {self.field!r} must match {_NAME.pattern}")
        if not 0 < len(self.owner_id) <= 200:
            raise ValueError("vault owner_id must be 1 to 200 characters")

    @classmethod
    def of(
        cls, account_id: uuid.UUID, owner: str, owner_id: uuid.UUID | str, field: str
    ) -> SecretContext:
        return cls(account_id, owner, str(owner_id), field)

    def describe(self) -> str:
        """Ids only, for logs and error details."""
        return f"{self.owner}:{self.owner_id}/{self.field}"


@runtime_checkable
class KeyWrapper(Protocol):
    """Holds the key-encryption key(s) and wraps/unwraps data keys. The local implementation
    (:class:`calgate.vault.keys.LocalKeyring`) keeps AES-256 keys from the environment or a
    key file; a KMS or Vault-transit implementation can take its place unchanged: the data
    key never leaves memory except wrapped, and ``context`` must be bound as associated data
    (KMS "encryption context", Vault transit "context")."""

    @property
    def current_kek_id(self) -> str:
        """Id of the KEK new data keys are wrapped with (stored next to each wrapped DEK)."""
        ...

    def known_kek_ids(self) -> tuple[str, ...]:
        """Every KEK id this wrapper can unwrap with, current first."""
        ...

    @property
    def can_rotate(self) -> bool: ...

    async def wrap(self, dek: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Return ``(kek_id, wrapped)`` for ``dek`` under the current KEK."""
        ...

    async def unwrap(self, wrapped: bytes, *, kek_id: str, context: bytes) -> bytes:
        """Return the data key, or raise `calgate.errors.VaultError`."""
        ...

    async def rotate(self) -> str:
        """Make a new current KEK (older ones stay usable for unwrapping); return its id.
        Raise `calgate.errors.ConfigurationError` where rotation is done outside calgate."""
        ...

    def reload(self) -> bool:
        """Pick up KEK changes made by another process; return whether anything changed."""
        ...

    def redaction_literals(self) -> tuple[str, ...]:
        """Text forms of key material, for the logging redaction filter."""
        ...


Progress = Callable[[int, int], None]
"""``progress(done, total)`` callback for long key operations."""


@dataclass(frozen=True, slots=True)
class RotationResult:
    kek_id: str
    kek_rotated: bool
    data_keys_rotated: int


@dataclass(frozen=True, slots=True)
class RewrapResult:
    data_keys_rewrapped: int
    secrets_rewrapped: int
    unreadable: int
    batches: int
    complete: bool


@dataclass(frozen=True, slots=True)
class PurgeResult:
    secrets_deleted: int
    data_keys_destroyed: int
    accounts: tuple[uuid.UUID, ...] = field(default_factory=tuple)


class CredentialVault(ABC):
    """Encrypted storage for secrets, inside the caller's unit of work: a ``put`` commits
    or rolls back with the change it belongs to."""

    @abstractmethod
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
        """Store (or replace) the secret of ``owner``/``owner_id``/``field``.

        This counts the encryption on the account's current data key row, which stays
        locked (PostgreSQL) until the caller's transaction ends: keep that transaction
        short, with no provider calls inside it."""

    @abstractmethod
    async def get(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        owner: str,
        owner_id: uuid.UUID | str,
        field: str,
    ) -> Secret | None:
        """The secret, ``None`` if none is stored (or it belongs to another account); raise
        `calgate.errors.VaultError` if it exists but does not decrypt."""

    @abstractmethod
    async def delete(
        self,
        uow: SqlUnitOfWork,
        *,
        account_id: uuid.UUID,
        owner: str,
        owner_id: uuid.UUID | str,
        field: str | None = None,
    ) -> int:
        """Delete one field, or every field of the owner row; return how many."""

    @abstractmethod
    async def shred_account(self, uow: SqlUnitOfWork, account_id: uuid.UUID) -> PurgeResult:
        """Destroy the account's data keys and ciphertexts (crypto-shredding)."""

    @abstractmethod
    async def purge(
        self, uow: SqlUnitOfWork, *, actor: Principal | str, account_id: uuid.UUID | None
    ) -> PurgeResult:
        """Bulk credential deletion (one account, or every account), audited."""

    @abstractmethod
    async def rotate(
        self,
        uow: SqlUnitOfWork,
        *,
        actor: Principal | str,
        kek: bool = False,
        data_keys: bool = True,
        account_id: uuid.UUID | None = None,
    ) -> RotationResult:
        """Start new key versions (audited). Old ciphertexts stay readable until rewrap."""

    @abstractmethod
    async def rewrap(
        self,
        uows: UnitOfWorkFactory,
        *,
        actor: Principal | str,
        batch_size: int = 1000,
        progress: Progress | None = None,
    ) -> RewrapResult:
        """Re-encrypt everything not on the current keys, online, in batches (audited)."""
