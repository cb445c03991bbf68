"""Graph ``calendarView/delta`` emulator (provider-protocols §2.4)."""

from __future__ import annotations

from typing import Any

from .conftest import ALICE, MsWorld
from .test_graph_events import assert_graph_error, event_body

WINDOW = {"startDateTime": "2026-11-23T00:00:00Z", "endDateTime": "2026-12-07T00:00:00Z"}


async def run_round(
    world: MsWorld, token: str, url: str, page_size: int | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks verbatim until the deltaLink; (items, deltaLink, pages)."""
    items: list[dict[str, Any]] = []
    pages = 0
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    while True:
        r = await world.graph("GET", url.split("/graph/v1.0", 1)[-1], token, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["value"]
        pages += 1
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        assert "$skiptoken=" in body["@odata.nextLink"]
        url = body["@odata.nextLink"]


def initial(path: str = "/me/calendarView/delta") -> str:
    return f"{path}?startDateTime={WINDOW['startDateTime']}&endDateTime={WINDOW['endDateTime']}"


async def test_delta_rounds_with_next_and_delta_links(world: MsWorld) -> None:
    """provider-protocols §2.4: pages end in @odata.nextLink ($skiptoken) until the last one,
    which carries @odata.deltaLink ($deltatoken); maxpagesize sets the page size."""
    token = await world.user_token()
    for i in range(7):
        await world.graph(
            "POST",
            "/me/events",
            token,
            json=event_body(
                f"E{i}", f"2026-11-{23 + i}T10:00:00", f"2026-11-{23 + i}T11:00:00", "UTC"
            ),
        )
    items, delta_link, pages = await run_round(world, token, initial(), page_size=3)
    assert pages == 3
    assert len(items) == 7
    assert "$deltatoken=" in delta_link
    again, _, _ = await run_round(world, token, delta_link)
    assert again == []  # nothing changed
    assert world.core.counters_for("microsoft")["graph.delta"] == 4


async def test_delta_reports_changes_and_removals(world: MsWorld) -> None:
    """provider-protocols §2.4: the next round returns changed items in full, deleted ones as
    ``@removed`` (reason deleted), and items moved out of the window as ``@removed`` too."""
    token = await world.user_token()
    ids = []
    for i in range(3):
        r = await world.graph(
            "POST",
            "/me/events",
            token,
            json=event_body(
                f"E{i}", f"2026-11-2{4 + i}T10:00:00", f"2026-11-2{4 + i}T11:00:00", "UTC"
            ),
        )
        ids.append(r.json()["id"])
    _, link, _ = await run_round(world, token, initial())
    await world.graph("PATCH", f"/me/events/{ids[0]}", token, json={"subject": "Renamed"})
    await world.graph("DELETE", f"/me/events/{ids[1]}", token)
    await world.graph(
        "PATCH",
        f"/me/events/{ids[2]}",
        token,
        json={
            "start": {"dateTime": "2027-03-01T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-03-01T11:00:00", "timeZone": "UTC"},
        },
    )
    new = await world.graph("POST", "/me/events", token, json=event_body("New"))
    items, link2, _ = await run_round(world, token, link)
    by_id = {i["id"]: i for i in items}
    assert by_id[ids[0]]["subject"] == "Renamed"
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids[2]]["@removed"] == {"reason": "deleted"}
    assert by_id[new.json()["id"]]["subject"] == "New"
    assert len(items) == 4
    assert (await run_round(world, token, link2))[0] == []


async def test_delta_on_series_and_control_changes(world: MsWorld) -> None:
    """provider-protocols §2.4: occurrences of a series come back after a change to the series;
    a cancelled occurrence is @removed. Changes made "as the user" through the control API show
    up the same way."""
    token = await world.user_token()
    series = event_body(
        "Daily",
        "2026-11-23T09:00:00",
        "2026-11-23T09:30:00",
        "UTC",
        recurrence={
            "pattern": {"type": "daily", "interval": 1},
            "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 3},
        },
    )
    master = (await world.graph("POST", "/me/events", token, json=series)).json()
    items, link, _ = await run_round(world, token, initial())
    assert [i["type"] for i in items] == ["occurrence"] * 3
    await world.graph("DELETE", f"/me/events/{items[1]['id']}", token)
    changed, link, _ = await run_round(world, token, link)
    removed = [i for i in changed if "@removed" in i]
    assert [i["id"] for i in removed] == [items[1]["id"]]
    assert len(changed) == 3  # the two remaining occurrences + the removal

    await world.control("POST", f"/users/{ALICE}/events", json=event_body("From Outlook"))
    await world.control("DELETE", f"/users/{ALICE}/events/{master['id']}")
    changed, _, _ = await run_round(world, token, link)
    assert {i.get("subject") for i in changed if "@removed" not in i} == {"From Outlook"}
    assert [i["id"] for i in changed if "@removed" in i] == [master["id"]]


async def test_delta_token_expiry_is_410_with_location(world: MsWorld) -> None:
    """provider-protocols §2.4: an evicted token answers 410 Gone with a Location pointing at a
    fresh initial query."""
    token = await world.user_token()
    _, link, _ = await run_round(world, token, initial())
    await world.http.post("/_sandbox/microsoft/delta/expire")
    r = await world.graph("GET", link.split("/graph/v1.0", 1)[1], token)
    assert_graph_error(r, 410, "syncStateNotFound")
    assert "startDateTime=2026-11-23T00" in r.headers["Location"]
    assert "$deltatoken" not in r.headers["Location"]


async def test_delta_requires_window_and_rejects_query_options(world: MsWorld) -> None:
    """provider-protocols §2.4: the first call needs the window; $select/$filter… are not
    supported on calendarView delta."""
    token = await world.user_token()
    assert_graph_error(
        await world.graph("GET", "/me/calendarView/delta", token), 400, "ErrorInvalidParameter"
    )
    r = await world.graph("GET", initial() + "&$select=subject", token)
    assert r.status_code == 400
    app = await world.app_token()
    ok = await world.graph("GET", initial(f"/users/{ALICE}/calendarView/delta"), app)
    assert ok.status_code == 200
    assert "@odata.deltaLink" in ok.json()
