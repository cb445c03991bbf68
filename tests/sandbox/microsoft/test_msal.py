"""The official client, unchanged but for its configuration: ``msal`` against the emulator over
real HTTPS (a self-signed certificate its ``requests`` session verifies as its CA bundle;
instance discovery off, because the sandbox is not a Microsoft cloud host)."""

from __future__ import annotations

import contextlib
import re
import ssl
from pathlib import Path

import httpx
import msal
import requests

from calgate.sandbox.app import create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft import MicrosoftEmulator

from support.canary import canary
from support.servers import serve_in_thread
from support.tls import self_signed_cert

REDIRECT = "http://localhost:8765/callback"
SCOPES = ["Calendars.Read"]


def test_msal_auth_code_refresh_and_client_credentials(tmp_path: Path) -> None:
    """provider-protocols §1.2–1.5, §1.7: msal's ConfidentialClientApplication runs the auth
    code + PKCE flow, refreshes (acquire_token_by_refresh_token, rotated refresh token) and gets
    an app-only token (acquire_token_for_client) that reads a room mailbox through Graph; after
    an admin revocation msal surfaces invalid_grant / AADSTS50173."""
    core = SandboxCore()  # real time: msal checks expiries against the wall clock
    cert = self_signed_cert(tmp_path)
    app = create_sandbox_app([MicrosoftEmulator(core)], core=core)
    secret = canary("msal-client-secret")
    with (
        serve_in_thread(app, certfile=cert.certfile, keyfile=cert.keyfile) as base,
        contextlib.ExitStack() as stack,
        httpx.Client(
            base_url=base, verify=ssl.create_default_context(cafile=cert.certfile)
        ) as http,
    ):
        described = http.get("/_sandbox/describe").json()["microsoft"]
        tenant = described["tenants"][0]["id"]
        r = http.post(
            "/_sandbox/microsoft/apps",
            json={
                "display_name": "msal test",
                "client_secret": secret,
                "redirect_uris": [REDIRECT],
                "application_permissions": ["Calendars.Read"],
            },
        )
        assert r.status_code == 201, r.text
        client_id = r.json()["client_id"]
        session = stack.enter_context(requests.Session())
        session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment wins
        session.verify = cert.certfile
        cca = msal.ConfidentialClientApplication(
            client_id,
            client_credential=secret,
            authority=f"{base}/microsoft/{tenant}",
            instance_discovery=False,
            http_client=session,
        )

        flow = cca.initiate_auth_code_flow(
            SCOPES,
            redirect_uri=REDIRECT,
            login_hint="alice@contoso.example",
            response_mode="form_post",
        )
        page = http.get(flow["auth_uri"].removeprefix(base))
        assert page.status_code == 200, page.text
        auth_response = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        assert set(auth_response) == {"code", "state"}
        first = cca.acquire_token_by_auth_code_flow(flow, auth_response)
        assert "access_token" in first, first.get("error_description")
        assert first["id_token_claims"]["preferred_username"] == "alice@contoso.example"
        assert 3600 <= first["expires_in"] <= 5400

        refreshed = cca.acquire_token_by_refresh_token(first["refresh_token"], scopes=SCOPES)
        assert "access_token" in refreshed, refreshed.get("error_description")
        assert refreshed["refresh_token"] != first["refresh_token"]
        me = http.get(
            "/microsoft/graph/v1.0/me/calendarView",
            params={"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
            headers={"Authorization": f"Bearer {refreshed['access_token']}"},
        )
        assert me.status_code == 200, me.text

        app_token = cca.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
        assert "access_token" in app_token, app_token.get("error_description")
        room = http.get(
            "/microsoft/graph/v1.0/users/room101@contoso.example/events",
            headers={"Authorization": f"Bearer {app_token['access_token']}"},
        )
        assert room.status_code == 200, room.text
        assert room.json()["value"], "the default seed books the room"

        http.post("/_sandbox/microsoft/users/alice@contoso.example/revoke", json={})
        revoked = cca.acquire_token_by_refresh_token(refreshed["refresh_token"], scopes=SCOPES)
        assert revoked.get("error") == "invalid_grant"
        assert revoked.get("error_codes") == [50173]
        counts = http.get("/_sandbox/counters", params={"provider": "microsoft"}).json()
    assert counts["token.code"] == 1
    assert counts["token.refresh"] == 1  # the revoked attempt is counted as an error
    assert counts["token.client_credentials"] == 1
    assert counts["token.error.50173"] == 1
