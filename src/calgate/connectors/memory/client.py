"""The memory connector's "provider": calendars with etags and a change log, and a tiny
authorization server (codes with PKCE, rotating refresh tokens, revocation). It exists so
that services and the contract suite can run with no network at all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from dateutil.rrule import rrulestr

from calgate.connectors.errors import (
    AuthExpired,
    InvalidGrant,
    NotFound,
    SyncTokenExpired,
    WrongEtag,
)
from calgate.domain.calendar import Event

__all__ = ["MemoryWorld"]


@dataclass
class _Stored:
    event: Event
    seq: int
    deleted: bool = False


@dataclass
class _Code:
    subject: str
    scopes: frozenset[str]
    challenge: str
    redirect_uri: str


@dataclass
class MemoryWorld:
    """Shared state of one in-memory provider."""

    calendars: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    access_tokens: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    sync_epoch: int = 0
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    # OAuth ---------------------------------------------------------------------------------
    def approve(
        self, subject: str, scopes: frozenset[str], challenge: str, redirect_uri: str
    ) -> str:
        """What a user's consent produces: a single-use code."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = _Code(subject, scopes, challenge, redirect_uri)
        return code

    def redeem(
        self, code: str, verifier: str, redirect_uri: str
    ) -> tuple[str, str, frozenset[str]]:
        found = self.codes.pop(code, None)
        if found is None or found.redirect_uri != redirect_uri:
            raise InvalidGrant("memory: unknown or used code", provider="memory")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if not hmac.compare_digest(digest.rstrip(b"=").decode(), found.challenge):
            raise InvalidGrant("memory: code verifier mismatch", provider="memory")
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = (found.subject, found.scopes)
        return refresh, found.subject, found.scopes

    def issue_access(self, subject: str, scopes: frozenset[str]) -> str:
        token = secrets.token_urlsafe(24)
        self.access_tokens[token] = (subject, scopes)
        return token

    def rotate(self, refresh: str) -> tuple[str, str, frozenset[str]]:
        self.count("token.refresh")
        found = self.refresh_tokens.pop(refresh, None)
        if found is None:
            raise InvalidGrant("memory: refresh token revoked or unknown", provider="memory")
        new = secrets.token_urlsafe(24)
        self.refresh_tokens[new] = found
        return new, *found

    def revoke_subject(self, subject: str) -> None:
        for store in (self.refresh_tokens, self.access_tokens):
            for token in [t for t, (s, _) in store.items() if s == subject]:
                del store[token]

    def check(self, token: str) -> str:
        found = self.access_tokens.get(token)
        if found is None:
            raise AuthExpired("memory: unknown access token", provider="memory")
        return found[0]

    # calendars -----------------------------------------------------------------------------
    def _cal(self, calendar_id: str) -> dict[str, _Stored]:
        return self.calendars.setdefault(calendar_id, {})

    def put(self, calendar_id: str, event_id: str, event: Event) -> int:
        seq = next(self._seq)
        self._cal(calendar_id)[event_id] = _Stored(event, seq)
        return seq

    def get(self, calendar_id: str, event_id: str) -> _Stored:
        stored = self._cal(calendar_id).get(event_id)
        if stored is None or stored.deleted:
            raise NotFound("memory: no such event", provider="memory")
        return stored

    def replace(self, calendar_id: str, event_id: str, etag: str, event: Event) -> int:
        current = self.get(calendar_id, event_id)
        if etag and etag != str(current.seq):
            raise WrongEtag("memory: the event changed", provider="memory")
        return self.put(calendar_id, event_id, event)

    def delete(self, calendar_id: str, event_id: str, etag: str) -> None:
        current = self.get(calendar_id, event_id)
        if etag and etag != str(current.seq):
            raise WrongEtag("memory: the event changed", provider="memory")
        current.deleted = True
        current.seq = next(self._seq)

    def changes(self, calendar_id: str, since: int) -> list[tuple[str, _Stored]]:
        if since < 0:
            raise SyncTokenExpired("memory: bad sync token", provider="memory")
        return [(i, s) for i, s in self._cal(calendar_id).items() if s.seq > since]

    def overlapping(
        self, calendar_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, Event]]:
        """Timed events and series instances overlapping ``[start, end)``, by start."""
        found: list[tuple[str, Event]] = []
        for event_id, stored in self._cal(calendar_id).items():
            ev = stored.event
            if stored.deleted or ev.start.at is None or ev.end.at is None:
                continue
            length = ev.end.at - ev.start.at
            starts = [ev.start.at]
            if ev.recurrence:
                rule = rrulestr("\n".join(ev.recurrence), dtstart=ev.start.at, forceset=True)
                starts = list(rule.between(start - length, end, inc=True))
            for at in starts:
                if at < end and at + length > start:
                    instance = replace(
                        ev,
                        start=replace(ev.start, at=at),
                        end=replace(ev.end, at=at + length),
                    )
                    found.append((event_id, instance))
        return sorted(found, key=lambda item: item[1].start.at or start)

    def expire_sync_tokens(self) -> None:
        self.sync_epoch += 1

    @property
    def position(self) -> int:
        """The newest change's sequence number."""
        return max((s.seq for cal in self.calendars.values() for s in cal.values()), default=0)
