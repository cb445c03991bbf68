"""Nested app authentication tokens (R14): what an Outlook add-in gets for its own API — a
v2.0 access token for the add-in's app id, verifiable with the tenant's published keys."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.naa import SANDBOX_ADDIN_CLIENT_ID

from .conftest import ALICE, ROOM, T0, MsWorld


async def _addin(world: MsWorld) -> str:
    app = await world.control(
        "POST", "/apps", json={"display_name": "Scheduling add-in", "public_client": True}
    )
    return str(app["client_id"])


async def test_naa_token_is_a_v2_token_for_the_add_ins_own_api(world: MsWorld) -> None:
    client_id = await _addin(world)
    r = await world.http.post(
        "/_sandbox/microsoft/naa/token", json={"user": ALICE, "client_id": client_id}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert 3600 <= body["expires_in"] <= 5400
    assert body["scope"] == f"api://{client_id}/access_as_user"

    # verified like any resource server would: discovery document → JWKS → signature
    discovery = (
        await world.http.get(f"/microsoft/{world.tenant_id}/v2.0/.well-known/openid-configuration")
    ).json()
    jwks = (await world.http.get(httpx.URL(discovery["jwks_uri"]).path)).json()
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(jwks)).claims
    assert claims["iss"] == discovery["issuer"].replace("{tenantid}", world.tenant_id)
    assert claims["iss"] == f"http://sandbox.test/microsoft/{world.tenant_id}/v2.0"
    assert (claims["aud"], claims["azp"], claims["ver"]) == (client_id, client_id, "2.0")
    assert (claims["tid"], claims["oid"]) == (world.tenant_id, world.users[ALICE])
    assert claims["preferred_username"] == ALICE
    assert claims["scp"] == "access_as_user"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["iat"] == int(T0.timestamp())


async def test_naa_token_refuses_unknown_users_rooms_and_apps(world: MsWorld) -> None:
    client_id = await _addin(world)
    for body in (
        {"user": "nobody@contoso.example", "client_id": client_id},
        {"user": ROOM, "client_id": client_id},
        {"user": ALICE, "client_id": "00000000-0000-0000-0000-000000000000"},
    ):
        r = await world.http.post("/_sandbox/microsoft/naa/token", json=body)
        assert r.status_code == 404, body


def test_the_default_seed_registers_the_outlook_add_in(core: SandboxCore) -> None:
    em = MicrosoftEmulator(core)
    addin = em.state.apps[SANDBOX_ADDIN_CLIENT_ID]
    assert addin.public_client is True
    assert "access_as_user" in addin.delegated_permissions
