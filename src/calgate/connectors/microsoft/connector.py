"""Microsoft 365 through Microsoft Graph (P1): Entra ID v2.0 authorization code + PKCE with
``offline_access``, refresh-token rotation, Graph events with etags and calendarView delta.

Microsoft has no per-grant revocation endpoint for a confidential client: removing an
integration deletes calgate's tokens; an Entra ID admin can additionally revoke the user's
sessions (``revokeSignInSessions``) or remove the app for the user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from joserfc import jws
from joserfc.errors import JoseError

from calgate.connectors import oauth
from calgate.connectors.base import (
    CalendarConnector,
    Capability,
    ProviderAccount,
    PushSubscription,
    TokenGrant,
)
from calgate.connectors.errors import ConnectorError
from calgate.connectors.microsoft import mapping
from calgate.connectors.microsoft.client import PREFER, MicrosoftClient
from calgate.connectors.microsoft.config import MicrosoftConfig
from calgate.domain.calendar import Event, ItemRef, StoredEvent, SyncBatch
from calgate.domain.connections import Permissions
from calgate.domain.policy import Access, ContactsAccess
from calgate.vault.base import Secret

__all__ = ["MicrosoftConnector"]

GRAPH = "https://graph.microsoft.com/"
IDENTITY_SCOPES = ("offline_access", "openid", "profile", "email")
_CAL_WRITE = frozenset({"Calendars.ReadWrite", "Calendars.ReadWrite.Shared"})
_CAL_READ = _CAL_WRITE | {"Calendars.Read", "Calendars.Read.Shared"}
_CONTACTS_WRITE = frozenset({"Contacts.ReadWrite", "Contacts.ReadWrite.Shared"})
_CONTACTS_READ = _CONTACTS_WRITE | {"Contacts.Read", "Contacts.Read.Shared"}
_PAGE_SIZE = "200"


def normalise_scope(scope: str) -> str:
    """``https://graph.microsoft.com/Calendars.Read`` → ``Calendars.Read``."""
    return scope[len(GRAPH) :] if scope.lower().startswith(GRAPH) else scope


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _calendar_path(calendar_id: str) -> str:
    return "me/calendar" if calendar_id in ("", "primary") else f"me/calendars/{calendar_id}"


class MicrosoftConnector(CalendarConnector):
    provider: ClassVar[str] = "microsoft"
    capabilities: ClassVar[Capability] = (
        Capability.WRITE
        | Capability.DELTA_SYNC
        | Capability.CONTACTS
        | Capability.ROTATES_REFRESH
        | Capability.PUSH
    )

    def __init__(self, config: MicrosoftConfig, *, http: httpx.AsyncClient) -> None:
        self.config = config
        self.client = MicrosoftClient(config, http)

    def __repr__(self) -> str:
        return f"MicrosoftConnector(client_id={self.config.client_id!r})"

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def api_base_url(self) -> str:
        return self.config.graph_base_url

    # scopes ------------------------------------------------------------------------------
    @classmethod
    def scopes_for(cls, calendar: Access, contacts: ContactsAccess) -> tuple[str, ...]:
        """Write access asks for the read scope too, so that a later policy change to read
        can narrow the token on refresh (Entra only narrows to scopes it has consent for)."""
        scopes = ["Calendars.Read"]
        if calendar is Access.READ_WRITE:
            scopes.append("Calendars.ReadWrite")
        if contacts is not ContactsAccess.NONE:
            scopes.append("Contacts.Read")
        if contacts is ContactsAccess.READ_WRITE:
            scopes.append("Contacts.ReadWrite")
        return (*scopes, *IDENTITY_SCOPES)

    @classmethod
    def permissions(cls, scopes: Iterable[str]) -> Permissions:
        granted = {normalise_scope(s) for s in scopes}
        calendar = (
            Access.READ_WRITE
            if granted & _CAL_WRITE
            else (Access.READ if granted & _CAL_READ else None)
        )
        contacts = (
            ContactsAccess.READ_WRITE
            if granted & _CONTACTS_WRITE
            else (ContactsAccess.READ if granted & _CONTACTS_READ else ContactsAccess.NONE)
        )
        return Permissions(calendar, contacts)

    @classmethod
    def narrowed_scopes(cls, granted: Iterable[str], allowed: Permissions) -> frozenset[str]:
        """Graph scopes within the policy; ``offline_access`` kept so rotation continues."""
        wanted = set(cls.scopes_for(allowed.calendar or Access.READ, allowed.contacts))
        kept = {s for s in (normalise_scope(g) for g in granted) if s in wanted}
        return frozenset(kept | {"offline_access"})

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
        # Entra ID lets no client choose token lifetimes per request (R5): access tokens live
        # 60–90 minutes, refresh tokens 90 days sliding; both are read from the answers.
        extra = {"response_mode": "query", "prompt": "select_account"}
        if login_hint:
            extra = {"response_mode": "query", "login_hint": login_hint}
        return oauth.authorization_uri(
            self.config.authorize_url,
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
        return oauth.parse_token_response(data, normalise_scope=normalise_scope)

    async def refresh(
        self, refresh_token: Secret, *, scopes: Iterable[str] | None = None
    ) -> TokenGrant:
        params = {"refresh_token": refresh_token.reveal()}
        if scopes is not None:
            params["scope"] = " ".join(sorted(scopes))
        data = await self.client.token("refresh_token", **params)
        return oauth.parse_token_response(data, normalise_scope=normalise_scope)

    async def identify(self, grant: TokenGrant) -> ProviderAccount:
        """From the ID token that came straight from the token endpoint over TLS (OpenID
        Connect Core §3.1.3.7: TLS server validation stands in for the signature there);
        its audience must be this app."""
        if grant.id_token is None:
            raise ConnectorError("microsoft sent no ID token (was openid granted?)")
        try:
            claims = json.loads(jws.extract_compact(grant.id_token.reveal().encode()).payload)
        except (JoseError, ValueError) as exc:
            raise ConnectorError("microsoft sent an ID token that does not parse") from exc
        if claims.get("aud") != self.config.client_id:
            raise ConnectorError("microsoft sent an ID token for another application")
        oid, tid = claims.get("oid"), claims.get("tid")
        email = claims.get("preferred_username") or claims.get("email") or ""
        if not oid or not tid or "@" not in str(email):
            raise ConnectorError("microsoft's ID token does not name the account")
        return ProviderAccount(subject=f"{tid}/{oid}", email=str(email).lower())

    # events ------------------------------------------------------------------------------
    async def _collect(
        self, token: Secret, path: str, params: dict[str, str] | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        link: str | None = path
        query: dict[str, str] | None = params
        while link:
            page = await self.client.call(
                "GET",
                link,
                token,
                params=query,
                headers={"Prefer": f"{PREFER}, odata.maxpagesize={_PAGE_SIZE}"},
            )
            items.extend(page.get("value") or [])
            query = None
            if page.get("@odata.deltaLink"):
                return items, str(page["@odata.deltaLink"])
            link = page.get("@odata.nextLink")
        return items, None

    async def list_events(
        self, token: Secret, calendar_id: str, start: datetime, end: datetime
    ) -> list[StoredEvent]:
        items, _ = await self._collect(
            token,
            f"{_calendar_path(calendar_id)}/calendarView",
            {"startDateTime": _utc(start), "endDateTime": _utc(end)},
        )
        return [mapping.stored_from_graph(i) for i in items]

    async def get_event(self, token: Secret, href: str) -> StoredEvent:
        item = await self.client.call("GET", href, token)
        return mapping.stored_from_graph(item)

    async def create_event(self, token: Secret, calendar_id: str, event: Event) -> StoredEvent:
        item = await self.client.call(
            "POST",
            f"{_calendar_path(calendar_id)}/events",
            token,
            body=mapping.event_to_graph(event),
        )
        return mapping.stored_from_graph(item)

    async def update_event(self, token: Secret, ref: ItemRef, event: Event) -> StoredEvent:
        item = await self.client.call(
            "PATCH",
            ref.href,
            token,
            body=mapping.event_to_graph(event),
            headers={"If-Match": ref.etag} if ref.etag else None,
        )
        return mapping.stored_from_graph(item)

    async def delete_event(self, token: Secret, ref: ItemRef) -> None:
        await self.client.call(
            "DELETE", ref.href, token, headers={"If-Match": ref.etag} if ref.etag else None
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
        """calendarView delta over ``[start, end)`` (§2.4): the token is the deltaLink,
        followed verbatim; ``@removed`` items (deleted, cancelled, moved out of the window)
        are removals. An evicted token → `SyncTokenExpired`."""
        if sync_token:
            items, link = await self._collect(token, sync_token, None)
        else:
            items, link = await self._collect(
                token,
                f"{_calendar_path(calendar_id)}/calendarView/delta",
                {"startDateTime": _utc(start), "endDateTime": _utc(end)},
            )
        changed, removed, raw = [], [], {}
        for item in items:
            if "@removed" in item:
                removed.append(f"me/events/{item['id']}")
            else:
                stored = mapping.stored_from_graph(item)
                changed.append(stored)
                raw[stored.ref.href] = item
        return SyncBatch(tuple(changed), tuple(removed), link or "", full=not sync_token, raw=raw)

    # change notifications (§3) -----------------------------------------------------------
    @staticmethod
    def _subscription(got: Any) -> PushSubscription:
        try:
            expires = datetime.fromisoformat(str(got["expirationDateTime"]).replace("Z", "+00:00"))
            return PushSubscription(str(got["id"]), expires.astimezone(UTC))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectorError("microsoft answered without a subscription") from exc

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
        """POST /subscriptions (basic notifications on the mailbox's events; Graph validates
        ``address`` and ``lifecycle_address`` before it answers). The granted
        ``expirationDateTime`` may be shorter than asked: it is read back."""
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "resource": "me/events",
            "expirationDateTime": _utc(expires_at),
            "clientState": secret.reveal(),
            "latestSupportedTlsVersion": "v1_2",
        }
        if lifecycle_address:
            body["lifecycleNotificationUrl"] = lifecycle_address
        return self._subscription(await self.client.call("POST", "subscriptions", token, body=body))

    async def renew_subscription(
        self, token: Secret, subscription: PushSubscription, *, expires_at: datetime
    ) -> PushSubscription:
        """PATCH expirationDateTime: extends the subscription and, like reauthorize, resumes
        one paused by ``reauthorizationRequired``."""
        got = await self.client.call(
            "PATCH",
            f"subscriptions/{subscription.id}",
            token,
            body={"expirationDateTime": _utc(expires_at)},
        )
        return self._subscription(got)

    async def unsubscribe(self, token: Secret, subscription: PushSubscription) -> None:
        await self.client.call("DELETE", f"subscriptions/{subscription.id}", token)
