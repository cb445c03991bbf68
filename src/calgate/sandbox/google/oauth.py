"""Google OAuth 2.0 endpoints (provider-protocols §4.1–§4.4): authorization (auto-consent for
seeded users, a small consent page otherwise), token (authorization_code + PKCE,
refresh_token, JWT bearer), revoke and tokeninfo."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from html import escape
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from calgate.sandbox.google.context import GoogleContext, ctx
from calgate.sandbox.google.errors import OAuthError
from calgate.sandbox.google.scopes import ALIASES, KNOWN_SCOPES
from calgate.sandbox.google.state import AuthCode, OAuthClient
from calgate.sandbox.google.tokens import JWT_BEARER, Issued, TokenService

__all__ = ["router"]

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error_page(status: int, error: str, detail: str) -> HTMLResponse:
    html = (
        "<!doctype html><title>Authorization Error</title>"
        f"<h1>Access blocked: authorization error</h1><p>Error {status}: {escape(error)}</p>"
        f"<p>{escape(detail)}</p>"
    )
    return HTMLResponse(html, status_code=status)


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + sep + urlencode(params), status_code=302)


def _consent_page(request: Request, context: GoogleContext, scopes: list[str]) -> HTMLResponse:
    base = dict(request.query_params)
    rows = []
    for user in context.state.users.values():
        url = str(request.url.include_query_params(**{**base, "login_hint": user.email}))
        rows.append(
            f'<li><a href="{escape(url)}">{escape(user.display_name)} '
            f"&lt;{escape(user.email)}&gt;</a></li>"
        )
    deny = str(request.url.include_query_params(**{**base, "sandbox_consent": "deny"}))
    html = (
        "<!doctype html><title>Sign in – Google sandbox</title>"
        "<h1>Choose an account</h1><p>calgate sandbox: no password, pick a seeded user to "
        "grant access.</p>"
        f"<p>Requested scopes:</p><ul>{''.join(f'<li>{escape(s)}</li>' for s in scopes)}</ul>"
        f"<ul>{''.join(rows)}</ul>"
        f'<p><a id="deny" href="{escape(deny)}">Cancel (deny access)</a></p>'
    )
    return HTMLResponse(html)


@router.get("/o/oauth2/v2/auth", response_model=None)
@router.get("/o/oauth2/auth", response_model=None, include_in_schema=False)
async def authorize(request: Request) -> Response:
    """Authorization endpoint. ``login_hint`` picks a seeded user and consents at once;
    ``sandbox_consent=deny`` (or a user set to deny) answers ``error=access_denied``."""
    context = ctx(request)
    q = request.query_params
    client = context.state.clients.get(q.get("client_id", ""))
    if client is None:
        return _error_page(401, "invalid_client", "The OAuth client was not found.")
    redirect_uri = q.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return _error_page(
            400,
            "redirect_uri_mismatch",
            "The redirect URI in the request does not match the ones authorized for the "
            "OAuth client.",
        )
    state = {"state": q["state"]} if "state" in q else {}
    if q.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **state})
    requested = [ALIASES.get(s, s) for s in q.get("scope", "").split()]
    if not requested:
        return _error_page(400, "invalid_request", "Missing required parameter: scope")
    unknown = [s for s in requested if s not in KNOWN_SCOPES]
    if unknown:
        return _error_page(400, "invalid_scope", f"Some requested scopes were invalid: {unknown}")
    method = q.get("code_challenge_method", "plain" if "code_challenge" in q else "")
    if method and method not in ("S256", "plain"):
        return _error_page(400, "invalid_request", "Invalid code_challenge_method.")
    user = context.state.users.get(q.get("login_hint", "").lower())
    if q.get("sandbox_consent") == "deny" or (user is not None and user.consent == "deny"):
        context.count("authorize.denied")
        return _redirect(redirect_uri, {"error": "access_denied", **state})
    if user is None:
        return _consent_page(request, context, requested)
    scopes = frozenset(requested)
    if q.get("include_granted_scopes") == "true":
        scopes |= TokenService(context).granted_scopes(client.client_id, user.email)
    code = AuthCode(
        code=context.state.new_token("4/0A"),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        user_email=user.email,
        scopes=scopes,
        created_at=context.now(),
        offline=q.get("access_type") == "offline",
        force_consent="consent" in q.get("prompt", "").split(),
        code_challenge=q.get("code_challenge"),
        code_challenge_method=method or "plain",
    )
    context.state.codes[code.code] = code
    context.count("authorize")
    return _redirect(
        redirect_uri,
        {
            "code": code.code,
            "scope": " ".join(sorted(scopes)),
            **state,
            "authuser": "0",
            "prompt": "consent",
        },
    )


async def _form(request: Request) -> dict[str, str]:
    """The ``application/x-www-form-urlencoded`` body OAuth endpoints take."""
    try:
        text = (await request.body()).decode()
    except UnicodeDecodeError as exc:
        raise OAuthError(400, "invalid_request", "Malformed request body.") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def _client(context: GoogleContext, request: Request, form: dict[str, str]) -> OAuthClient:
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError(401, "invalid_client", "Unauthorized") from exc
    client = context.state.clients.get(client_id)
    if client is None:
        raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
    if not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
        raise OAuthError(401, "invalid_client", "Unauthorized")
    return client


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        return
    if not verifier:
        raise OAuthError(400, "invalid_grant", "Missing code verifier.")
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    if not hmac.compare_digest(expected.encode(), code.code_challenge.encode()):
        raise OAuthError(400, "invalid_grant", "Invalid code verifier.")


def _exchange_code(
    context: GoogleContext, client: OAuthClient, form: dict[str, str]
) -> dict[str, object]:
    code = context.state.codes.get(form.get("code", ""))
    if code is None or code.client_id != client.client_id:
        raise OAuthError(400, "invalid_grant", "Malformed auth code.")
    if code.used or context.now() - code.created_at > context.settings.code_ttl:
        raise OAuthError(400, "invalid_grant", "Bad Request")
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
    _check_pkce(code, form.get("code_verifier"))
    code.used = True
    tokens = TokenService(context)
    refresh = None
    if code.offline and (
        code.force_consent or not tokens.has_live_grant(client.client_id, code.user_email)
    ):
        refresh = tokens.refresh_token(client, code.user_email, code.scopes)
    access = tokens.access_token(
        client_id=client.client_id, user_email=code.user_email, scopes=code.scopes, grant=refresh
    )
    if refresh is None:  # a grant already exists: tie the token to it for revocation
        live = [
            g
            for g in context.state.grants.values()
            if g.client_id == client.client_id
            and g.user_email == code.user_email
            and tokens.alive(g)
        ]
        access.grant_id = live[-1].id if live else None
    return Issued(access, refresh).response(context)


@router.post("/token")
@router.post("/oauth2/v4/token", include_in_schema=False)
async def token(request: Request) -> JSONResponse:
    context = ctx(request)
    form = await _form(request)
    grant_type = form.get("grant_type", "")
    tokens = TokenService(context)
    if grant_type == JWT_BEARER:
        context.count("token.jwt_bearer")
        body = tokens.jwt_bearer(form.get("assertion", ""), str(request.url.replace(query="")))
        return JSONResponse(body, headers=NO_STORE)
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    client = _client(context, request, form)
    if grant_type == "authorization_code":
        context.count("token.code")
        body = _exchange_code(context, client, form)
    else:
        context.count("token.refresh")
        if not form.get("refresh_token"):
            raise OAuthError(400, "invalid_request", "Missing required parameter: refresh_token")
        body = tokens.refresh(client, form["refresh_token"], form.get("scope"))
    return JSONResponse(body, headers=NO_STORE)


@router.post("/revoke", response_model=None)
@router.post("/o/oauth2/revoke", response_model=None, include_in_schema=False)
async def revoke(request: Request) -> Response:
    """``POST /revoke`` with ``token=`` in the form body or the query (§4.2)."""
    context = ctx(request)
    context.count("revoke")
    form = await _form(request)
    value = form.get("token") or request.query_params.get("token") or ""
    if not value or not TokenService(context).revoke(value):
        return JSONResponse(
            {"error": "invalid_token", "error_description": "Token expired or revoked"},
            status_code=400,
        )
    return JSONResponse({}, status_code=200)


@router.get("/tokeninfo")
async def tokeninfo(request: Request, access_token: str | None = None) -> JSONResponse:
    """Debug endpoint: what an access token grants (never echoes the token)."""
    context = ctx(request)
    access = TokenService(context).bearer(access_token or "")
    if access is None:
        return JSONResponse(
            {"error": "invalid_token", "error_description": "Invalid Value"}, status_code=400
        )
    seconds = int((access.expires_at - context.now()).total_seconds())
    body: dict[str, object] = {
        "azp": access.client_id,
        "aud": access.client_id,
        "scope": " ".join(sorted(access.scopes)),
        "exp": str(int(access.expires_at.timestamp())),
        "expires_in": str(seconds),
        "access_type": "offline" if access.grant_id else "online",
    }
    if access.user_email:
        body["email"] = access.user_email
        body["email_verified"] = "true"
    return JSONResponse(body)


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), for docs and tests."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()
