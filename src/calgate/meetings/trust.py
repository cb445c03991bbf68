"""Which add-in tokens an account accepts (R14), and which add-in identities belong to which
user.

An account admin lists the Microsoft Entra ID tenants whose nested-app-authentication tokens
are accepted (with the add-in's application id / ``api://`` URI as audience) and the
on-premises Exchange servers whose identity tokens are accepted (by authentication metadata
URL, with the add-in's page URLs as audience). A tenant or server belongs to one account.
Changes are audited. Identities link an Entra object id or an Exchange mailbox id to a user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from calgate.clock import Clock
from calgate.domain.principal import Principal
from calgate.errors import Conflict, InvalidInput, NotFound
from calgate.persistence.db import AsyncSession
from calgate.persistence.tables import SchedulingIdentityRow, SchedulingTrustRow
from calgate.persistence.uow import SqlUnitOfWork
from calgate.services.audit import AuditLog
from calgate.services.tenancy import require_account_admin

__all__ = [
    "LinkedIdentity",
    "TrustConfig",
    "TrustKind",
    "TrustService",
    "TrustedIssuer",
    "find_identity",
    "find_trust",
    "link_identity",
]


class TrustKind(StrEnum):
    ENTRA = "entra"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    account_id: uuid.UUID
    kind: TrustKind
    issuer: str  # Entra tenant id, or Exchange metadata URL
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrustConfig:
    entra: tuple[TrustedIssuer, ...] = field(default=())
    exchange: tuple[TrustedIssuer, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    kind: TrustKind
    issuer: str
    subject: str
    created_at: datetime
    last_used_at: datetime | None = None


def _trust(row: SchedulingTrustRow) -> TrustedIssuer:
    return TrustedIssuer(row.account_id, TrustKind(row.kind), row.issuer, tuple(row.audiences))


def _identity(row: SchedulingIdentityRow) -> LinkedIdentity:
    return LinkedIdentity(
        row.id,
        row.account_id,
        row.user_id,
        TrustKind(row.kind),
        row.issuer,
        row.subject,
        row.created_at,
        row.last_used_at,
    )


async def find_trust(session: AsyncSession, kind: TrustKind, issuer: str) -> TrustedIssuer | None:
    row = await session.scalar(
        select(SchedulingTrustRow).where(
            SchedulingTrustRow.kind == kind.value, SchedulingTrustRow.issuer == issuer
        )
    )
    return _trust(row) if row else None


async def find_identity(
    session: AsyncSession, kind: TrustKind, issuer: str, subject: str
) -> LinkedIdentity | None:
    row = await session.scalar(
        select(SchedulingIdentityRow).where(
            SchedulingIdentityRow.kind == kind.value,
            SchedulingIdentityRow.issuer == issuer,
            SchedulingIdentityRow.subject == subject,
        )
    )
    return _identity(row) if row else None


async def link_identity(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    user_id: uuid.UUID,
    kind: TrustKind,
    issuer: str,
    subject: str,
    now: datetime,
) -> LinkedIdentity:
    """Link (idempotent for the same user); `Conflict` when another user holds it."""
    existing = await find_identity(session, kind, issuer, subject)
    if existing is not None:
        if existing.user_id != user_id:
            raise Conflict("this add-in identity is already linked to another calgate user")
        await session.execute(
            update(SchedulingIdentityRow)
            .where(SchedulingIdentityRow.id == existing.id)
            .values(last_used_at=now)
        )
        return existing
    row = SchedulingIdentityRow(
        id=uuid.uuid4(),
        account_id=account_id,
        user_id=user_id,
        kind=kind.value,
        issuer=issuer,
        subject=subject,
        created_at=now,
        last_used_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:  # linked concurrently
        raise Conflict("this add-in identity was linked concurrently; try again") from exc
    return _identity(row)


def _check_tenant(value: str) -> str:
    text = value.strip().lower()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidInput(
            "an Entra tenant is given by its tenant id (a GUID)", field="entra_tenants"
        ) from None


def _check_metadata_url(value: str, *, require_https: bool) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise InvalidInput(
            "an Exchange server is given by its authentication metadata URL, e.g. "
            "https://mail.example.com:443/autodiscover/metadata/json/1",
            field="exchange_servers",
        )
    if require_https and parts.scheme != "https":
        raise InvalidInput("metadata URLs must use https", field="exchange_servers")
    return value.strip()


class TrustService:
    def __init__(
        self,
        *,
        clock: Clock,
        audit: AuditLog,
        require_https: bool,
        default_naa_audiences: Sequence[str] = (),
        default_exchange_urls: Sequence[str] = (),
    ) -> None:
        self._clock = clock
        self._audit = audit
        self._require_https = require_https
        self.default_naa_audiences = tuple(default_naa_audiences)
        self.default_exchange_urls = tuple(default_exchange_urls)

    async def get(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID
    ) -> TrustConfig:
        require_account_admin(principal, account_id)
        if await uow.accounts.get(account_id) is None:
            raise NotFound(f"account {account_id} not found")
        return await self._load(uow.session, account_id)

    async def replace(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        entra: Sequence[tuple[str, Sequence[str]]],
        exchange: Sequence[tuple[str, Sequence[str]]],
    ) -> TrustConfig:
        """Replace the account's trusted tenants and servers (audited)."""
        require_account_admin(principal, account_id)
        if await uow.accounts.get(account_id, lock="change") is None:
            raise NotFound(f"account {account_id} not found")
        wanted = [
            TrustedIssuer(account_id, TrustKind.ENTRA, _check_tenant(t), _audiences(a))
            for t, a in entra
        ] + [
            TrustedIssuer(
                account_id,
                TrustKind.EXCHANGE,
                _check_metadata_url(u, require_https=self._require_https),
                _audiences(a),
            )
            for u, a in exchange
        ]
        keys = [(w.kind, w.issuer) for w in wanted]
        if len(set(keys)) != len(keys):
            raise InvalidInput("a tenant or server is listed twice", field="entra_tenants")
        for w in wanted:
            self._check_audiences(w)
        before = await self._load(uow.session, account_id)
        session = uow.session
        await session.execute(
            delete(SchedulingTrustRow).where(SchedulingTrustRow.account_id == account_id)
        )
        now = self._clock.now()
        try:
            async with session.begin_nested():
                for w in wanted:
                    session.add(
                        SchedulingTrustRow(
                            id=uuid.uuid4(),
                            account_id=account_id,
                            kind=w.kind.value,
                            issuer=w.issuer,
                            audiences=list(w.audiences),
                            created_at=now,
                        )
                    )
                await session.flush()
        except IntegrityError as exc:
            raise Conflict(
                "a listed tenant or Exchange server is already set up for another account"
            ) from exc
        after = await self._load(session, account_id)
        await self._audit.record(
            uow,
            actor=principal,
            action="scheduling_auth.changed",
            target=f"account:{account_id}",
            account_id=account_id,
            details={"before": _describe(before), "after": _describe(after)},
        )
        return after

    def _check_audiences(self, trust: TrustedIssuer) -> None:
        if trust.kind is TrustKind.ENTRA and not (trust.audiences or self.default_naa_audiences):
            raise InvalidInput(
                "give the add-in's application id (audiences), or set CALGATE_NAA_AUDIENCES",
                field="entra_tenants",
            )
        if trust.kind is TrustKind.EXCHANGE and not (trust.audiences or self.default_exchange_urls):
            raise InvalidInput(
                "give the add-in's page URLs (audiences), or set CALGATE_EXCHANGE_ADDIN_URLS",
                field="exchange_servers",
            )

    def audiences_for(self, trust: TrustedIssuer) -> tuple[str, ...]:
        if trust.audiences:
            return trust.audiences
        if trust.kind is TrustKind.ENTRA:
            return self.default_naa_audiences
        return self.default_exchange_urls

    @staticmethod
    async def _load(session: AsyncSession, account_id: uuid.UUID) -> TrustConfig:
        rows = (
            await session.scalars(
                select(SchedulingTrustRow)
                .where(SchedulingTrustRow.account_id == account_id)
                .order_by(SchedulingTrustRow.kind, SchedulingTrustRow.issuer)
            )
        ).all()
        trusts = [_trust(r) for r in rows]
        return TrustConfig(
            entra=tuple(t for t in trusts if t.kind is TrustKind.ENTRA),
            exchange=tuple(t for t in trusts if t.kind is TrustKind.EXCHANGE),
        )

    # linked identities of one user -------------------------------------------------------
    @staticmethod
    async def identities(
        session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> Sequence[LinkedIdentity]:
        rows = await session.scalars(
            select(SchedulingIdentityRow)
            .where(
                SchedulingIdentityRow.account_id == account_id,
                SchedulingIdentityRow.user_id == user_id,
            )
            .order_by(SchedulingIdentityRow.created_at)
        )
        return [_identity(r) for r in rows.all()]

    @staticmethod
    async def unlink(
        session: AsyncSession, account_id: uuid.UUID, user_id: uuid.UUID, identity_id: uuid.UUID
    ) -> None:
        result = await session.execute(
            delete(SchedulingIdentityRow).where(
                SchedulingIdentityRow.id == identity_id,
                SchedulingIdentityRow.account_id == account_id,
                SchedulingIdentityRow.user_id == user_id,
            )
        )
        if getattr(result, "rowcount", 0) != 1:
            raise NotFound(f"linked identity {identity_id} not found")


def _audiences(values: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
    if any(len(v) > 500 for v in cleaned):
        raise InvalidInput("an audience is at most 500 characters", field="audiences")
    return cleaned


def _describe(config: TrustConfig) -> dict[str, list[dict[str, object]]]:
    return {
        "entra": [{"tenant_id": t.issuer, "audiences": list(t.audiences)} for t in config.entra],
        "exchange": [
            {"metadata_url": t.issuer, "audiences": list(t.audiences)} for t in config.exchange
        ],
    }
