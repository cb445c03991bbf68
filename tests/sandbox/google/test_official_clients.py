"""Official Google client libraries against the emulator over real HTTP, unchanged but for
base URLs (provider-protocols §4.5, §5.5): google-api-python-client built from the served
discovery document, google-auth user and service-account credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google.auth.transport.requests
import httpx
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError

from calgate.sandbox.app import create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.google import GoogleEmulator

from .conftest import CALENDAR, CALENDAR_READONLY, REDIRECT
from support.canary import MARKER, canary
from support.servers import serve_in_thread
from support.webhooks import Receiver

EVENT = {
    "summary": "Standup",
    "start": {"dateTime": "2026-11-24T09:00:00+01:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2026-11-24T09:15:00+01:00", "timeZone": "Europe/Berlin"},
}


@dataclass
class Live:
    base: str
    hooks: str
    http: httpx.Client
    receiver: Receiver
    client_id: str
    client_secret: str
    tokens: dict[str, Any]
    closers: list[Any] = field(default_factory=list)

    def credentials(self, token: str | None = None) -> user_credentials.Credentials:
        return user_credentials.Credentials(
            token=token,
            refresh_token=self.tokens["refresh_token"],
            token_uri=f"{self.base}/google/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=[CALENDAR],
        )

    def service(self, creds: Any) -> Any:
        doc = self.http.get("/google/discovery/v1/apis/calendar/v3/rest").json()
        service = build_from_document(doc, credentials=creds)
        self.closers.append(service)
        return service

    def transport(self) -> google.auth.transport.requests.Request:
        session = requests.Session()
        self.closers.append(session)
        return google.auth.transport.requests.Request(session=session)


@pytest.fixture
def live() -> Iterator[Live]:
    """The sandbox and a webhook receiver, each served by uvicorn on a loopback port; the
    sandbox clock runs in real time (google-auth signs JWTs with the real clock)."""
    core = SandboxCore()
    app = create_sandbox_app([GoogleEmulator(core, seed=False, token_marker=MARKER)], core=core)
    receiver = Receiver()
    # httpcore logs raw response headers at DEBUG, the authorization redirect (with its
    # code) among them: that is this test's client talking, not the emulator.
    wire_log = logging.getLogger("httpcore")
    previous = wire_log.level
    wire_log.setLevel(logging.INFO)
    with (
        serve_in_thread(receiver.app) as hooks,
        serve_in_thread(app) as base,
        httpx.Client(base_url=base) as http,
    ):
        http.post("/_sandbox/google/users", json={"email": "alice@example.com"})
        secret = canary("client-secret")
        client = http.post(
            "/_sandbox/google/clients",
            json={"redirect_uris": [REDIRECT], "client_secret": secret},
        ).json()
        r = http.get(
            "/google/o/oauth2/v2/auth",
            params={
                "client_id": client["client_id"],
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "scope": CALENDAR,
                "access_type": "offline",
                "login_hint": "alice@example.com",
            },
        )
        code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
        tokens = http.post(
            "/google/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client["client_id"],
                "client_secret": secret,
                "redirect_uri": REDIRECT,
            },
        ).json()
        world = Live(base, hooks, http, receiver, client["client_id"], secret, tokens)
        try:
            yield world
        finally:
            for resource in world.closers:
                resource.close()
            wire_log.setLevel(previous)


def test_discovery_client_lists_with_sync_token_P2(live: Live) -> None:
    """provider-protocols §5.1 and §5.5: service.events().list pages with list_next, ends
    with nextSyncToken, and an incremental list after a change returns just that change;
    an invalidated token raises HttpError 410."""
    service = live.service(live.credentials(live.tokens["access_token"]))
    events = service.events()
    for n in range(3):
        events.insert(calendarId="primary", body={**EVENT, "summary": f"e{n}"}).execute()
    request = events.list(calendarId="primary", maxResults=2)
    seen, page = [], None
    while request is not None:
        page = request.execute()
        seen += [i["summary"] for i in page["items"]]
        request = events.list_next(request, page)
    assert sorted(seen) == ["e0", "e1", "e2"]
    assert page is not None
    assert "nextSyncToken" in page

    live.http.post(
        "/_sandbox/google/calendars/alice@example.com/events", json={**EVENT, "summary": "new"}
    )
    delta = events.list(calendarId="primary", syncToken=page["nextSyncToken"]).execute()
    assert [i["summary"] for i in delta["items"]] == ["new"]

    live.http.post("/_sandbox/google/calendars/alice@example.com/invalidate-sync-tokens")
    with pytest.raises(HttpError) as caught:
        events.list(calendarId="primary", syncToken=delta["nextSyncToken"]).execute()
    assert caught.value.resp.status == 410


def test_discovery_client_creates_and_stops_a_watch_channel_R9(live: Live) -> None:
    """provider-protocols §5.3: events().watch → `sync` over real HTTP, then `exists` after a
    change; channels().stop → 204."""
    service = live.service(live.credentials(live.tokens["access_token"]))
    body = {"id": "live-1", "type": "web_hook", "address": f"{live.hooks}/hook", "token": "t-1"}
    channel = service.events().watch(calendarId="primary", body=body).execute()
    assert channel["resourceId"]
    assert channel["expiration"]
    sync = live.receiver.wait_for(1)[0]
    assert (sync.path, sync.headers["x-goog-resource-state"]) == ("/hook", "sync")
    live.http.post("/_sandbox/google/calendars/alice@example.com/events", json=EVENT)
    exists = live.receiver.wait_for(2)[1]
    assert exists.headers["x-goog-resource-state"] == "exists"
    assert exists.headers["x-goog-message-number"] == "2"
    assert exists.headers["x-goog-channel-token"] == "t-1"
    service.channels().stop(body={"id": "live-1", "resourceId": channel["resourceId"]}).execute()
    assert live.http.get("/_sandbox/google/channels").json() == []


def test_google_auth_credentials_refresh_against_the_emulator_R10(live: Live) -> None:
    """provider-protocols §4.2: google-auth refreshes with token_uri pointing at the sandbox
    (and keeps the refresh token, none being returned); after revocation RefreshError."""
    creds = live.credentials()
    creds.refresh(live.transport())
    assert creds.valid
    assert creds.token
    assert creds.refresh_token == live.tokens["refresh_token"]
    calendars = live.service(creds).calendarList().list().execute()
    assert calendars["items"][0]["id"] == "alice@example.com"

    live.http.post("/_sandbox/google/users/alice@example.com/revoke", json={})
    with pytest.raises(RefreshError) as caught:
        live.credentials().refresh(live.transport())
    assert "invalid_grant" in str(caught.value)


def test_service_account_credentials_with_subject_Z3(live: Live) -> None:
    """provider-protocols §4.4: service_account.Credentials(...).with_subject(user) signs a
    JWT the emulator verifies; the token reads the impersonated user's calendar."""
    email = "rooms@calgate-test.iam.gserviceaccount.com"
    r = live.http.post("/_sandbox/google/service-accounts", json={"email": email})
    assert r.status_code == 201
    info = live.http.get(f"/_sandbox/google/service-accounts/{email}/key").json()
    assert info["token_uri"] == f"{live.base}/google/token"
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=[CALENDAR_READONLY]
    ).with_subject("alice@example.com")
    creds.refresh(live.transport())
    listed = live.service(creds).events().list(calendarId="primary").execute()
    assert listed["kind"] == "calendar#events"
