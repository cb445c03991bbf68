"""Google Workspace / Google Calendar (P2): OAuth 2.0 with PKCE and offline access, Calendar
v3 events with etags and sync tokens, revocation at ``oauth2.googleapis.com/revoke``."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from calgate.connectors import oauth
from calgate.connectors.base import (
    CalendarConnector,
    Capability,
    ProviderAccount,
    PushSubscription,
    TokenGrant,
)
from calgate.connectors.errors import ConnectorError, NotFound
from calgate.connectors.google import mapping
from calgate.connectors.google.client import GoogleClient
from calgate.connectors.google.config import GoogleConfig
from calgate.domain.calendar import Event, ItemRef, MappedOnRead, StoredEvent, SyncBatch
from calgate.domain.connections import Permissions
from calgate.domain.policy import Access, ContactsAccess
from calgate.vault.base import Secret

__all__ = ["GoogleConnector"]

_G = "https://www.googleapis.com/auth/"
READ_SCOPE = _G + "calendar.readonly"
EVENTS_SCOPE = _G + "calendar.events"
_WRITE_SCOPES = frozenset({_G + "calendar", EVENTS_SCOPE, _G + "calendar.events.owned"})
_READ_SCOPES = _WRITE_SCOPES | {
    READ_SCOPE,
    _G + "calendar.events.readonly",
    _G + "calendar.events.owned.readonly",
}
_PAGE = "2500"


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class GoogleConnector(CalendarConnector):
    provider: ClassVar[str] = "google"
    capabilities: ClassVar[Capability] = (
        Capability.WRITE | Capability.DELTA_SYNC | Capability.REVOKE | Capability.PUSH
    )

    def __init__(self, config: GoogleConfig, *, http: httpx.AsyncClient) -> None:
        self.config = config
        self.client = GoogleClient(config, http)

    def __repr__(self) -> str:
        return f"GoogleConnector(client_id={self.config.client_id!r})"

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def api_base_url(self) -> str:
        return self.config.api_base_url

    # scopes ------------------------------------------------------------------------------
    @classmethod
    def scopes_for(cls, calendar: Access, contacts: ContactsAccess) -> tuple[str, ...]:
        """Calendar read, or read plus event writes (never the broader ``calendar`` scope
        that also shares and deletes calendars). Contacts are not offered for Google (R7)."""
        if calendar is Access.READ_WRITE:
            return (READ_SCOPE, EVENTS_SCOPE)
        return (READ_SCOPE,)

    @classmethod
    def permissions(cls, scopes: Iterable[str]) -> Permissions:
        granted = set(scopes)
        if granted & _WRITE_SCOPES:
            return Permissions(Access.READ_WRITE)
        if granted & _READ_SCOPES:
            return Permissions(Access.READ)
        return Permissions(None)

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
        # access_type=offline for a refresh token; prompt=consent so that a reconnect gets a
        # new one too (§4.1). Google lets no client choose token lifetimes (R5).
        extra = {"access_type": "offline", "prompt": "consent"}
        if login_hint:
            extra["login_hint"] = login_hint
        return oauth.authorization_uri(
            self.config.auth_url,
            client_id=self.config.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            code_challenge=code_challenge,
            extra=extra,
        )

    async def exchange_code(
        self, *, code: str, code_verifier: Secret, redirect_uri: str
    ) -> TokenGrant:
        data = await self.client.token(
            "authorization_code",
            code=code,
            code_verifier=code_verifier.reveal(),
            redirect_uri=redirect_uri,
        )
        return oauth.parse_token_response(data)

    async def refresh(
        self, refresh_token: Secret, *, scopes: Iterable[str] | None = None
    ) -> TokenGrant:
        params = {"refresh_token": refresh_token.reveal()}
        if scopes is not None:
            params["scope"] = " ".join(sorted(scopes))
        grant = oauth.parse_token_response(await self.client.token("refresh_token", **params))
        if not grant.scopes and scopes is not None:  # Google echoes scope; be safe if not
            grant = TokenGrant(
                grant.access_token,
                grant.expires_in,
                frozenset(scopes),
                grant.refresh_token,
                grant.refresh_expires_in,
            )
        return grant

    async def revoke(self, token: Secret) -> None:
        await self.client.revoke(token)

    async def identify(self, grant: TokenGrant) -> ProviderAccount:
        """The primary calendar's id is the account's email (needs only calendar read)."""
        primary = await self.client.call("GET", "calendars/primary", grant.access_token)
        email = str(primary.get("id", "")).lower()
        if "@" not in email:
            raise ConnectorError("google did not name the account's primary calendar")
        return ProviderAccount(subject=email, email=email)

    # events ------------------------------------------------------------------------------
    async def _pages(
        self, token: Secret, calendar_id: str, params: dict[str, str]
    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
        items: list[dict[str, Any]] = []
        zone: str | None = None
        page_token: str | None = None
        while True:
            query = dict(params)
            if page_token:
                query["pageToken"] = page_token
            page = await self.client.call(
                "GET", self.client.events_path(calendar_id), token, params=query
            )
            zone = zone or page.get("timeZone")
            items.extend(page.get("items") or [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return items, page.get("nextSyncToken"), zone

    async def list_events(
        self, token: Secret, calendar_id: str, start: datetime, end: datetime
    ) -> list[StoredEvent]:
        items, _, zone = await self._pages(
            token,
            calendar_id,
            {
                "timeMin": _utc(start),
                "timeMax": _utc(end),
                "singleEvents": "true",
                "orderBy": "startTime",
                "maxResults": _PAGE,
            },
        )
        return [mapping.stored_from_google(calendar_id, i, zone) for i in items]

    async def get_event(self, token: Secret, href: str) -> StoredEvent:
        calendar_id, event_id = mapping.parse_href(href)
        item = await self.client.call("GET", self.client.events_path(calendar_id, event_id), token)
        if item.get("status") == "cancelled" and not item.get("recurringEventId"):
            raise NotFound("google: the event was deleted", provider=self.provider)
        return mapping.stored_from_google(calendar_id, item)

    async def create_event(self, token: Secret, calendar_id: str, event: Event) -> StoredEvent:
        item = await self.client.call(
            "POST",
            self.client.events_path(calendar_id),
            token,
            body=mapping.event_to_google(event),
        )
        return mapping.stored_from_google(calendar_id, item)

    async def update_event(self, token: Secret, ref: ItemRef, event: Event) -> StoredEvent:
        calendar_id, event_id = mapping.parse_href(ref.href)
        body = mapping.event_to_google(event)
        body.pop("iCalUID", None)
        item = await self.client.call(
            "PUT",
            self.client.events_path(calendar_id, event_id),
            token,
            body=body,
            headers={"If-Match": ref.etag} if ref.etag else None,
        )
        return mapping.stored_from_google(calendar_id, item)

    async def delete_event(self, token: Secret, ref: ItemRef) -> None:
        calendar_id, event_id = mapping.parse_href(ref.href)
        await self.client.call(
            "DELETE",
            self.client.events_path(calendar_id, event_id),
            token,
            headers={"If-Match": ref.etag} if ref.etag else None,
        )

    async def sync(
        self,
        token: Secret,
        calendar_id: str,
        sync_token: str | None,
        *,
        start: datetime,
        end: datetime,
    ) -> SyncBatch:
        """events.list with sync tokens (§5.1). Sync tokens exclude time bounds, so a full
        sync lists the whole calendar (masters with their recurrence, not instances);
        deletions come back as ``status: cancelled``. 410 → `SyncTokenExpired`."""
        params = {"maxResults": _PAGE, "singleEvents": "false"}
        if sync_token:
            params["syncToken"] = sync_token
        hrefs: list[str] = []
        items: list[dict[str, Any]] = []
        removed: list[str] = []
        raw: dict[str, dict[str, Any]] = {}
        zone: str | None = None
        prefix = mapping.event_href(calendar_id, "")
        path = self.client.events_path(calendar_id)
        # Page tokens chain, so pages come one after the other; the next request is sent
        # before this page is sorted, and nothing is mapped here (`MappedOnRead`).
        fetch = asyncio.ensure_future(self.client.call("GET", path, token, params=params))
        try:
            while True:
                page = await fetch
                following = page.get("nextPageToken")
                if following:
                    query = {**params, "pageToken": following}
                    fetch = asyncio.ensure_future(
                        self.client.call("GET", path, token, params=query)
                    )
                zone = zone or page.get("timeZone")
                for item in page.get("items") or ():
                    href = prefix + mapping.quoted(str(item["id"]))
                    if item.get("status") == "cancelled" and not item.get("recurringEventId"):
                        removed.append(href)
                    else:
                        hrefs.append(href)
                        items.append(item)
                        raw[href] = item
                if not following:
                    next_token = page.get("nextSyncToken")
                    break
        finally:
            if not fetch.done():
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectorError):
                    await fetch

        def read(href: str, item: Mapping[str, Any]) -> StoredEvent:
            return mapping.stored_from_google(calendar_id, item, zone, href=href)

        return SyncBatch(
            MappedOnRead(hrefs, items, read),
            tuple(removed),
            str(next_token) if next_token else "",
            full=not sync_token,
            raw=raw,
        )

    # change notifications (§5.3) ---------------------------------------------------------
    async def subscribe(
        self,
        token: Secret,
        calendar_id: str,
        *,
        address: str,
        secret: Secret,
        expires_at: datetime,
        channel_id: str | None = None,
        lifecycle_address: str | None = None,
    ) -> PushSubscription:
        """events.watch: a web_hook channel whose token is ``secret``; the returned
        ``expiration`` (Unix ms) is authoritative."""
        body = {
            "id": channel_id or uuid.uuid4().hex,
            "type": "web_hook",
            "address": address,
            "token": secret.reveal(),
            "expiration": int(expires_at.timestamp() * 1000),
        }
        got = await self.client.call(
            "POST", f"{self.client.events_path(calendar_id)}/watch", token, body=body
        )
        try:
            expires = datetime.fromtimestamp(int(got["expiration"]) / 1000, UTC)
            return PushSubscription(str(got["id"]), expires, str(got["resourceId"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectorError("google answered events.watch without a channel") from exc

    async def unsubscribe(self, token: Secret, subscription: PushSubscription) -> None:
        await self.client.call(
            "POST",
            "channels/stop",
            token,
            body={"id": subscription.id, "resourceId": subscription.resource_id},
        )
