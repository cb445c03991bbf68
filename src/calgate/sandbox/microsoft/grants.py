"""``POST /{tenant}/oauth2/v2.0/token`` (provider-protocols §1.2–1.5): authorization_code
with PKCE, refresh_token with rotation (the old token stays valid), client_credentials with
``{resource}/.default``, and AADSTS errors for every failure a client must handle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft.aadsts import AadstsError
from calgate.sandbox.microsoft.minting import TokenMinter, client_info
from calgate.sandbox.microsoft.scopes import TenantRef, parse_scopes, resolve_tenant
from calgate.sandbox.microsoft.state import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    AppRegistration,
    MicrosoftState,
    RefreshToken,
    User,
)

__all__ = ["TokenEndpoint", "authority_of"]

_STAMP = "%Y-%m-%dT%H:%M:%S.0000000Z"


def authority_of(request: Request) -> str:
    """The emulator's authority host, e.g. ``https://127.0.0.1:8443/microsoft``."""
    return str(request.base_url).rstrip("/") + "/microsoft"


class TokenEndpoint:
    def __init__(self, core: SandboxCore, state: MicrosoftState, minter: TokenMinter) -> None:
        self.core = core
        self.state = state
        self.minter = minter

    async def handle(self, request: Request) -> Response:
        form = dict(
            parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        )
        ref = resolve_tenant(self.state, request.path_params["tenant"])
        grant_type = form.get("grant_type")
        if not grant_type:
            raise AadstsError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        app = self._client(request, form, ref)
        authority = authority_of(request)
        if grant_type == "authorization_code":
            body = self._code(form, app, ref, authority)
            self.core.count("microsoft", "token.code")
        elif grant_type == "refresh_token":
            body = self._refresh(form, app, ref, authority)
            self.core.count("microsoft", "token.refresh")
        elif grant_type == "client_credentials":
            body = self._client_credentials(form, app, ref, authority)
            self.core.count("microsoft", "token.client_credentials")
        else:
            raise AadstsError(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    # ---- client authentication ----------------------------------------------------------
    def _client(self, request: Request, form: dict[str, str], ref: TenantRef) -> AppRegistration:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:]).decode()
            except ValueError as exc:
                raise AadstsError(
                    "invalid_client", 7000216, "Invalid client authentication header.", status=401
                ) from exc
            basic_id, _, basic_secret = decoded.partition(":")
            client_id = client_id or basic_id
            secret = basic_secret
        app = self.state.apps.get(client_id or "")
        tenant_id = ref.tenant.id if ref.tenant else None
        if app is None or (tenant_id and not app.multi_tenant and app.tenant_id != tenant_id):
            raise AadstsError(
                "unauthorized_client",
                700016,
                f"Application with identifier "
                f"'{client_id}' was not found in the directory "
                f"'{ref.segment}'.",
            )
        has_assertion = "client_assertion" in form
        if app.public_client:
            if secret or has_assertion:
                raise AadstsError(
                    "invalid_client",
                    700025,
                    "Client is public so neither "
                    "'client_assertion' nor 'client_secret' should be presented.",
                    status=401,
                )
            return app
        if has_assertion:
            raise AadstsError(
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
                status=401,
            )
        if not secret:
            raise AadstsError(
                "invalid_client",
                7000218,
                "The request body must contain the "
                "following parameter: 'client_assertion' or 'client_secret'.",
                status=401,
            )
        if not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
            raise AadstsError(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure "
                "the secret being sent in the request is the client secret value, "
                f"not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
                status=401,
            )
        if app.secret_expired:
            raise AadstsError(
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.client_id}' are expired.",
                status=401,
            )
        return app

    # ---- grants -------------------------------------------------------------------------
    def _code(
        self, form: dict[str, str], app: AppRegistration, ref: TenantRef, authority: str
    ) -> dict[str, Any]:
        now = self.core.clock.now()
        code = self.state.codes.get(form.get("code", ""))
        if code is None or code.client_id != app.client_id:
            raise AadstsError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if code.redeemed:
            raise AadstsError(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already "
                "redeemed, please retry with a new valid code or use an existing "
                "refresh token.",
            )
        if now >= code.expires_at:
            raise AadstsError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh "
                "token has expired due to inactivity. Send a new interactive "
                "authorization request for this user and resource.",
            )
        if form.get("redirect_uri") != code.redirect_uri:
            raise AadstsError(
                "invalid_grant",
                50011,
                "The redirect URI specified in the request "
                "does not match the redirect URI used to get the code.",
            )
        if code.code_challenge is not None and not _pkce_ok(
            form.get("code_verifier"), code.code_challenge, code.code_challenge_method
        ):
            raise AadstsError(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the "
                "code_challenge supplied in the authorization request.",
            )
        code.redeemed = True
        user = self.state.users[code.user_id]
        if ref.tenant is not None and ref.tenant.id != user.tenant_id:
            raise AadstsError(
                "invalid_grant", 50020, f"User account does not exist in tenant '{ref.segment}'."
            )
        spa = code.redirect_uri in app.spa_redirect_uris
        return self._user_tokens(
            app,
            user,
            code.scopes,
            authority,
            nonce=code.nonce,
            spa=spa,
            want_info=form.get("client_info") == "1",
        )

    def _refresh(
        self, form: dict[str, str], app: AppRegistration, ref: TenantRef, authority: str
    ) -> dict[str, Any]:
        now = self.core.clock.now()
        rt = self.state.refresh_tokens.get(form.get("refresh_token", ""))
        if rt is None:
            raise AadstsError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if rt.client_id != app.client_id:
            raise AadstsError("invalid_grant", 70000, "Provided grant is invalid or malformed.")
        user = self.state.users.get(rt.user_id)
        grant = self.state.grants.get((rt.user_id, rt.client_id))
        if user is None or grant is None:
            raise AadstsError("invalid_grant", 50173, _revoked_message(rt, None))
        if now >= rt.expires_at:
            if rt.spa:
                raise AadstsError(
                    "invalid_grant",
                    700084,
                    "The refresh token was issued to a "
                    "single page app (SPA), and therefore has a fixed, limited "
                    "lifetime of 1.00:00:00, which cannot be extended. It is now "
                    "expired and a new sign in request must be sent by the SPA to "
                    "the sign in page.",
                )
            raise AadstsError(
                "invalid_grant",
                700082,
                "The refresh token has expired due to "
                f"inactivity. The token was issued on {rt.issued_at:{_STAMP}} and "
                "was inactive for 90.00:00:00.",
            )
        if (
            grant.revoked
            or rt.grant_generation != grant.generation
            or rt.user_generation != user.token_generation
        ):
            raise AadstsError("invalid_grant", 50173, _revoked_message(rt, user))
        if ref.tenant is not None and ref.tenant.id != user.tenant_id:
            raise AadstsError(
                "invalid_grant", 50020, f"User account does not exist in tenant '{ref.segment}'."
            )
        scopes = list(rt.scopes)
        if form.get("scope"):
            requested = parse_scopes(form["scope"])
            wanted = set(grant.scopes) if requested.is_default else set(requested.graph)
            if not wanted <= grant.scopes:
                raise AadstsError(
                    "invalid_grant",
                    65001,
                    "The user or administrator has not "
                    f"consented to use the application with ID '{app.client_id}' "
                    f"named '{app.display_name}'. Send an interactive authorization "
                    "request for this user and resource.",
                )
            oidc = [s for s in rt.scopes if s in ("openid", "profile", "email", "offline_access")]
            if wanted:
                scopes = sorted(wanted) + oidc
        expires = rt.expires_at if rt.spa else None
        return self._user_tokens(
            app,
            user,
            scopes,
            authority,
            nonce=None,
            spa=rt.spa,
            want_info=form.get("client_info") == "1",
            fixed_expiry=expires,
        )

    def _client_credentials(
        self, form: dict[str, str], app: AppRegistration, ref: TenantRef, authority: str
    ) -> dict[str, Any]:
        if ref.tenant is None:
            raise AadstsError(
                "invalid_request",
                9001023,
                "The grant type is not supported over "
                "the /common or /consumers endpoints. Please use the /organizations "
                "or tenant-specific endpoint.",
            )
        scope = form.get("scope", "").split()
        resource = scope[0].rsplit("/", 1)[0] if len(scope) == 1 else ""
        if (
            len(scope) != 1
            or not scope[0].endswith("/.default")
            or resource.lower() not in (GRAPH_RESOURCE, GRAPH_APP_ID)
        ):
            raise AadstsError(
                "invalid_scope",
                1002012,
                "The provided value for scope "
                f"{form.get('scope', '')} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource "
                "identifier (application ID URI).",
            )
        issued = self.minter.access_token(
            authority=authority,
            now=self.core.clock.now(),
            app=app,
            tenant_id=ref.tenant.id,
            user=None,
            scopes=list(app.application_permissions),
        )
        return {
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.token,
        }

    def _user_tokens(
        self,
        app: AppRegistration,
        user: User,
        scopes: list[str],
        authority: str,
        *,
        nonce: str | None,
        spa: bool,
        want_info: bool,
        fixed_expiry: Any = None,
    ) -> dict[str, Any]:
        now = self.core.clock.now()
        graph = [s for s in scopes if s not in ("openid", "profile", "email", "offline_access")]
        issued = self.minter.access_token(
            authority=authority, now=now, app=app, tenant_id=user.tenant_id, user=user, scopes=graph
        )
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(
                [f"{GRAPH_RESOURCE}/{s}" for s in graph] + [s for s in scopes if s not in graph]
            ),
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.token,
        }
        if "offline_access" in scopes:
            grant = self.state.grants[(user.id, app.client_id)]
            token = "0.A" + self.state.token_marker + secrets.token_urlsafe(96)
            self.state.refresh_tokens[token] = RefreshToken(
                token=token,
                client_id=app.client_id,
                user_id=user.id,
                scopes=list(scopes),
                issued_at=now,
                expires_at=fixed_expiry or now + self.minter.refresh_lifetime(spa),
                user_generation=user.token_generation,
                grant_generation=grant.generation,
                spa=spa,
            )
            body["refresh_token"] = token
            if spa:
                body["refresh_token_expires_in"] = int(
                    (self.state.refresh_tokens[token].expires_at - now).total_seconds()
                )
        if "openid" in scopes:
            body["id_token"] = self.minter.id_token(
                authority=authority, now=now, app=app, user=user, nonce=nonce
            )
        if want_info:
            body["client_info"] = client_info(user)
        return body


def _pkce_ok(verifier: str | None, challenge: str, method: str) -> bool:
    if not verifier:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)


def _revoked_message(rt: RefreshToken, user: User | None) -> str:
    valid_from = user.tokens_valid_after if user and user.tokens_valid_after else rt.issued_at
    return (
        "The provided grant has expired due to it being revoked, a fresh auth token is "
        "needed. The user might have changed or reset their password. The grant was issued "
        f"on '{rt.issued_at:{_STAMP}}' and the TokensValidFrom date (before which tokens are "
        f"not valid) for this user is '{valid_from:{_STAMP}}'."
    )
