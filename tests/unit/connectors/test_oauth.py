"""OAuth pieces: PKCE S256, authorization URLs, and token-endpoint errors translated the way
the providers mean them (provider-protocols §1.5, §4.2)."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from calgate.connectors.errors import ClientRejected, ConnectorError, InvalidGrant, Unavailable
from calgate.connectors.google import GoogleConnector
from calgate.connectors.google.config import GoogleConfig
from calgate.connectors.microsoft import MicrosoftConnector
from calgate.connectors.microsoft.config import MicrosoftConfig
from calgate.connectors.oauth import new_pkce_pair, token_error

from support.canary import canary


def test_pkce_pairs_are_s256_and_fresh() -> None:
    verifier, challenge = new_pkce_pair()
    raw = verifier.reveal()
    assert 43 <= len(raw) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()
    assert new_pkce_pair()[1] != challenge
    assert raw not in repr(verifier)


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_authorization_urls_carry_state_challenge_and_the_exact_redirect() -> None:
    http = httpx.AsyncClient()
    google = GoogleConnector(
        GoogleConfig(client_id="g", client_secret=SecretStr(canary())), http=http
    )
    ms = MicrosoftConnector(
        MicrosoftConfig(client_id="m", client_secret=SecretStr(canary()), tenant="contoso.example"),
        http=http,
    )
    for connector in (google, ms):
        url = connector.authorization_url(
            state="st", code_challenge="ch", redirect_uri="https://cg.example/v1/oauth/callback",
            scopes=["a", "b"], login_hint="x@example.com",
        )  # fmt: skip
        q = _query(url)
        assert q["state"] == ["st"]
        assert (q["code_challenge"], q["code_challenge_method"]) == (["ch"], ["S256"])
        assert q["redirect_uri"] == ["https://cg.example/v1/oauth/callback"]
        assert q["response_type"] == ["code"]
        assert q["login_hint"] == ["x@example.com"]
        assert "client_secret" not in url
    assert _query(
        google.authorization_url(state="s", code_challenge="c", redirect_uri="r", scopes=[])
    )["access_type"] == ["offline"]
    assert urlsplit(
        ms.authorization_url(state="s", code_challenge="c", redirect_uri="r", scopes=[])
    ).path == ("/contoso.example/oauth2/v2.0/authorize")


def _response(status: int, body: dict) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": "invalid_grant", "error_codes": [50173]}, InvalidGrant),
        (400, {"error": "invalid_grant", "error_codes": [700082]}, InvalidGrant),
        (400, {"error": "interaction_required", "error_codes": [50076]}, InvalidGrant),
        (
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            InvalidGrant,
        ),
        (401, {"error": "invalid_client", "error_codes": [7000215]}, ClientRejected),
        (400, {"error": "unauthorized_client", "error_codes": [700016]}, ClientRejected),
        (400, {"error": "temporarily_unavailable"}, Unavailable),
        (503, {}, Unavailable),
        (400, {"error": "invalid_request"}, ConnectorError),
    ],
)
def test_token_endpoint_errors_are_translated(status, body, kind) -> None:
    err = token_error(_response(status, body), body, provider="x")
    assert type(err) is kind
    if isinstance(err, InvalidGrant) and "error_codes" in body:
        assert f"AADSTS{body['error_codes'][0]}" in err.reason
