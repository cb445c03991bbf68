"""The reference in-memory connector: the whole contract with no network (tests, examples).
It is the model the contract suite holds every real connector to."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlencode

import httpx

from calgate.connectors.base import CalendarConnector, Capability, ProviderAccount, TokenGrant
from calgate.connectors.errors import SyncTokenExpired
from calgate.connectors.memory.client import MemoryWorld
from calgate.connectors.memory.config import MemoryConfig
from calgate.connectors.memory.mapping import event_href, parse_href
from calgate.domain.calendar import Event, ItemRef, StoredEvent, SyncBatch
from calgate.domain.connections import Permissions
from calgate.domain.policy import Access, ContactsAccess
from calgate.vault.base import Secret

__all__ = ["MemoryConnector"]

READ, WRITE = "calendar.read", "calendar.write"


class MemoryConnector(CalendarConnector):
    provider: ClassVar[str] = "memory"
    capabilities: ClassVar[Capability] = (
        Capability.WRITE | Capability.DELTA_SYNC | Capability.REVOKE | Capability.ROTATES_REFRESH
    )

    def __init__(
        self,
        config: MemoryConfig | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        world: MemoryWorld | None = None,
    ) -> None:
        self.config = config or MemoryConfig()
        self.world = world or MemoryWorld()

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def api_base_url(self) -> str:
        return self.config.api_base_url

    @classmethod
    def scopes_for(cls, calendar: Access, contacts: ContactsAccess) -> tuple[str, ...]:
        return (READ, WRITE) if calendar is Access.READ_WRITE else (READ,)

    @classmethod
    def permissions(cls, scopes: Iterable[str]) -> Permissions:
        granted = set(scopes)
        if WRITE in granted:
            return Permissions(Access.READ_WRITE)
        return Permissions(Access.READ if READ in granted else None)

    # OAuth -------------------------------------------------------------------------------
    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str,
        redirect_uri: str,
        scopes: Sequence[str],
        login_hint: str | None = None,
    ) -> str:
        query = {"state": state, "code_challenge": code_challenge, "redirect_uri": redirect_uri}
        query["scope"] = " ".join(scopes)
        if login_hint:
            query["login_hint"] = login_hint
        return f"memory://authorize?{urlencode(query)}"

    def _grant(self, subject: str, scopes: frozenset[str], refresh: str | None) -> TokenGrant:
        return TokenGrant(
            access_token=Secret(self.world.issue_access(subject, scopes)),
            expires_in=3600,
            scopes=scopes,
            refresh_token=Secret(refresh) if refresh else None,
            id_token=Secret(subject),
        )

    async def exchange_code(
        self, *, code: str, code_verifier: Secret, redirect_uri: str
    ) -> TokenGrant:
        refresh, subject, scopes = self.world.redeem(code, code_verifier.reveal(), redirect_uri)
        return self._grant(subject, scopes, refresh)

    async def refresh(
        self, refresh_token: Secret, *, scopes: Iterable[str] | None = None
    ) -> TokenGrant:
        new, subject, granted = self.world.rotate(refresh_token.reveal())
        wanted = frozenset(scopes) & granted if scopes is not None else granted
        return self._grant(subject, wanted, new)

    async def revoke(self, token: Secret) -> None:
        found = self.world.refresh_tokens.get(token.reveal())
        if found is not None:
            self.world.revoke_subject(found[0])

    async def identify(self, grant: TokenGrant) -> ProviderAccount:
        subject = self.world.check(grant.access_token.reveal())
        return ProviderAccount(subject=subject, email=subject)

    # events ------------------------------------------------------------------------------
    def _stored(self, calendar_id: str, event_id: str, seq: int, event: Event) -> StoredEvent:
        return StoredEvent(ItemRef(event_href(calendar_id, event_id), str(seq)), event)

    async def list_events(
        self, token: Secret, calendar_id: str, start: datetime, end: datetime
    ) -> list[StoredEvent]:
        self.world.check(token.reveal())
        found = []
        for event_id, event in self.world.overlapping(calendar_id, start, end):
            stored = self.world.get(calendar_id, event_id)
            found.append(self._stored(calendar_id, event_id, stored.seq, event))
        return found

    async def get_event(self, token: Secret, href: str) -> StoredEvent:
        self.world.check(token.reveal())
        calendar_id, event_id = parse_href(href)
        stored = self.world.get(calendar_id, event_id)
        return self._stored(calendar_id, event_id, stored.seq, stored.event)

    async def create_event(self, token: Secret, calendar_id: str, event: Event) -> StoredEvent:
        self.world.check(token.reveal())
        event_id = secrets.token_hex(8)
        seq = self.world.put(calendar_id, event_id, event)
        return self._stored(calendar_id, event_id, seq, event)

    async def update_event(self, token: Secret, ref: ItemRef, event: Event) -> StoredEvent:
        self.world.check(token.reveal())
        calendar_id, event_id = parse_href(ref.href)
        seq = self.world.replace(calendar_id, event_id, ref.etag, event)
        return self._stored(calendar_id, event_id, seq, event)

    async def delete_event(self, token: Secret, ref: ItemRef) -> None:
        self.world.check(token.reveal())
        calendar_id, event_id = parse_href(ref.href)
        self.world.delete(calendar_id, event_id, ref.etag)

    async def sync(
        self,
        token: Secret,
        calendar_id: str,
        sync_token: str | None,
        *,
        start: datetime,
        end: datetime,
    ) -> SyncBatch:
        self.world.check(token.reveal())
        since = 0
        if sync_token:
            epoch, _, position = sync_token.partition(":")
            if not (epoch.isdigit() and position.isdigit()) or int(epoch) != self.world.sync_epoch:
                raise SyncTokenExpired("memory: the sync token expired", provider="memory")
            since = int(position)
        changed, removed = [], []
        for event_id, stored in self.world.changes(calendar_id, since):
            if stored.deleted:
                if since:
                    removed.append(event_href(calendar_id, event_id))
            else:
                changed.append(self._stored(calendar_id, event_id, stored.seq, stored.event))
        return SyncBatch(
            tuple(changed),
            tuple(removed),
            f"{self.world.sync_epoch}:{self.world.position}",
            full=not sync_token,
        )
