"""The Microsoft connector against the contract, over the Microsoft emulator (in process)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from calgate.connectors.base import TokenGrant
from calgate.connectors.microsoft import MicrosoftConnector
from calgate.connectors.microsoft.config import MicrosoftConfig
from calgate.connectors.oauth import new_pkce_pair
from calgate.domain.policy import Access, ContactsAccess

from .contract import ConnectorContract, utc_window
from support.connect import CALLBACK, MS_APP, MS_USER, SANDBOX


@pytest.fixture
def connector(sandbox) -> MicrosoftConnector:
    config = MicrosoftConfig(
        client_id=MS_APP,
        client_secret=SecretStr("sandbox-client-secret-not-a-real-secret"),
        tenant="organizations",
        authority=f"{SANDBOX}/microsoft",
        graph_base_url=f"{SANDBOX}/microsoft/graph/v1.0",
    )
    return MicrosoftConnector(config, http=sandbox.http)


@pytest.fixture
def account_email() -> str:
    return MS_USER


@pytest.fixture
async def grant(connector: MicrosoftConnector, sandbox) -> TokenGrant:
    verifier, challenge = new_pkce_pair()
    url = connector.authorization_url(
        state="contract",
        code_challenge=challenge,
        redirect_uri=CALLBACK,
        scopes=connector.scopes_for(Access.READ_WRITE, ContactsAccess.READ),
        login_hint=MS_USER,
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
        r = await sandbox.control.post("/_sandbox/microsoft/delta/expire")
        assert r.status_code == 200, r.text

    return expire


class TestMicrosoftConnector(ConnectorContract):
    async def test_contacts_scopes_follow_the_grant(self, connector, grant):
        assert connector.permissions(grant.scopes).contacts.value == "read"
