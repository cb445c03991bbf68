"""The join page in a real browser (R12): headless Chromium (Debian's /usr/bin/chromium, driven
by Playwright) loads ``/j/{id}`` from calgate served over real HTTP, for a meeting in each
state — not open yet, valid, expired, cancelled, a series, an unknown id — and the join button
is there only while the meeting is valid. calgate runs on a frozen clock the test moves."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from calgate.api.app import create_app
from calgate.clock import FrozenClock

from support.canary import canary
from support.servers import serve_in_thread
from support.settings import IsolatedSettings

CHROMIUM = "/usr/bin/chromium"
CLIENT_URL = "vcapp://join?meeting_id={meeting_id}"

if not shutil.which(CHROMIUM) and os.environ.get("CALGATE_TEST_REQUIRE_SERVICES") != "1":
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
def base_url(make_settings: Callable[..., IsolatedSettings], clock: FrozenClock) -> Iterator[str]:
    """calgate over real HTTP on loopback (its runtime built in the server's own thread)."""
    settings = make_settings(meeting_client_url=CLIENT_URL)
    app = create_app(settings, clock=clock, auto_migrate=False)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Meetings:
    upcoming: dict[str, Any]
    valid: dict[str, Any]
    expired: dict[str, Any]
    cancelled: dict[str, Any]
    series: dict[str, Any]


async def _schedule(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    clock: FrozenClock,
    offset: timedelta,
    **kw: Any,
) -> dict[str, Any]:
    local = (clock.now() + offset).astimezone(ZoneInfo("Europe/Berlin"))
    body = {
        "subject": "Confidential acquisition talks",
        "start_date": local.date().isoformat(),
        "start_time": local.strftime("%H:%M"),
        "time_zone": "Europe/Berlin",
        "duration_minutes": 30,
        **kw,
    }
    r = await http.post("/v1/meetings", json=body, headers=headers)
    assert r.status_code == 201, r.text
    meeting: dict[str, Any] = r.json()
    return meeting


@pytest.fixture
async def meetings(base_url: str, operator: dict[str, str], clock: FrozenClock) -> Meetings:
    """One meeting per state, scheduled through the API over HTTP by a signed-in user."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        account = (await http.post("/v1/accounts", json={"name": "Acme"}, headers=operator)).json()
        password = canary("password")
        r = await http.post(
            f"/v1/accounts/{account['id']}/users",
            json={"email": "alice@acme.example", "password": password},
            headers=operator,
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            "/v1/sessions", json={"email": "alice@acme.example", "password": password}
        )
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        found = Meetings(
            upcoming=await _schedule(http, headers, clock, timedelta(days=2)),
            valid=await _schedule(http, headers, clock, timedelta(minutes=5)),
            expired=await _schedule(http, headers, clock, -timedelta(days=40)),
            cancelled=await _schedule(http, headers, clock, timedelta(days=1)),
            series=await _schedule(
                http,
                headers,
                clock,
                -timedelta(days=7),
                recurring=True,
                recurrence_rule="FREQ=WEEKLY",
            ),
        )
        r = await http.delete(f"/v1/meetings/{found.cancelled['id']}", headers=headers)
        assert r.status_code == 204
        return found


async def _open(browser: Any, url: str) -> tuple[Any, int]:
    page = await browser.new_page()
    response = await page.goto(url)
    assert response is not None
    return page, response.status


async def _check_page(page: Any, state: str, heading: str) -> None:
    assert await page.get_attribute("html", "lang") == "en"
    assert heading in await page.title()
    assert await page.locator("h1").count() == 1
    assert heading == await page.inner_text("h1")
    assert await page.get_attribute("#meeting", "data-state") == state


async def test_each_state_renders_and_only_a_valid_meeting_offers_to_join_R12(
    browser: Any, base_url: str, meetings: Meetings
) -> None:
    cases = [
        (meetings.valid, "valid", "Ready to join"),
        (meetings.upcoming, "upcoming", "This meeting has not started yet"),
        (meetings.expired, "expired", "This meeting link has expired"),
        (meetings.cancelled, "cancelled", "This meeting was cancelled"),
        (meetings.series, "valid", "Ready to join"),
    ]
    for meeting, state, heading in cases:
        page, status = await _open(
            browser, meeting["join_url"].replace("http://testserver", base_url)
        )
        assert status == 200
        await _check_page(page, state, heading)
        join = page.locator("a#join")
        if state == "valid":
            assert await join.count() == 1
            assert await join.inner_text() == "Join meeting"
            assert await join.get_attribute("href") == CLIENT_URL.format(meeting_id=meeting["id"])
        else:
            assert await join.count() == 0
        html = await page.content()
        assert meeting["passcode"] not in html  # never on the public page
        assert "Confidential" not in html  # the topic is off by default
        assert meeting["meeting_number"] in html
        await page.close()


async def test_the_series_page_shows_its_next_occurrence(
    browser: Any, base_url: str, meetings: Meetings
) -> None:
    page, _ = await _open(browser, f"{base_url}/j/{meetings.series['id']}")
    text = await page.inner_text("main")
    assert "Next" in text
    assert "Repeats" in text
    assert "Link valid until" not in text  # a series without an end does not expire


async def test_an_unknown_id_is_a_404_page_with_the_same_look(
    browser: Any, base_url: str, meetings: Meetings
) -> None:
    for ref in ("99999999999", "not-a-meeting"):
        page, status = await _open(browser, f"{base_url}/j/{ref}")
        assert status == 404
        await _check_page(page, "unknown", "Meeting not found")
        assert await page.locator("a#join").count() == 0
        await page.close()


async def test_the_page_follows_the_clock_R12(
    browser: Any, base_url: str, meetings: Meetings, clock: FrozenClock
) -> None:
    url = f"{base_url}/j/{meetings.upcoming['id']}"
    page, _ = await _open(browser, url)
    assert await page.locator("a#join").count() == 0

    clock.advance(days=2)  # the meeting's start
    await page.reload()
    await _check_page(page, "valid", "Ready to join")
    assert await page.locator("a#join").count() == 1

    clock.advance(days=30)  # 30 days after its start
    await page.reload()
    await _check_page(page, "expired", "This meeting link has expired")
    assert await page.locator("a#join").count() == 0


async def test_json_for_clients_that_ask_for_it(base_url: str, meetings: Meetings) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"Accept": "application/json"}) as h:
        r = await h.get(f"/j/{meetings.valid['id']}")
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert (body["state"], body["client_url"]) == (
            "valid",
            CLIENT_URL.format(meeting_id=meetings.valid["id"]),
        )
        assert body["topic"] is None
        assert (await h.get(f"/j/{meetings.expired['id']}")).json()["client_url"] is None
        unknown = await h.get("/j/99999999999")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        page = await h.get(f"/j/{meetings.valid['id']}", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
