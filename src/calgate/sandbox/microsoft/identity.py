"""Entra ID v2.0 endpoints under ``/microsoft/{tenant}/…`` (provider-protocols §1.1–1.2):
OpenID discovery, JWKS, ``/oauth2/v2.0/authorize`` (auto-consent for seeded users picked by
``login_hint`` or on an account-picker page) and ``/adminconsent``. The token endpoint is in
:mod:`calgate.sandbox.microsoft.grants`."""

from __future__ import annotations

import html
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft.aadsts import AadstsError
from calgate.sandbox.microsoft.grants import TokenEndpoint, authority_of
from calgate.sandbox.microsoft.scopes import parse_scopes, resolve_tenant
from calgate.sandbox.microsoft.state import AuthCode, Grant, MicrosoftState, User
from calgate.sandbox.microsoft.tokens import TokenSigner

__all__ = ["identity_routes"]

CODE_LIFETIME = timedelta(minutes=10)


def identity_routes(
    core: SandboxCore, state: MicrosoftState, signer: TokenSigner, tokens: TokenEndpoint
) -> list[Route]:
    def error_json(exc: AadstsError, request: Request) -> JSONResponse:
        corr = request.headers.get("client-request-id")
        return JSONResponse(exc.body(core.clock.now(), corr), status_code=exc.status)

    async def discovery(request: Request) -> Response:
        segment = request.path_params["tenant"]
        try:
            ref = resolve_tenant(state, segment)
        except AadstsError as exc:
            body = exc.body(core.clock.now())
            body["error"] = "invalid_tenant"
            return JSONResponse(body, status_code=400)
        authority = authority_of(request)
        tid = ref.tenant.id if ref.tenant else "{tenantid}"
        base = f"{authority}/{segment}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                    "private_key_jwt",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{authority}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{authority}/graph/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "ver",
                    "at_hash",
                    "c_hash",
                    "email",
                ],
                "kerberos_endpoint": f"{base}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(signer.jwks())

    async def authorize(request: Request) -> Response:
        core.count("microsoft", "authorize")
        q = request.query_params
        try:
            ref = resolve_tenant(state, request.path_params["tenant"])
        except AadstsError as exc:
            return _error_page(exc)
        app = state.apps.get(q.get("client_id", ""))
        if app is None:
            return _error_page(
                AadstsError(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{q.get('client_id')}' "
                    "was not found in the directory.",
                )
            )
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris + app.spa_redirect_uris:
            return _error_page(
                AadstsError(
                    "invalid_request",
                    50011,
                    f"The redirect URI '{redirect_uri}' specified in the "
                    "request does not match the redirect URIs configured "
                    f"for the application '{app.client_id}'.",
                )
            )
        mode = q.get("response_mode", "query")
        state_param = q.get("state")

        def fail(error: str, description: str) -> Response:
            return _redirect(
                redirect_uri,
                mode,
                {"error": error, "error_description": description, "state": state_param},
            )

        if q.get("response_type") != "code":
            return fail(
                "unsupported_response_type",
                "AADSTS700054: response_type 'code' is required by this emulator.",
            )
        method = q.get("code_challenge_method") or "plain"
        if method not in ("S256", "plain"):
            return fail("invalid_request", "AADSTS501491: Invalid code_challenge_method.")
        try:
            scopes = parse_scopes(q.get("scope", ""))
        except AadstsError as exc:
            return fail(exc.error, f"AADSTS{exc.code}: {exc.message}")
        if not scopes.graph and not scopes.oidc:
            return fail(
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'scope'.",
            )
        user = _pick_user(state, q.get("login_hint"), ref.tenant.id if ref.tenant else None)
        if user is None:
            if q.get("prompt") == "none":
                return fail(
                    "login_required",
                    "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
                )
            return _account_picker(request, state, ref.tenant.id if ref.tenant else None)
        if user.consent == "deny":
            core.count("microsoft", "authorize.denied")
            return fail("access_denied", "AADSTS65004: User declined to consent to access the app.")
        granted = list(app.delegated_permissions) if scopes.is_default else list(scopes.graph)
        grant = state.grants.get((user.id, app.client_id))
        if grant is None:
            grant = state.grants[(user.id, app.client_id)] = Grant(user.id, app.client_id, set())
        grant.scopes |= set(granted)
        grant.revoked = False
        code = AuthCode(
            code=secrets.token_urlsafe(48),
            client_id=app.client_id,
            user_id=user.id,
            scopes=granted + sorted(scopes.oidc),
            redirect_uri=redirect_uri,
            code_challenge=q.get("code_challenge"),
            code_challenge_method=method,
            nonce=q.get("nonce"),
            expires_at=core.clock.now() + CODE_LIFETIME,
        )
        state.codes[code.code] = code
        return _redirect(redirect_uri, mode, {"code": code.code, "state": state_param})

    async def admin_consent(request: Request) -> Response:
        q = request.query_params
        app = state.apps.get(q.get("client_id", ""))
        redirect_uri = q.get("redirect_uri", "")
        if app is None or redirect_uri not in app.redirect_uris:
            return _error_page(
                AadstsError("invalid_request", 700016, "Unknown application or redirect URI.")
            )
        try:
            ref = resolve_tenant(state, request.path_params["tenant"])
        except AadstsError as exc:
            return _redirect(
                redirect_uri,
                "query",
                {"error": "invalid_request", "error_description": exc.message},
            )
        tenant_id = ref.tenant.id if ref.tenant else app.tenant_id
        return _redirect(
            redirect_uri,
            "query",
            {"tenant": tenant_id, "state": q.get("state"), "admin_consent": "True"},
        )

    async def token(request: Request) -> Response:
        try:
            return await tokens.handle(request)
        except AadstsError as exc:
            core.count("microsoft", f"token.error.{exc.code}")
            return error_json(exc, request)

    return [
        Route("/v2.0/.well-known/openid-configuration", discovery),
        Route("/discovery/v2.0/keys", jwks),
        Route("/discovery/keys", jwks),
        Route("/oauth2/v2.0/authorize", authorize),
        Route("/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/adminconsent", admin_consent),
        Route("/v2.0/adminconsent", admin_consent),
    ]


def _pick_user(state: MicrosoftState, hint: str | None, tenant_id: str | None) -> User | None:
    if not hint:
        return None
    user = state.user(hint)
    if user is None or user.is_room or (tenant_id is not None and user.tenant_id != tenant_id):
        return None
    return user


def _redirect(uri: str, mode: str, params: dict[str, Any]) -> Response:
    params = {k: v for k, v in params.items() if v is not None}
    if mode == "form_post":
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
            for k, v in params.items()
        )
        page = (
            f'<html><body onload="document.forms[0].submit()"><form method="post" '
            f'action="{html.escape(uri)}">{fields}</form></body></html>'
        )
        return HTMLResponse(page)
    sep = "#" if mode == "fragment" else ("&" if "?" in uri else "?")
    return RedirectResponse(f"{uri}{sep}{urlencode(params)}", status_code=302)


def _error_page(exc: AadstsError) -> Response:
    text = html.escape(f"AADSTS{exc.code}: {exc.message}")
    page = (
        "<html><body><h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p>"
        f"<p>{text}</p></body></html>"
    )
    return HTMLResponse(page, status_code=400)


def _account_picker(request: Request, state: MicrosoftState, tenant_id: str | None) -> Response:
    rows = []
    for user in state.users.values():
        if user.is_room or (tenant_id is not None and user.tenant_id != tenant_id):
            continue
        url = request.url.include_query_params(login_hint=user.upn)
        rows.append(
            f'<li><a href="{html.escape(str(url))}">{html.escape(user.display_name)} '
            f"({html.escape(user.upn)})</a></li>"
        )
    page = (
        "<html><head><title>Sign in to your account</title></head><body>"
        f"<h1>Pick an account</h1><ul>{''.join(rows)}</ul>"
        "<p>calgate sandbox: signing in grants consent to the requested scopes.</p>"
        "</body></html>"
    )
    return HTMLResponse(page)
