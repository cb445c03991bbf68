"""Grant and token lifecycle (provider-protocols §4.1, §4.2, §4.4, §10.1–2): issuing access and
refresh tokens, every way a refresh token dies, revocation, and the JWT-bearer assertion check
for service accounts with domain-wide delegation."""

from __future__ import annotations

from dataclasses import dataclass

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.errors import OAuthError
from calgate.sandbox.google.scopes import PROFILE_SCOPES
from calgate.sandbox.google.state import AccessToken, Grant, OAuthClient

__all__ = [
    "EXPIRED_OR_REVOKED",
    "JWT_BEARER",
    "TokenService",
]

EXPIRED_OR_REVOKED = "Token has been expired or revoked."
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL  # noqa: S105 - a URL
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


@dataclass
class Issued:
    access: AccessToken
    refresh: Grant | None

    def response(self, ctx: GoogleContext) -> dict[str, object]:
        remaining = int((self.access.expires_at - ctx.now()).total_seconds())
        body: dict[str, object] = {
            "access_token": self.access.token,
            "expires_in": max(remaining - 1, 0),  # Google answers 3599 for a 1-hour token
            "token_type": "Bearer",
        }
        if self.access.scopes and self.access.service_account is None:
            body["scope"] = " ".join(sorted(self.access.scopes))
        if self.refresh is not None:
            body["refresh_token"] = self.refresh.token
        return body


class TokenService:
    def __init__(self, ctx: GoogleContext) -> None:
        self.ctx = ctx

    # issuing ------------------------------------------------------------------------------
    def access_token(
        self,
        *,
        client_id: str,
        user_email: str | None,
        scopes: frozenset[str],
        grant: Grant | None = None,
        service_account: str | None = None,
    ) -> AccessToken:
        state = self.ctx.state
        now = self.ctx.now()
        if len(state.access_tokens) > 10_000:  # forget long-expired tokens
            for key in [k for k, t in state.access_tokens.items() if t.expires_at < now]:
                del state.access_tokens[key]
        token = AccessToken(
            token=state.new_token("ya29."),
            client_id=client_id,
            user_email=user_email,
            scopes=scopes,
            expires_at=now + self.ctx.settings.access_token_ttl,
            grant_id=grant.id if grant else None,
            service_account=service_account,
        )
        state.access_tokens[token.token] = token
        return token

    def refresh_token(self, client: OAuthClient, user_email: str, scopes: frozenset[str]) -> Grant:
        """A new refresh token; the 101st for one client and user kills the oldest (§4.2)."""
        state = self.ctx.state
        now = self.ctx.now()
        live = sorted(
            (
                g
                for g in state.grants.values()
                if g.client_id == client.client_id and g.user_email == user_email and not g.dead
            ),
            key=lambda g: g.id,
        )
        while len(live) >= self.ctx.settings.refresh_cap:
            live.pop(0).dead = "token_limit"
            self.ctx.count("token.cap_evicted")
        grant = Grant(
            id=state.next_grant_id(),
            token=state.new_token("1//"),
            client_id=client.client_id,
            user_email=user_email,
            scopes=scopes,
            issued_at=now,
            last_used_at=now,
            testing=client.mode == "testing" and not scopes <= PROFILE_SCOPES,
        )
        state.grants[grant.token] = grant
        return grant

    def has_live_grant(self, client_id: str, user_email: str) -> bool:
        return any(
            g.client_id == client_id and g.user_email == user_email and self.alive(g)
            for g in self.ctx.state.grants.values()
        )

    def granted_scopes(self, client_id: str, user_email: str) -> frozenset[str]:
        scopes: set[str] = set()
        for g in self.ctx.state.grants.values():
            if g.client_id == client_id and g.user_email == user_email and self.alive(g):
                scopes |= g.scopes
        return frozenset(scopes)

    # refresh ------------------------------------------------------------------------------
    def alive(self, grant: Grant) -> bool:
        """Apply the time-based deaths lazily, on the sandbox clock (§4.2)."""
        if grant.dead:
            return False
        now = self.ctx.now()
        settings = self.ctx.settings
        if grant.testing and now - grant.issued_at >= settings.testing_refresh_ttl:
            grant.dead = "testing_expired"
        elif now - grant.last_used_at >= settings.unused_refresh_ttl:
            grant.dead = "unused_expired"
        return grant.dead is None

    def refresh(
        self, client: OAuthClient, refresh_token: str, scope: str | None
    ) -> dict[str, object]:
        grant = self.ctx.state.grants.get(refresh_token)
        if grant is None or not self.alive(grant):
            raise OAuthError(400, "invalid_grant", EXPIRED_OR_REVOKED)
        if grant.client_id != client.client_id:
            raise OAuthError(400, "unauthorized_client", "Unauthorized")
        scopes = grant.scopes
        if scope:
            narrowed = frozenset(scope.split())
            if not narrowed <= grant.scopes:
                raise OAuthError(
                    400, "invalid_scope", "The requested scope is not a subset of the grant."
                )
            scopes = narrowed
        grant.last_used_at = self.ctx.now()
        access = self.access_token(
            client_id=client.client_id, user_email=grant.user_email, scopes=scopes, grant=grant
        )
        return Issued(access, None).response(self.ctx)

    # revocation ---------------------------------------------------------------------------
    def kill(self, grant: Grant, reason: str) -> None:
        grant.dead = grant.dead or reason
        for token in self.ctx.state.access_tokens.values():
            if token.grant_id == grant.id:
                token.revoked = True

    def revoke(self, token: str) -> bool:
        """Revoke a refresh token, or the grant an access token came from (§4.2)."""
        state = self.ctx.state
        grant = state.grants.get(token)
        if grant is not None and not grant.dead:
            self.kill(grant, "revoked")
            return True
        access = state.access_tokens.get(token)
        if access is None or access.revoked or access.expires_at <= self.ctx.now():
            return False
        access.revoked = True
        for g in state.grants.values():
            if g.id == access.grant_id:
                self.kill(g, "revoked")
        return True

    def admin_revoke(self, user_email: str, client_id: str | None = None) -> int:
        """A Workspace admin (or the user, on their account page) removes the app's access."""
        killed = 0
        for grant in self.ctx.state.grants.values():
            if grant.user_email != user_email or grant.dead:
                continue
            if client_id is not None and grant.client_id != client_id:
                continue
            self.kill(grant, "admin_revoked")
            killed += 1
        return killed

    # service accounts ---------------------------------------------------------------------
    def jwt_bearer(self, assertion: str, token_url: str) -> dict[str, object]:
        """Verify a service account's RS256 assertion and impersonate ``sub`` (§4.4)."""
        state = self.ctx.state
        try:
            header = jws.extract_compact(assertion.encode()).protected
        except (JoseError, ValueError) as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: malformed assertion.") from exc
        account = next(
            (sa for sa in state.service_accounts.values() if sa.key_id == header.get("kid")),
            None,
        )
        if account is None:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        public = RSAKey.import_key(account.key.as_pem(private=False))
        try:
            claims = jwt.decode(assertion, public, algorithms=["RS256"]).claims
        except (JoseError, ValueError) as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("iss") != account.email:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: iss does not match the key.")
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, token_url):
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        now = int(self.ctx.now().timestamp())
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: iat/exp must span ≤ 1 hour.")
        if exp < now - 300 or iat > now + 300:
            raise OAuthError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience.")
        subject = claims.get("sub")
        if subject is not None:
            if subject not in state.users:
                raise OAuthError(400, "invalid_grant", "Invalid email or User ID")
            if not scopes <= account.delegated_scopes:
                raise OAuthError(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        access = self.access_token(
            client_id=account.client_id,
            user_email=str(subject) if subject else None,
            scopes=scopes,
            service_account=account.email,
        )
        return Issued(access, None).response(self.ctx)

    def bearer(self, token: str) -> AccessToken | None:
        access = self.ctx.state.access_tokens.get(token)
        if access is None or access.revoked:
            return None
        if access.expires_at <= self.ctx.now():
            return None
        return access
