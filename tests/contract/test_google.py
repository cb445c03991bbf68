"""The Google connector against the contract, over the Google emulator (in process)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from calgate.connectors.base import TokenGrant
from calgate.connectors.google import GoogleConnector
from calgate.connectors.google.config import GoogleConfig
from calgate.connectors.oauth import new_pkce_pair
from calgate.domain.calendar import MappedOnRead
from calgate.domain.policy import Access, ContactsAccess

from .contract import ConnectorContract, _event, utc_window
from support.connect import CALLBACK, GOOGLE_USER, SANDBOX

CLIENT = (
    "000000000000-calgate-sandbox.apps.googleusercontent.com",
    "GOCSPX-sandbox-not-a-real-secret",
)


@pytest.fixture
def connector(sandbox) -> GoogleConnector:
    config = GoogleConfig.at(
        f"{SANDBOX}/google",
        f"{SANDBOX}/google/calendar/v3",
        client_id=CLIENT[0],
        client_secret=CLIENT[1],
    )
    return GoogleConnector(config, http=sandbox.http)


@pytest.fixture
def account_email() -> str:
    return GOOGLE_USER


@pytest.fixture
async def grant(connector: GoogleConnector, sandbox) -> TokenGrant:
    verifier, challenge = new_pkce_pair()
    url = connector.authorization_url(
        state="contract",
        code_challenge=challenge,
        redirect_uri=CALLBACK,
        scopes=connector.scopes_for(Access.READ_WRITE, ContactsAccess.NONE),
        login_hint=GOOGLE_USER,
    )
    r = await sandbox.http.get(url)
    assert r.status_code == 302, r.text
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    return await connector.exchange_code(code=code, code_verifier=verifier, redirect_uri=CALLBACK)


@pytest.fixture
def calendar_id() -> str:
    return "primary"


@pytest.fixture
def window(clock):
    return utc_window(clock.now())


@pytest.fixture
def expire_sync_tokens(sandbox):
    async def expire() -> None:
        r = await sandbox.control.post(
            f"/_sandbox/google/calendars/{GOOGLE_USER}/invalidate-sync-tokens"
        )
        assert r.status_code == 200, r.text

    return expire


class TestGoogleConnector(ConnectorContract):
    pass


async def test_full_sync_maps_each_event_on_read_as_get_event_does(
    connector: GoogleConnector, grant: TokenGrant, window
) -> None:
    """The listing keeps each item's wire JSON and maps it when read; what it maps is what
    a plain events.get of the same event maps to."""
    token = grant.access_token
    made = [
        await connector.create_event(token, "primary", _event(window[0] + timedelta(hours=h)))
        for h in range(3)
    ]
    batch = await connector.sync(token, "primary", None, start=window[0], end=window[1])
    assert isinstance(batch.changed, MappedOnRead)
    assert list(batch.changed_hrefs) == list(batch.raw)
    by_href = dict(zip(batch.changed_hrefs, batch.changed, strict=True))
    for stored in made:
        assert by_href[stored.ref.href] == await connector.get_event(token, stored.ref.href)
