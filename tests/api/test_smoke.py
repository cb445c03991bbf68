async def test_healthz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_account_flow(client, make_tenant):
    t = await make_tenant("Acme")
    r = await client.get(f"/v1/accounts/{t.account_id}", headers=t.admin)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Acme"
