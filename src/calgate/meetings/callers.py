"""Who may call the scheduling API (R14), and which calgate user they are.

Three kinds of bearer tokens are accepted, each mapped to a user principal:

1. a calgate **session token** (``POST /v1/sessions``) — the user's apps;
2. a Microsoft **Entra ID access token obtained by nested app authentication** (an Outlook
   add-in on Exchange Online): a v2.0 token of a tenant an account trusts, for the add-in's
   application id, signed by a key of the tenant's JWKS (discovered from
   ``<CALGATE_ENTRA_AUTHORITY>/<tenant>/v2.0/.well-known/openid-configuration``). It must be
   a delegated token (``scp``, ``oid``). The user is the one linked to ``oid`` in that tenant,
   else the account's user whose ``external_id`` is the ``oid``, else the one whose email is
   the token's ``preferred_username``/``upn`` (then linked, so a later rename still maps);
3. a legacy **Exchange user identity token** (on-premises): the server's metadata URL must be
   one an account trusts; the user is the one linked to the mailbox (``msexchuid``) or whose
   ``external_id`` is it. Exchange identity tokens carry no email address: a user links the
   mailbox once, signed in (``POST /v1/me/scheduling-identities``).

Everything else (an unknown tenant or server, a wrong audience or issuer, an expired or badly
signed token, an identity no user matches) is 401 with a detail saying which.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError

from calgate.clock import Clock
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Forbidden, Unauthenticated
from calgate.meetings.trust import (
    LinkedIdentity,
    TrustedIssuer,
    TrustKind,
    TrustService,
    find_identity,
    find_trust,
    link_identity,
)
from calgate.persistence.uow import SqlUnitOfWork, UnitOfWorkFactory
from calgate.security.exchange_identity import ExchangeIdentityVerifier, app_context
from calgate.security.oidc import OidcVerifier
from calgate.services.identity import Authenticator

__all__ = ["CallerKind", "SchedulingAuthenticator", "classify"]

log = logging.getLogger(__name__)

_MAX_VERIFIERS = 256


class CallerKind(StrEnum):
    CALGATE = "calgate"  # session token, or an operator/admin key (refused later)
    ENTRA = "entra"
    EXCHANGE = "exchange"


def classify(token: str) -> tuple[CallerKind, dict[str, Any]]:
    """Tell the token kinds apart by their *unverified* shape (verification follows):
    an RS256 JWT with ``appctx`` is an Exchange identity token, one with ``tid`` an Entra
    token; everything else goes to calgate's own authenticator."""
    try:
        compact = jws.extract_compact(token.encode())
        header = compact.headers()
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, UnicodeError):
        return CallerKind.CALGATE, {}
    if not isinstance(claims, dict) or str(header.get("alg", "")).upper() == "HS256":
        return CallerKind.CALGATE, {}
    if "appctx" in claims:
        return CallerKind.EXCHANGE, claims
    if isinstance(claims.get("tid"), str):
        return CallerKind.ENTRA, claims
    return CallerKind.CALGATE, {}


class SchedulingAuthenticator:
    def __init__(
        self,
        *,
        auth: Authenticator,
        trust: TrustService,
        http: httpx.AsyncClient,
        clock: Clock,
        entra_authority: str,
    ) -> None:
        self._auth = auth
        self._trust = trust
        self._http = http
        self._clock = clock
        self._authority = entra_authority.rstrip("/")
        self._verifiers: OrderedDict[str, OidcVerifier] = OrderedDict()
        self._exchange = ExchangeIdentityVerifier(http=http, clock=clock)

    def __repr__(self) -> str:
        return "SchedulingAuthenticator(<redacted>)"

    async def authenticate(self, uow: UnitOfWorkFactory, token: str) -> Principal:
        """The user principal behind ``token`` (see the module doc), or `Unauthenticated`;
        an operator or admin key is `Forbidden` here (scheduling is done by users)."""
        kind, claims = classify(token)
        if kind is CallerKind.CALGATE:
            async with uow(readonly=True) as u:
                principal = await self._auth.authenticate(u, token)
            if principal.kind is not PrincipalKind.USER:
                raise Forbidden(
                    "meetings are scheduled by users: use a session token, an Outlook add-in's "
                    "Entra ID token or an Exchange identity token"
                )
            return principal
        async with uow() as u:
            if kind is CallerKind.ENTRA:
                trust, subject, email = await self._verify_entra(u, token, claims)
            else:
                trust, subject, email = await self._verify_exchange(u, token, claims)
            user_id = await self._map_user(u, trust, subject, email)
            await u.commit()
        log.info(
            "scheduling caller: %s user %s in account %s", kind.value, user_id, trust.account_id
        )
        return Principal(PrincipalKind.USER, account_id=trust.account_id, user_id=user_id)

    async def link(self, uow: SqlUnitOfWork, principal: Principal, token: str) -> LinkedIdentity:
        """Link the add-in identity in ``token`` to the signed-in user ``principal``."""
        if principal.kind is not PrincipalKind.USER or not principal.user_id:
            raise Forbidden("only a signed-in user can link an add-in identity")
        kind, claims = classify(token)
        if kind is CallerKind.ENTRA:
            trust, subject, _ = await self._verify_entra(uow, token, claims)
        elif kind is CallerKind.EXCHANGE:
            trust, subject, _ = await self._verify_exchange(uow, token, claims)
        else:
            raise Unauthenticated(
                "give an Entra ID token from the add-in or an Exchange identity token"
            )
        if trust.account_id != principal.account_id:
            raise Unauthenticated("this add-in identity belongs to another calgate account")
        return await link_identity(
            uow.session,
            account_id=trust.account_id,
            user_id=principal.user_id,
            kind=trust.kind,
            issuer=trust.issuer,
            subject=subject,
            now=self._clock.now(),
        )

    # Entra ID (nested app authentication) --------------------------------------------------
    async def _verify_entra(
        self, uow: SqlUnitOfWork, token: str, claims: Mapping[str, Any]
    ) -> tuple[TrustedIssuer, str, str | None]:
        tenant = str(claims.get("tid", "")).strip().lower()
        trust = await find_trust(uow.session, TrustKind.ENTRA, tenant) if tenant else None
        if trust is None:
            raise Unauthenticated(
                "this Microsoft Entra tenant is not set up for scheduling in calgate: an account "
                "admin adds its tenant id (PUT /v1/accounts/{account_id}/scheduling-auth)"
            )
        verified = await self._verifier(tenant).verify_claims(
            token, audiences=self._trust.audiences_for(trust)
        )
        if str(verified.get("tid", "")).lower() != tenant:
            raise Unauthenticated("Entra ID access token names another tenant")
        oid, scopes = verified.get("oid"), verified.get("scp")
        if not isinstance(oid, str) or not oid or not isinstance(scopes, str) or not scopes:
            raise Unauthenticated(
                "Entra ID access token is not a delegated user token (no oid/scp)"
            )
        email = verified.get("preferred_username") or verified.get("upn") or verified.get("email")
        return trust, oid, email.lower() if isinstance(email, str) and "@" in email else None

    def _verifier(self, tenant: str) -> OidcVerifier:
        verifier = self._verifiers.get(tenant)
        if verifier is None:
            verifier = OidcVerifier(
                issuer=f"{self._authority}/{tenant}/v2.0",
                audience=(),
                http=self._http,
                clock=self._clock,
                label="Entra ID access token",
            )
            self._verifiers[tenant] = verifier
            while len(self._verifiers) > _MAX_VERIFIERS:
                self._verifiers.popitem(last=False)
        self._verifiers.move_to_end(tenant)
        return verifier

    # Exchange identity tokens --------------------------------------------------------------
    async def _verify_exchange(
        self, uow: SqlUnitOfWork, token: str, claims: Mapping[str, Any]
    ) -> tuple[TrustedIssuer, str, str | None]:
        context = app_context(claims) or {}
        url = context.get("amurl")
        trust = (
            await find_trust(uow.session, TrustKind.EXCHANGE, url)
            if isinstance(url, str) and url
            else None
        )
        if trust is None:
            raise Unauthenticated(
                "this Exchange server is not set up for scheduling in calgate: an account admin "
                "adds its metadata URL (PUT /v1/accounts/{account_id}/scheduling-auth)"
            )
        identity = await self._exchange.verify(
            token, metadata_url=trust.issuer, audiences=self._trust.audiences_for(trust)
        )
        return trust, identity.msexchuid, None

    # the calgate user ----------------------------------------------------------------------
    async def _map_user(
        self, uow: SqlUnitOfWork, trust: TrustedIssuer, subject: str, email: str | None
    ) -> uuid.UUID:
        account_id = trust.account_id
        linked = await find_identity(uow.session, trust.kind, trust.issuer, subject)
        if linked is not None and linked.account_id == account_id:
            return linked.user_id
        users = [
            u for u in await uow.users.find_by_external_id(subject) if u.account_id == account_id
        ]
        if not users and email is not None:
            users = [u for u, _ in await uow.users.find_by_email(email, account_id=account_id)]
        if len(users) != 1:
            if trust.kind is TrustKind.EXCHANGE:
                raise Unauthenticated(
                    "no calgate user is linked to this Exchange mailbox: sign in to calgate once "
                    "and link it (POST /v1/me/scheduling-identities), or an admin sets the "
                    "user's external_id to the mailbox id (msexchuid)"
                )
            raise Unauthenticated(
                "no calgate user in the account matches this Microsoft account (by object id "
                "or email)"
            )
        user = users[0]
        await link_identity(
            uow.session,
            account_id=account_id,
            user_id=user.id,
            kind=trust.kind,
            issuer=trust.issuer,
            subject=subject,
            now=self._clock.now(),
        )
        return user.id
