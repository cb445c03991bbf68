"""The `CalendarConnector` interface: one per provider, over an injected `httpx.AsyncClient`.

A connector instance belongs to one app registration (a deployment's, or an account's own)
and holds no per-user state: every call that acts for a user takes that user's access token.
Optional abilities are `Capability` flags; where an ability has a correct-but-slow fallback
the base class implements it (``sync`` without delta support lists the whole window).

OAuth (authorization code + PKCE S256, RFC 7636 / RFC 9700):

- `authorization_url` builds the provider URL a browser is sent to;
- `exchange_code` redeems the code with the verifier and the same redirect URI;
- `refresh` uses a refresh token (optionally narrowing the scopes);
- `revoke` revokes a grant where the provider has an endpoint (`Capability.REVOKE`);
- `identify` names the provider account a grant belongs to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag, auto
from typing import ClassVar

from calgate.connectors.errors import Unsupported
from calgate.domain.calendar import Event, ItemRef, StoredEvent, SyncBatch
from calgate.domain.connections import Permissions
from calgate.domain.policy import Access, ContactsAccess
from calgate.vault.base import Secret

__all__ = [
    "CalendarConnector",
    "Capability",
    "ProviderAccount",
    "PushSubscription",
    "TokenGrant",
]


class Capability(IntFlag):
    NONE = 0
    WRITE = auto()  # create / update / delete events
    DELTA_SYNC = auto()  # incremental sync tokens (otherwise: full listings)
    PUSH = auto()  # change notifications (webhooks), issue #6
    CONTACTS = auto()  # contacts scopes
    ROOMS = auto()  # room calendars with app permissions / service accounts, issue #7
    REVOKE = auto()  # a per-grant revocation endpoint
    ROTATES_REFRESH = auto()  # every refresh returns a new refresh token


@dataclass(frozen=True, slots=True, repr=False)
class TokenGrant:
    """A token endpoint's answer. Lifetimes are the provider's own (R5): calgate honours
    ``expires_in`` and ``refresh_expires_in`` rather than assuming them."""

    access_token: Secret
    expires_in: int
    scopes: frozenset[str]
    refresh_token: Secret | None = None
    refresh_expires_in: int | None = None
    id_token: Secret | None = None

    def __repr__(self) -> str:
        return (
            f"TokenGrant(expires_in={self.expires_in}, scopes={sorted(self.scopes)}, "
            f"refresh_token={'yes' if self.refresh_token else 'no'})"
        )


@dataclass(frozen=True, slots=True)
class ProviderAccount:
    """Who granted: a stable ``subject`` at the provider and the account's email."""

    subject: str
    email: str


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A change-notification subscription at the provider: a Graph subscription or a Google
    watch channel (``resource_id`` is Google's, needed to stop it). ``expires_at`` is what
    the provider granted, which may be shorter than what was asked for."""

    id: str
    expires_at: datetime
    resource_id: str | None = None


class CalendarConnector(ABC):
    provider: ClassVar[str]
    capabilities: ClassVar[Capability]

    # identity of this registration -------------------------------------------------------
    @property
    @abstractmethod
    def client_id(self) -> str:
        """The app registration's client id (refresh tokens are bound to it)."""

    @property
    @abstractmethod
    def api_base_url(self) -> str:
        """Base URL apps use with a vended access token (e.g. Graph v1.0, Calendar v3)."""

    # scopes (facts about the provider, the same for every registration) ------------------
    @classmethod
    @abstractmethod
    def scopes_for(cls, calendar: Access, contacts: ContactsAccess) -> tuple[str, ...]:
        """The scopes to request for this access, offline access (a refresh token) and the
        account's identity included."""

    @classmethod
    @abstractmethod
    def permissions(cls, scopes: Iterable[str]) -> Permissions:
        """What granted ``scopes`` allow."""

    @classmethod
    def narrowed_scopes(cls, granted: Iterable[str], allowed: Permissions) -> frozenset[str]:
        """The subset of ``granted`` to ask for on refresh when the policy now allows less
        than was granted (R7). Default: drop write scopes the policy no longer allows."""
        wanted = set(cls.scopes_for(allowed.calendar or Access.READ, allowed.contacts))
        return frozenset(s for s in granted if s in wanted)

    # OAuth -------------------------------------------------------------------------------
    @abstractmethod
    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str,
        redirect_uri: str,
        scopes: Sequence[str],
        login_hint: str | None = None,
    ) -> str: ...

    @abstractmethod
    async def exchange_code(
        self, *, code: str, code_verifier: Secret, redirect_uri: str
    ) -> TokenGrant: ...

    @abstractmethod
    async def refresh(
        self, refresh_token: Secret, *, scopes: Iterable[str] | None = None
    ) -> TokenGrant: ...

    async def revoke(self, token: Secret) -> None:
        """Revoke the grant ``token`` belongs to. Without `Capability.REVOKE` the provider
        has no such endpoint and this raises `Unsupported`."""
        raise Unsupported(
            f"{self.provider} has no per-grant revocation endpoint", provider=self.provider
        )

    @abstractmethod
    async def identify(self, grant: TokenGrant) -> ProviderAccount: ...

    # events ------------------------------------------------------------------------------
    @abstractmethod
    async def list_events(
        self, token: Secret, calendar_id: str, start: datetime, end: datetime
    ) -> list[StoredEvent]:
        """Events overlapping ``[start, end)``, series expanded into instances."""

    @abstractmethod
    async def get_event(self, token: Secret, href: str) -> StoredEvent: ...

    @abstractmethod
    async def create_event(self, token: Secret, calendar_id: str, event: Event) -> StoredEvent:
        """Reach this only through `calgate.connections.writes` (the write guard, R7)."""

    @abstractmethod
    async def update_event(self, token: Secret, ref: ItemRef, event: Event) -> StoredEvent:
        """Replace the event if it still has ``ref.etag`` (else `WrongEtag`)."""

    @abstractmethod
    async def delete_event(self, token: Secret, ref: ItemRef) -> None:
        """Delete the event if it still has ``ref.etag`` (else `WrongEtag`)."""

    async def sync(
        self,
        token: Secret,
        calendar_id: str,
        sync_token: str | None,
        *,
        start: datetime,
        end: datetime,
    ) -> SyncBatch:
        """Changes since ``sync_token`` (``None``: a first, full sync). An expired token
        raises `SyncTokenExpired`: start again with ``None``. This default has no delta
        support: it returns the whole window as a full listing every time."""
        events = await self.list_events(token, calendar_id, start, end)
        return SyncBatch(tuple(events), (), "full", full=True)

    # change notifications (issue #6, `Capability.PUSH`) ------------------------------------
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
        """Ask the provider to POST change notifications for ``calendar_id`` to ``address``,
        each carrying ``secret`` (Graph ``clientState``, Google channel token). ``channel_id``
        is the caller's id where the provider lets the caller choose it (Google)."""
        raise Unsupported(f"{self.provider} has no change notifications", provider=self.provider)

    async def renew_subscription(
        self, token: Secret, subscription: PushSubscription, *, expires_at: datetime
    ) -> PushSubscription:
        """Extend a subscription in place. `Unsupported` where the provider cannot (Google
        channels are never renewed: create a new one before the old lapses)."""
        raise Unsupported(
            f"{self.provider} subscriptions cannot be renewed", provider=self.provider
        )

    async def unsubscribe(self, token: Secret, subscription: PushSubscription) -> None:
        """Stop a subscription; one the provider no longer knows raises `NotFound`."""
        raise Unsupported(f"{self.provider} has no change notifications", provider=self.provider)
