"""The scheduling API's callers (R14): an Outlook add-in with a Microsoft Entra ID token from
nested app authentication, and one with a legacy Exchange user identity token — both issued
by the sandbox (Microsoft and Exchange emulators) and verified by calgate over HTTP (the
runtime's outgoing client reaches the sandbox in process)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from calgate.bootstrap import Runtime, build_runtime
from calgate.clock import FrozenClock
from calgate.sandbox.app import SandboxApp, create_sandbox_app
from calgate.sandbox.core import SandboxCore
from calgate.sandbox.exchange import ExchangeEmulator
from calgate.sandbox.exchange.emulator import SANDBOX_ADDIN_URL
from calgate.sandbox.exchange.identity import ExchangeSigner
from calgate.sandbox.microsoft import MicrosoftEmulator
from calgate.sandbox.microsoft.naa import SANDBOX_ADDIN_CLIENT_ID
from calgate.sandbox.microsoft.seed import SANDBOX_TENANT_ID
from calgate.sandbox.microsoft.tokens import TokenSigner

from .conftest import SignedIn, assert_problem
from support.settings import IsolatedSettings

SANDBOX = "http://sandbox.test"
AUTHORITY = f"{SANDBOX}/microsoft"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MEETING = {
    "subject": "Design review",
    "start_date": "2026-11-24",
    "start_time": "15:00",
    "time_zone": "W. Europe Standard Time",
    "duration_minutes": 60,
    "recurring": False,
}
Tenant = Any


@pytest.fixture(scope="module")
def ms_signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture(scope="module")
def ex_signer() -> ExchangeSigner:
    return ExchangeSigner(now=T0)


@dataclass
class Sandbox:
    app: SandboxApp
    http: httpx.AsyncClient
    microsoft: MicrosoftEmulator
    exchange: ExchangeEmulator

    async def control(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.http.request(method, f"/_sandbox{path}", **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    async def naa_token(self, user: str = "alice@contoso.example", **kw: Any) -> str:
        body = await self.control("POST", "/microsoft/naa/token", json={"user": user, **kw})
        return str(body["access_token"])

    async def identity_token(self, mailbox: str = "dave@fabrikam.example", **kw: Any) -> str:
        body = await self.control(
            "POST", "/exchange/identity-token", json={"mailbox": mailbox, **kw}
        )
        return str(body["token"])

    @property
    def metadata_url(self) -> str:
        return self.exchange.metadata_url(SANDBOX)


@pytest.fixture
async def sandbox(ms_signer: TokenSigner, ex_signer: ExchangeSigner) -> AsyncIterator[Sandbox]:
    core = SandboxCore()
    core.clock.freeze(T0)
    microsoft = MicrosoftEmulator(core, signer=ms_signer)
    exchange = ExchangeEmulator(core, signer=ex_signer)
    app = create_sandbox_app([microsoft, exchange], core=core)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX) as http,
    ):
        yield Sandbox(app, http, microsoft, exchange)


@pytest.fixture
async def runtime(
    make_settings: Callable[..., IsolatedSettings], clock: FrozenClock, sandbox: Sandbox
) -> AsyncIterator[Runtime]:
    """calgate whose outgoing HTTP (JWKS discovery, Exchange metadata) reaches the sandbox."""
    settings = make_settings(entra_authority=AUTHORITY)
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport) as http:
        rt = await build_runtime(settings, clock=clock, http=http, auto_migrate=False)
        try:
            yield rt
        finally:
            await rt.aclose()


@pytest.fixture
async def tenant(
    client: httpx.AsyncClient, make_tenant: Callable[..., Awaitable[Tenant]], sandbox: Sandbox
) -> Tenant:
    """An account that accepts the sandbox tenant's add-in and the sandbox Exchange server."""
    t = await make_tenant("Contoso")
    r = await client.put(
        f"/v1/accounts/{t.account_id}/scheduling-auth",
        json={
            "entra_tenants": [
                {"tenant_id": SANDBOX_TENANT_ID, "audiences": [SANDBOX_ADDIN_CLIENT_ID]}
            ],
            "exchange_servers": [
                {"metadata_url": sandbox.metadata_url, "audiences": [SANDBOX_ADDIN_URL]}
            ],
        },
        headers=t.admin,
    )
    assert r.status_code == 200, r.text
    return t


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def add_user(client: httpx.AsyncClient, t: Tenant, email: str, **extra: Any) -> str:
    r = await client.post(
        f"/v1/accounts/{t.account_id}/users", json={"email": email, **extra}, headers=t.admin
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def forge(token: str, **claims: Any) -> str:
    """The same token with changed claims and the original (now wrong) signature."""
    head, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    encoded = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{head}.{encoded}.{signature}"


# Entra ID via nested app authentication ----------------------------------------------------
async def test_an_add_in_with_an_naa_token_schedules_for_its_user_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox, make_user: Any
) -> None:
    alice = await make_user(tenant, "alice@contoso.example")
    token = await sandbox.naa_token("alice@contoso.example")
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert r.status_code == 201, r.text
    meeting = r.json()
    assert meeting["time_zone"] == "Europe/Berlin"
    # the meeting is Alice's: her session sees it, and the add-in's identity is now linked
    mine = (await client.get("/v1/meetings", headers=alice.headers)).json()["items"]
    assert [m["id"] for m in mine] == [meeting["id"]]
    links = (await client.get("/v1/me/scheduling-identities", headers=alice.headers)).json()
    alice_oid = sandbox.microsoft.state.user("alice@contoso.example").id  # type: ignore[union-attr]
    assert [(x["kind"], x["issuer"], x["subject"]) for x in links] == [
        ("entra", SANDBOX_TENANT_ID, alice_oid)
    ]
    # and the add-in can read and cancel it with a later token
    again = await sandbox.naa_token("alice@contoso.example")
    url = f"/v1/meetings/{meeting['id']}"
    assert (await client.get(url, headers=bearer(again))).status_code == 200
    assert (await client.delete(url, headers=bearer(again))).status_code == 204


async def test_the_linked_object_id_still_maps_after_an_email_change_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox
) -> None:
    user_id = await add_user(client, tenant, "alice@contoso.example")
    token = await sandbox.naa_token("alice@contoso.example")
    assert (
        await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    ).status_code == 201
    r = await client.patch(
        f"/v1/accounts/{tenant.account_id}/users/{user_id}",
        json={"email": "alice.anders@contoso.example"},
        headers=tenant.admin,
    )
    assert r.status_code == 200
    r = await client.get("/v1/meetings", headers=bearer(token))
    assert len(r.json()["items"]) == 1


async def test_an_naa_token_maps_by_object_id_through_external_id_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox
) -> None:
    bob = sandbox.microsoft.state.user("bob@contoso.example")
    assert bob is not None
    await add_user(client, tenant, "robert@elsewhere.example", external_id=bob.id)
    token = await sandbox.naa_token("bob@contoso.example")
    assert (
        await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    ).status_code == 201


async def test_an_naa_token_for_another_audience_is_401_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox
) -> None:
    await add_user(client, tenant, "alice@contoso.example")
    other = await sandbox.control(
        "POST", "/microsoft/apps", json={"display_name": "Another add-in", "public_client": True}
    )
    token = await sandbox.naa_token("alice@contoso.example", client_id=other["client_id"])
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert "audience" in assert_problem(r, 401)["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_naa_tokens_that_are_expired_forged_or_from_elsewhere_are_401_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox, clock: FrozenClock
) -> None:
    await add_user(client, tenant, "alice@contoso.example")
    good = await sandbox.naa_token("alice@contoso.example", lifetime_seconds=3600)
    ms = sandbox.microsoft
    alice = ms.state.user("alice@contoso.example")
    assert alice is not None
    now = int(T0.timestamp())
    base = {
        "aud": SANDBOX_ADDIN_CLIENT_ID,
        "iss": f"{AUTHORITY}/{SANDBOX_TENANT_ID}/v2.0",
        "tid": SANDBOX_TENANT_ID,
        "oid": alice.id,
        "scp": "access_as_user",
        "preferred_username": alice.upn,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "ver": "2.0",
    }
    cases = {
        # signed by the tenant's real key, but not what calgate accepts
        "another issuer": ms.signer.sign({**base, "iss": f"{AUTHORITY}/{uuid.uuid4()}/v2.0"}),
        "not a delegated token": ms.signer.sign({k: v for k, v in base.items() if k != "scp"}),
        "unknown tenant": ms.signer.sign({**base, "tid": str(uuid.uuid4())}),
        # tampered: the signature no longer matches
        "bad signature": forge(good, preferred_username="mallory@contoso.example"),
    }
    details = {}
    for case, token in cases.items():
        r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
        details[case] = assert_problem(r, 401)["detail"]
    assert "another issuer" in details["another issuer"]
    assert "delegated" in details["not a delegated token"]
    assert "not set up" in details["unknown tenant"]
    assert "signature" in details["bad signature"]

    assert (await client.get("/v1/meetings", headers=bearer(good))).status_code == 200
    clock.advance(hours=2)
    r = await client.get("/v1/meetings", headers=bearer(good))
    assert "expired" in assert_problem(r, 401)["detail"]


async def test_naa_users_calgate_does_not_know_are_401_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox
) -> None:
    token = await sandbox.naa_token("carol@contoso.example")
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert "no calgate user" in assert_problem(r, 401)["detail"]


async def test_an_account_that_trusts_no_tenant_refuses_naa_tokens_R14(
    client: httpx.AsyncClient, make_tenant: Any, sandbox: Sandbox
) -> None:
    t = await make_tenant("Unconfigured")
    await add_user(client, t, "alice@contoso.example")
    token = await sandbox.naa_token("alice@contoso.example")
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert "not set up" in assert_problem(r, 401)["detail"]


# legacy Exchange user identity tokens (on-premises) ------------------------------------------
async def test_an_exchange_add_in_schedules_once_its_mailbox_is_linked_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox, make_user: Any
) -> None:
    dave = await make_user(tenant, "dave@fabrikam.example")
    token = await sandbox.identity_token("dave@fabrikam.example")
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert "POST /v1/me/scheduling-identities" in assert_problem(r, 401)["detail"]

    r = await client.post(
        "/v1/me/scheduling-identities", json={"token": token}, headers=dave.headers
    )
    assert r.status_code == 201, r.text
    link = r.json()
    assert (link["kind"], link["issuer"]) == ("exchange", sandbox.metadata_url)

    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert r.status_code == 201, r.text
    mine = (await client.get("/v1/meetings", headers=dave.headers)).json()["items"]
    assert [m["id"] for m in mine] == [r.json()["id"]]

    # unlinking stops the add-in
    r = await client.delete(f"/v1/me/scheduling-identities/{link['id']}", headers=dave.headers)
    assert r.status_code == 204
    assert_problem(await client.get("/v1/meetings", headers=bearer(token)), 401)


async def test_an_admin_can_map_a_mailbox_through_external_id_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox
) -> None:
    erin = sandbox.exchange.mailbox("erin@fabrikam.example")
    assert erin is not None
    await add_user(client, tenant, "erin@fabrikam.example", external_id=erin.msexchuid)
    token = await sandbox.identity_token("erin@fabrikam.example")
    assert (
        await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    ).status_code == 201


async def test_exchange_tokens_for_another_add_in_or_expired_are_401_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox, clock: FrozenClock
) -> None:
    erin = sandbox.exchange.mailbox("erin@fabrikam.example")
    assert erin is not None
    await add_user(client, tenant, "erin@fabrikam.example", external_id=erin.msexchuid)
    other = await sandbox.identity_token(
        "erin@fabrikam.example", audience="https://evil.example/taskpane.html"
    )
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(other))
    assert "audience" in assert_problem(r, 401)["detail"]

    forged = forge(await sandbox.identity_token("erin@fabrikam.example"), aud=SANDBOX_ADDIN_URL)
    assert_problem(await client.get("/v1/meetings", headers=bearer(forged)), 401)

    good = await sandbox.identity_token("erin@fabrikam.example")
    assert (await client.get("/v1/meetings", headers=bearer(good))).status_code == 200
    clock.advance(hours=8, minutes=6)
    r = await client.get("/v1/meetings", headers=bearer(good))
    assert "expired" in assert_problem(r, 401)["detail"]


async def test_a_metadata_url_no_account_allows_is_never_fetched_R14(
    client: httpx.AsyncClient, make_tenant: Any, sandbox: Sandbox
) -> None:
    await make_tenant("Unconfigured")
    token = await sandbox.identity_token("dave@fabrikam.example")
    r = await client.post("/v1/meetings", json=MEETING, headers=bearer(token))
    assert "not set up" in assert_problem(r, 401)["detail"]
    assert sandbox.app.core.counters_for("exchange").get("metadata", 0) == 0


async def test_a_renewed_exchange_certificate_is_picked_up_R14(
    client: httpx.AsyncClient, tenant: Tenant, sandbox: Sandbox, clock: FrozenClock
) -> None:
    erin = sandbox.exchange.mailbox("erin@fabrikam.example")
    assert erin is not None
    await add_user(client, tenant, "erin@fabrikam.example", external_id=erin.msexchuid)
    first = await sandbox.identity_token("erin@fabrikam.example")
    assert (await client.get("/v1/meetings", headers=bearer(first))).status_code == 200
    await sandbox.control("POST", "/exchange/certificate/renew")
    renewed = await sandbox.identity_token("erin@fabrikam.example")
    clock.advance(minutes=2)  # past the once-a-minute refetch guard
    assert (await client.get("/v1/meetings", headers=bearer(renewed))).status_code == 200
    assert sandbox.app.core.counters_for("exchange")["metadata"] == 2


# configuring which tokens an account accepts ---------------------------------------------------
async def test_scheduling_auth_is_audited_and_one_tenant_belongs_to_one_account(
    client: httpx.AsyncClient, tenant: Tenant, make_tenant: Any, sandbox: Sandbox
) -> None:
    url = f"/v1/accounts/{tenant.account_id}/scheduling-auth"
    got = (await client.get(url, headers=tenant.admin)).json()
    assert got["entra_tenants"] == [
        {"tenant_id": SANDBOX_TENANT_ID, "audiences": [SANDBOX_ADDIN_CLIENT_ID]}
    ]
    audit = (
        await client.get(f"/v1/accounts/{tenant.account_id}/audit", headers=tenant.admin)
    ).json()
    changes = [e for e in audit["items"] if e["action"] == "scheduling_auth.changed"]
    assert len(changes) == 1
    assert changes[0]["details"]["after"]["entra"][0]["tenant_id"] == SANDBOX_TENANT_ID

    other = await make_tenant("Other")
    r = await client.put(
        f"/v1/accounts/{other.account_id}/scheduling-auth",
        json={"entra_tenants": [{"tenant_id": SANDBOX_TENANT_ID, "audiences": ["x"]}]},
        headers=other.admin,
    )
    assert "another account" in assert_problem(r, 409)["detail"]
    assert_problem(await client.get(url, headers=other.admin), 404)
    assert_problem(await client.put(url, json={}, headers=other.admin), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entra_tenants": [{"tenant_id": "contoso", "audiences": ["x"]}]}, "entra_tenants"),
        ({"entra_tenants": [{"tenant_id": SANDBOX_TENANT_ID}]}, "entra_tenants"),
        (
            {"exchange_servers": [{"metadata_url": "ftp://x", "audiences": ["x"]}]},
            "exchange_servers",
        ),
        (
            {"exchange_servers": [{"metadata_url": "https://mail.example.com/x"}]},
            "exchange_servers",
        ),
        ({"entra_tenants": [], "secret": "x"}, "secret"),
    ],
)
async def test_scheduling_auth_refuses_bad_settings(
    client: httpx.AsyncClient, make_tenant: Any, body: dict[str, Any], field: str
) -> None:
    t = await make_tenant()
    r = await client.put(f"/v1/accounts/{t.account_id}/scheduling-auth", json=body, headers=t.admin)
    assert field in [e["field"] for e in assert_problem(r, 422)["errors"]]


async def test_users_cannot_change_scheduling_auth(
    client: httpx.AsyncClient, tenant: Tenant, make_user: Any
) -> None:
    user: SignedIn = await make_user(tenant, "alice@contoso.example")
    r = await client.put(
        f"/v1/accounts/{tenant.account_id}/scheduling-auth", json={}, headers=user.headers
    )
    assert_problem(r, 403)


async def test_expired_sessions_and_linking_foreign_tokens(
    client: httpx.AsyncClient, tenant: Tenant, make_tenant: Any, make_user: Any, sandbox: Sandbox
) -> None:
    other = await make_tenant("Fabrikam")
    dave = await make_user(other, "dave@fabrikam.example")
    token = await sandbox.identity_token("dave@fabrikam.example")
    # the Exchange server is set up for the Contoso account, not Dave's
    r = await client.post(
        "/v1/me/scheduling-identities", json={"token": token}, headers=dave.headers
    )
    assert "another calgate account" in assert_problem(r, 401)["detail"]
    r = await client.post(
        "/v1/me/scheduling-identities", json={"token": "not-a-token"}, headers=dave.headers
    )
    assert_problem(r, 401)
