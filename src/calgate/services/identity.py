"""Who is calling (bearer tokens → principals) and signing users in (POST /v1/sessions)."""

from __future__ import annotations

import hmac
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from calgate.clock import Clock
from calgate.domain.model import User
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import InvalidInput, Unauthenticated
from calgate.persistence.uow import SqlUnitOfWork
from calgate.security import apikeys
from calgate.security.oidc import OidcVerifier
from calgate.security.passwords import verify_password
from calgate.security.sessions import SessionSigner

__all__ = ["Authenticator", "IssuedSession"]

_VERIFIED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str
    expires_at: datetime
    user: User


class Authenticator:
    def __init__(
        self,
        *,
        operator_key: str,
        sessions: SessionSigner,
        clock: Clock,
        oidc: OidcVerifier | None = None,
    ) -> None:
        self._operator_key = operator_key.encode()
        self._sessions = sessions
        self._clock = clock
        self._oidc = oidc
        # Sessions whose signature was verified already: token → (principal, expiry). The
        # key is the whole token (signature included), so only a token that verified hits.
        self._verified: OrderedDict[str, tuple[Principal, datetime]] = OrderedDict()

    def __repr__(self) -> str:
        return "Authenticator(<redacted>)"

    async def authenticate(self, uow: SqlUnitOfWork, token: str) -> Principal:
        """Map a bearer token to its principal, or raise `Unauthenticated`."""
        if hmac.compare_digest(token.encode(), self._operator_key):
            return Principal(PrincipalKind.OPERATOR)
        if apikeys.looks_like_api_key(token):
            key = await uow.api_keys.find_active_by_hash(apikeys.digest(token))
            if key is None:
                raise Unauthenticated("API key is unknown or has been revoked")
            return Principal(PrincipalKind.ADMIN, account_id=key.account_id, key_id=key.id)
        principal = self.session_principal(token)
        assert principal.account_id is not None
        assert principal.user_id is not None
        user = await uow.users.get(principal.account_id, principal.user_id)
        if user is None:
            raise Unauthenticated("the user of this session no longer exists")
        return principal

    def session_principal(self, token: str) -> Principal:
        """The user of a session token, from its signature alone (no database read): for
        hot paths that check the user's existence in their own query. Operator keys and
        API keys are refused here."""
        now = self._clock.now()
        hit = self._verified.get(token)
        if hit is not None and now.timestamp() < hit[1].timestamp():
            return hit[0]
        claims = self._sessions.verify(token, now=now)
        principal = Principal(
            PrincipalKind.USER,
            account_id=claims.account_id,
            user_id=claims.user_id,
            session_id=claims.session_id,
        )
        self._verified[token] = (principal, claims.expires_at)
        if len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)
        return principal

    async def sign_in_local(
        self, uow: SqlUnitOfWork, *, email: str, password: str, account_id: uuid.UUID | None
    ) -> IssuedSession:
        """Embedded/demo mode: calgate's own user directory, scrypt password hashes.

        Nothing about an email is revealed without its password: an unknown email costs one
        scrypt verification against a dummy hash, exactly like a wrong password, and only
        when the password is right for the email in several accounts is the caller asked
        to choose one with ``account_id``."""
        candidates = await uow.users.find_by_email(email, account_id=account_id)
        if not candidates:
            verify_password(password, None)
            raise Unauthenticated("email or password is wrong")
        matches = [user for user, pw_hash in candidates if verify_password(password, pw_hash)]
        if not matches:
            raise Unauthenticated("email or password is wrong")
        if len(matches) > 1:
            raise InvalidInput(
                "this email and password are in several accounts: give account_id",
                field="account_id",
            )
        return self._issue(matches[0])

    async def sign_in_oidc(
        self, uow: SqlUnitOfWork, *, id_token: str, account_id: uuid.UUID | None
    ) -> IssuedSession:
        """Production: an ID token from the configured OIDC issuer, matched to a provisioned
        user by subject, or by verified email."""
        if self._oidc is None:
            raise Unauthenticated("OIDC sign-in is not configured on this server")
        identity = await self._oidc.verify(id_token)
        users = [
            u
            for u in await uow.users.find_by_external_id(identity.subject)
            if account_id is None or u.account_id == account_id
        ]
        if not users and identity.email and identity.email_verified:
            users = [
                u for u, _ in await uow.users.find_by_email(identity.email, account_id=account_id)
            ]
        if not users:
            raise Unauthenticated("no calgate user is provisioned for this identity")
        if len(users) > 1:
            raise InvalidInput(
                "this identity exists in several accounts: give account_id", field="account_id"
            )
        return self._issue(users[0])

    def _issue(self, user: User) -> IssuedSession:
        token, expires = self._sessions.issue(
            user_id=user.id, account_id=user.account_id, now=self._clock.now()
        )
        return IssuedSession(token, expires, user)
