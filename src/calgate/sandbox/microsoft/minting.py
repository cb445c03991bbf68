"""Claims of the tokens the Entra ID emulator issues (provider-protocols §1.2–1.4).

Graph access tokens are v1.0-shaped (``appid``, ``scp`` or ``roles``, ``aud`` =
``https://graph.microsoft.com``); ID tokens are v2.0. Lifetimes come from the sandbox clock;
access tokens live a random 60–90 minutes, as Entra's do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calgate.sandbox.microsoft.state import GRAPH_RESOURCE, AppRegistration, User
from calgate.sandbox.microsoft.tokens import TokenSigner

__all__ = ["IssuedAccessToken", "TokenMinter", "client_info"]


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    expires_in: int


def _lifetime() -> int:
    return 3600 + secrets.randbelow(1801)  # 60–90 min


def service_principal_id(app: AppRegistration, tenant_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{tenant_id}:{app.client_id}"))


def client_info(user: User) -> str:
    raw = json.dumps({"uid": user.id, "utid": user.tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class TokenMinter:
    def __init__(self, signer: TokenSigner) -> None:
        self.signer = signer

    def _base(self, now: datetime, lifetime: int) -> dict[str, Any]:
        ts = int(now.timestamp())
        return {"iat": ts, "nbf": ts, "exp": ts + lifetime, "uti": secrets.token_urlsafe(16)}

    def access_token(
        self,
        *,
        authority: str,
        now: datetime,
        app: AppRegistration,
        tenant_id: str,
        user: User | None,
        scopes: list[str],
        audience: str = GRAPH_RESOURCE,
    ) -> IssuedAccessToken:
        """``user`` set: a delegated token with ``scp``; else an app-only token with ``roles``."""
        lifetime = _lifetime()
        claims = self._base(now, lifetime)
        claims.update(
            aud=audience,
            iss=f"{authority}/{tenant_id}/",
            tid=tenant_id,
            appid=app.client_id,
            azp=app.client_id,
            app_displayname=app.display_name,
            appidacr="1",
            ver="1.0",
        )
        if user is not None:
            claims.update(
                idtyp="user",
                oid=user.id,
                sub=_pairwise(user.id, app.client_id),
                name=user.display_name,
                upn=user.upn,
                unique_name=user.upn,
                scp=" ".join(scopes),
            )
        else:
            sp = service_principal_id(app, tenant_id)
            claims.update(idtyp="app", oid=sp, sub=sp, roles=list(scopes))
        return IssuedAccessToken(self.signer.sign(claims), lifetime)

    def id_token(
        self,
        *,
        authority: str,
        now: datetime,
        app: AppRegistration,
        user: User,
        nonce: str | None,
    ) -> str:
        claims = self._base(now, 3600)
        claims.update(
            aud=app.client_id,
            iss=f"{authority}/{user.tenant_id}/v2.0",
            tid=user.tenant_id,
            oid=user.id,
            sub=_pairwise(user.id, app.client_id),
            name=user.display_name,
            preferred_username=user.upn,
            email=user.upn,
            ver="2.0",
        )
        if nonce:
            claims["nonce"] = nonce
        return self.signer.sign(claims)

    @staticmethod
    def refresh_lifetime(spa: bool) -> timedelta:
        return timedelta(hours=24) if spa else timedelta(days=90)


def _pairwise(user_id: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{user_id}:{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]
