"""OAuth 2.0 client pieces shared by the Google and Microsoft connectors, built on Authlib's
protocol helpers (authorization URI, token request bodies, PKCE S256) with our own injected
`httpx.AsyncClient` for transport.

Token endpoint errors are translated here (RFC 6749 §5.2, provider-protocols §1.5 and §4.2):
``invalid_grant`` and the interaction-required family mean the grant is dead
(`InvalidGrant`); ``invalid_client``/``unauthorized_client`` mean calgate's app registration
is refused (`ClientRejected`); 429/5xx are transient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from calgate.connectors.base import TokenGrant
from calgate.connectors.errors import (
    ClientRejected,
    ConnectorError,
    InvalidGrant,
    RateLimited,
    Unavailable,
)
from calgate.connectors.http import retry_after, send
from calgate.vault.base import Secret

__all__ = [
    "authorization_uri",
    "code_challenge",
    "new_pkce_pair",
    "parse_token_response",
    "token_request",
]

# Errors after which only the user can fix the grant (sign in / consent again).
_DEAD_GRANT = frozenset({"invalid_grant", "interaction_required", "consent_required"})
_BAD_CLIENT = frozenset({"invalid_client", "unauthorized_client", "redirect_uri_mismatch"})
_TRANSIENT = frozenset({"temporarily_unavailable", "server_error", "internal_failure"})


def new_pkce_pair() -> tuple[Secret, str]:
    """A fresh PKCE verifier (RFC 7636: 43–128 unreserved characters; here 64 random
    alphanumerics, ~380 bits) and its S256 challenge."""
    verifier = Secret(generate_token(64))
    return verifier, code_challenge(verifier)


def code_challenge(verifier: Secret) -> str:
    """The S256 challenge of a PKCE verifier."""
    return str(create_s256_code_challenge(verifier.reveal()))


def authorization_uri(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str],
    state: str,
    code_challenge: str,
    extra: Mapping[str, str] | None = None,
) -> str:
    return str(
        prepare_grant_uri(
            endpoint,
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(scopes),
            state=state,
            code_challenge=code_challenge,
            code_challenge_method="S256",
            **dict(extra or {}),
        )
    )


async def token_request(
    http: httpx.AsyncClient,
    url: str,
    *,
    provider: str,
    grant_type: str,
    client_id: str,
    client_secret: Secret,
    **params: str,
) -> dict[str, Any]:
    """POST a form to the token endpoint (client_secret_post) and return its JSON, or raise
    the translated error."""
    body = prepare_token_request(
        grant_type,
        client_id=client_id,
        client_secret=client_secret.reveal(),
        **{k: v for k, v in params.items() if v},
    )
    request = http.build_request(
        "POST",
        url,
        content=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    response = await send(http, request, provider=provider)
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200 and isinstance(data, dict) and data.get("access_token"):
        return data
    raise token_error(response, data, provider=provider)


def token_error(response: httpx.Response, data: Any, *, provider: str) -> ConnectorError:
    status = response.status_code
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    codes: tuple[int, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("error_codes"), list):
        codes = tuple(int(c) for c in data["error_codes"] if isinstance(c, int))
    label = f"AADSTS{codes[0]}" if codes else error or f"HTTP {status}"
    if error in _DEAD_GRANT:
        return InvalidGrant(
            f"{provider} refused the grant ({label})", provider=provider, error=error, codes=codes
        )
    if error in _BAD_CLIENT:
        return ClientRejected(
            f"{provider} refused calgate's app registration ({label}): check the client id, "
            "secret and redirect URI",
            provider=provider,
        )
    if status == 429:
        return RateLimited(
            f"{provider} token endpoint is throttling calgate",
            provider=provider,
            retry_after=retry_after(response),
        )
    if status >= 500 or error in _TRANSIENT:
        return Unavailable(f"{provider} token endpoint is unavailable ({label})", provider=provider)
    return ConnectorError(f"{provider} token endpoint answered {label}", provider=provider)


def parse_token_response(
    data: Mapping[str, Any], *, normalise_scope: Callable[[str], str] = lambda s: s
) -> TokenGrant:
    """A token response (RFC 6749 §5.1) as a `TokenGrant`; the provider's own lifetimes are
    kept (R5)."""
    try:
        expires_in = int(data.get("expires_in", 3600))
    except (TypeError, ValueError):
        expires_in = 3600
    refresh_expires: int | None = None
    raw_refresh_expires = data.get("refresh_token_expires_in")
    if raw_refresh_expires is not None:
        try:
            refresh_expires = int(raw_refresh_expires)
        except (TypeError, ValueError):
            refresh_expires = None
    scope = str(data.get("scope") or "")
    return TokenGrant(
        access_token=Secret(str(data["access_token"])),
        expires_in=max(0, expires_in),
        scopes=frozenset(normalise_scope(s) for s in scope.split() if s),
        refresh_token=Secret(str(data["refresh_token"])) if data.get("refresh_token") else None,
        refresh_expires_in=refresh_expires,
        id_token=Secret(str(data["id_token"])) if data.get("id_token") else None,
    )
