"""Nested app authentication (NAA) tokens, as an Outlook add-in gets them (R14).

An Outlook add-in on Exchange Online signs in with MSAL.js through its host (nested app
authentication) and asks for a token for its own API: ``api://<host>/<client id>/access_as_user``.
Entra ID answers with a **v2.0 access token** whose ``aud`` is the add-in's application
(client) id, ``iss`` is ``https://login.microsoftonline.com/<tid>/v2.0``, ``azp`` the add-in,
``scp`` the delegated scope(s), and ``oid``/``tid``/``preferred_username``/``name`` identify
the user — signed by the key the tenant's JWKS publishes (the emulator's `TokenSigner`).

The emulator does not run the broker handshake between add-in and host; its control route
``POST /_sandbox/microsoft/naa/token`` mints the token the add-in would end up with, for a
user and an add-in registration (the seeded one by default), on the sandbox clock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from calgate.sandbox.microsoft.grants import authority_of
from calgate.sandbox.microsoft.state import AppRegistration, User

if TYPE_CHECKING:
    from calgate.sandbox.microsoft.emulator import MicrosoftEmulator

__all__ = [
    "ADDIN_SCOPE",
    "SANDBOX_ADDIN_CLIENT_ID",
    "mint_naa_token",
    "naa_router",
    "seed_addin",
]

SANDBOX_ADDIN_CLIENT_ID = "5a4db0c5-add1-4000-8000-000000000001"
ADDIN_SCOPE = "access_as_user"
ADDIN_REDIRECT = "brk-multihub://localhost:3000"


def seed_addin(em: MicrosoftEmulator, tenant_id: str) -> AppRegistration:
    """Register the sandbox's Outlook add-in: a public SPA client exposing ``access_as_user``."""
    app = AppRegistration(
        client_id=SANDBOX_ADDIN_CLIENT_ID,
        client_secret="",
        display_name="calgate Outlook add-in (sandbox)",
        tenant_id=tenant_id,
        spa_redirect_uris=[ADDIN_REDIRECT],
        public_client=True,
        delegated_permissions=["User.Read", ADDIN_SCOPE],
    )
    em.state.apps[app.client_id] = app
    return app


def mint_naa_token(
    em: MicrosoftEmulator,
    *,
    authority: str,
    user: User,
    app: AppRegistration,
    scopes: list[str],
    lifetime: int | None = None,
) -> tuple[str, int]:
    """A v2.0 access token for ``app``'s own API on behalf of ``user`` (and its lifetime)."""
    expires_in = lifetime if lifetime is not None else 3600 + secrets.randbelow(1801)
    now = int(em.core.clock.now().timestamp())
    claims: dict[str, Any] = {
        "aud": app.client_id,
        "iss": f"{authority}/{user.tenant_id}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + expires_in,
        "aio": secrets.token_urlsafe(24),
        "azp": app.client_id,
        "azpacr": "0",
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.upn,
        "rh": secrets.token_urlsafe(12),
        "scp": " ".join(scopes),
        "sid": secrets.token_hex(16),
        "sub": _pairwise_subject(user.id, app.client_id),
        "tid": user.tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
    }
    return em.signer.sign(claims), expires_in


class NaaTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(description="UPN or object id of the signed-in user")
    client_id: str = Field(
        default=SANDBOX_ADDIN_CLIENT_ID, description="the add-in's app registration"
    )
    scopes: list[str] = Field(default_factory=lambda: [ADDIN_SCOPE])
    lifetime_seconds: int | None = Field(default=None, ge=1, le=86_400)


def naa_router(em: MicrosoftEmulator) -> APIRouter:
    router = APIRouter(tags=["sandbox: microsoft"])

    @router.post("/naa/token")
    async def naa_token(body: NaaTokenIn, request: Request) -> dict[str, Any]:
        """The access token an Outlook add-in gets through nested app authentication."""
        user = em.state.user(body.user)
        if user is None or user.is_room:
            raise HTTPException(404, f"no user {body.user!r}")
        app = em.state.apps.get(body.client_id)
        if app is None:
            raise HTTPException(404, f"no app registration {body.client_id!r}")
        if app.tenant_id != user.tenant_id and not app.multi_tenant:
            raise HTTPException(400, "AADSTS700016: the add-in is not registered in this tenant")
        token, expires_in = mint_naa_token(
            em,
            authority=authority_of(request),
            user=user,
            app=app,
            scopes=body.scopes,
            lifetime=body.lifetime_seconds,
        )
        em.core.count("microsoft", "naa.token")
        return {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": expires_in,
            "scope": " ".join(f"api://{app.client_id}/{s}" for s in body.scopes),
        }

    return router


def _pairwise_subject(user_id: str, client_id: str) -> str:
    """Entra's ``sub`` is pairwise: the same user has a different one per application."""
    digest = hashlib.sha256(f"{user_id}:{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]
