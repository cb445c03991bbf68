"""Tamper-evident audit log (R3).

Each account has its own hash chain (``account:<id>``); actions with no account (operator
key management) go to the ``system`` chain. An entry's hash is an HMAC-SHA256, keyed from the
server secret, over its canonical JSON form including the previous entry's hash; the chain's
head (last sequence number and hash) is kept in its own row. So an edited entry breaks its
own hash, a deleted entry breaks the sequence and the next entry's link, and a truncated
tail disagrees with the head, and someone with only database access cannot recompute
the hashes to cover their tracks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calgate.clock import Clock
from calgate.domain.model import AuditEntry
from calgate.domain.principal import Principal
from calgate.persistence.uow import SqlUnitOfWork

__all__ = ["SYSTEM_CHAIN", "AuditLog", "ChainReport", "account_chain"]

SYSTEM_CHAIN = "system"
GENESIS = "0" * 64


def account_chain(account_id: uuid.UUID) -> str:
    return f"account:{account_id}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    chain: str
    valid: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None


class AuditLog:
    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "AuditLog(<redacted>)"

    def _digest(
        self,
        *,
        chain: str,
        seq: int,
        at: datetime,
        actor: str,
        action: str,
        target: str,
        account_id: uuid.UUID | None,
        details: dict[str, Any],
        prev_hash: str,
    ) -> str:
        body = json.dumps(
            {
                "chain": chain,
                "seq": seq,
                "at": at.isoformat(timespec="microseconds"),
                "actor": actor,
                "action": action,
                "target": target,
                "account": str(account_id) if account_id else None,
                "details": details,
                "prev": prev_hash,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    async def record(
        self,
        uow: SqlUnitOfWork,
        *,
        actor: Principal | str,
        action: str,
        target: str,
        account_id: uuid.UUID | None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an entry in the caller's transaction (it commits with the change it
        describes, or not at all). ``details`` holds ids and names, never secrets."""
        chain = account_chain(account_id) if account_id else SYSTEM_CHAIN
        actor_name = actor if isinstance(actor, str) else actor.actor
        details = json.loads(json.dumps(details or {}, default=str))
        head = await uow.audit.lock_head(chain)
        at = self._clock.now()
        seq = head.seq + 1
        entry = AuditEntry(
            chain=chain,
            seq=seq,
            account_id=account_id,
            at=at,
            actor=actor_name,
            action=action,
            target=target,
            details=details,
            prev_hash=head.hash,
            hash=self._digest(
                chain=chain,
                seq=seq,
                at=at,
                actor=actor_name,
                action=action,
                target=target,
                account_id=account_id,
                details=details,
                prev_hash=head.hash,
            ),
        )
        await uow.audit.append(entry, head)
        return entry

    async def verify_all(self, uow: SqlUnitOfWork) -> list[ChainReport]:
        """Verify every chain: the system chain, every chain with entries, and the chain of
        every existing account — which is never empty (it starts with ``account.created``),
        so a chain removed whole is reported too."""
        accounts = {account_chain(a.id) for a in await uow.accounts.list()}
        reports = []
        for chain in sorted(set(await uow.audit.chains()) | accounts):
            report = await self.verify(uow, chain)
            if report.valid and report.entries == 0 and chain in accounts:
                report = ChainReport(
                    chain,
                    False,
                    0,
                    1,
                    "the account exists but its chain has no entries: they were removed",
                )
            reports.append(report)
        return reports

    async def verify(self, uow: SqlUnitOfWork, chain: str, *, batch: int = 1000) -> ChainReport:
        expected_prev = GENESIS
        expected_seq = 1
        count = 0
        while True:
            rows = await uow.audit.list(chain, after_seq=expected_seq - 1, limit=batch)
            for row in rows:
                if row.seq != expected_seq:
                    return ChainReport(
                        chain, False, count, expected_seq, f"entry {expected_seq} is missing"
                    )
                if row.prev_hash != expected_prev:
                    return ChainReport(
                        chain,
                        False,
                        count,
                        row.seq,
                        f"entry {row.seq} does not link to entry {row.seq - 1}",
                    )
                digest = self._digest(
                    chain=row.chain,
                    seq=row.seq,
                    at=row.at,
                    actor=row.actor,
                    action=row.action,
                    target=row.target,
                    account_id=row.account_id,
                    details=row.details,
                    prev_hash=row.prev_hash,
                )
                if not hmac.compare_digest(digest, row.hash):
                    return ChainReport(
                        chain,
                        False,
                        count,
                        row.seq,
                        f"entry {row.seq} was altered after it was written",
                    )
                expected_prev = row.hash
                expected_seq += 1
                count += 1
            if len(rows) < batch:
                break
        head = await uow.audit.head(chain)
        head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
        if head_seq != count or head_hash != expected_prev:
            return ChainReport(
                chain,
                False,
                count,
                count + 1,
                f"the chain ends at entry {count} but its head says {head_seq}: "
                "entries were removed from its end",
            )
        return ChainReport(chain, True, count)
