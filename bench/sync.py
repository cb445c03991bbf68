"""Sync benchmark (issue #7): calgate's Google connector against the official client, and
the sanitizer against a plain JSON parse, measured in the same run on this machine.

    python bench/sync.py            # 3 rounds of each
    python bench/sync.py --quick    # under a minute: 1 round of each

Setup: the provider sandbox (``calgate sandbox``, uvicorn) in its own process, one user
whose calendar holds 10,000 events from :mod:`calgate.sandbox.datagen` (singles and
recurring series with moved and cancelled occurrences), a token from the sandbox's OAuth
flow (authorization code + PKCE).

1. **Initial sync**: calgate's ``GoogleConnector.sync`` with no sync token (events.list,
   ``singleEvents=false``, 2,500 per page, each item's wire JSON kept for the sync
   consumers, which read only that; an item is mapped to calgate's event model when first
   read) against google-api-python-client's
   ``events().list`` with the same parameters, paging until ``nextSyncToken`` (httplib2, the
   library's default transport). Rounds alternate, each after a full garbage collection
   so that neither inherits the other's heap debt; the best of each counts.
   Target: calgate at least as fast (``ratio_vs_sdk`` ≥ 1).
2. **Incremental**: one event changed at the provider, then ``sync`` from the saved token:
   milliseconds for the round trip that finds it.
3. **Sanitize**: every event's wire JSON through the allow-list (SYNC and APP profiles)
   against ``json.loads`` of the same events as text. Target ≥ 20,000 events/s (the slower
   profile counts).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document
from pydantic import TypeAdapter

from calgate.connectors.google.config import GoogleConfig
from calgate.connectors.google.connector import GoogleConnector
from calgate.domain.calendar import SyncBatch
from calgate.sandbox.datagen import generate
from calgate.sandbox.model import SeedEvent
from calgate.sanitize import Platform, Profile, sanitize
from calgate.vault.base import Secret

EVENTS = 10_000
USER = "bench@example.com"
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = "https://www.googleapis.com/auth/calendar.readonly"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox(port: int, log: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALGATE_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "calgate.cli", "sandbox", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_sandbox/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not come up; see " + str(log))
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def seed(http: httpx.Client, count: int) -> int:
    """A user whose calendar holds ``count`` datagen events (series included)."""
    http.post("/_sandbox/google/users", json={"email": USER, "time_zone": "Europe/Berlin"})
    data = generate(1, count, seed=7, rooms=3, days=90, start=datetime.now(UTC).date())
    events = next(iter(data.events.values()))
    body = TypeAdapter(list[SeedEvent]).dump_python(events, mode="json")
    r = http.post(f"/_sandbox/google/calendars/{USER}/seed", json=body, timeout=300)
    r.raise_for_status()
    return sum(1 for e in events if e.rrule)


def token(http: httpx.Client) -> tuple[str, str, str]:
    """(client id, secret, access token) through the authorization-code flow with PKCE."""
    client = http.post("/_sandbox/google/clients", json={"redirect_uris": [REDIRECT]}).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "client_id": client["client_id"],
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "state": "bench",
        "login_hint": USER,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
    }
    r = http.get(f"/google/o/oauth2/v2/auth?{urlencode(query)}")
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    grant = http.post(
        "/google/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    ).json()
    return client["client_id"], client["client_secret"], grant["access_token"]


def sdk_sync(service: Any) -> tuple[int, str]:
    """google-api-python-client: events().list paging to the sync token."""
    items, page = 0, None
    while True:
        kw: dict[str, Any] = {"calendarId": "primary", "maxResults": 2500, "singleEvents": False}
        if page:
            kw["pageToken"] = page
        body = service.events().list(**kw).execute()
        items += len(body.get("items", []))
        page = body.get("nextPageToken")
        if not page:
            return items, str(body.get("nextSyncToken", ""))


async def calgate_sync(connector: GoogleConnector, access: Secret, cursor: str | None) -> SyncBatch:
    now = datetime.now(UTC)
    return await connector.sync(
        access, "primary", cursor, start=now - timedelta(days=1), end=now + timedelta(days=31)
    )


def best(samples: list[float]) -> float:
    return min(samples)


def sanitize_rate(items: list[dict[str, Any]], profile: Profile, rounds: int) -> float:
    platform = Platform.of(join_bases=["https://calgate.example.com/j/"])
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for item in items:
            sanitize("google", item, profile=profile, platform=platform)
        times.append(time.perf_counter() - began)
    return len(items) / best(times)


def parse_rate(items: list[dict[str, Any]], rounds: int) -> float:
    texts = [json.dumps(i) for i in items]
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        for text in texts:
            json.loads(text)
        times.append(time.perf_counter() - began)
    return len(texts) / best(times)


def prepare(base: str) -> tuple[int, str, str, str, dict[str, Any]]:
    """(series, client id, secret, access token, discovery document)."""
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as http:
        series = seed(http, EVENTS)
        client_id, client_secret, access_token = token(http)
        doc = http.get("/google/discovery/v1/apis/calendar/v3/rest").json()
    return series, client_id, client_secret, access_token, doc


async def run(base: str, rounds: int) -> dict[str, Any]:
    series, client_id, client_secret, access_token, doc = await asyncio.to_thread(prepare, base)
    access = Secret(access_token)
    credentials = Credentials(token=access_token)  # type: ignore[no-untyped-call]
    service = build_from_document(doc, credentials=credentials)
    config = GoogleConfig.at(
        f"{base}/google",
        f"{base}/google/calendar/v3",
        client_id=client_id,
        client_secret=client_secret,
    )
    ours, theirs = [], []
    cursor = ""
    counts: set[int] = set()
    async with httpx.AsyncClient(timeout=60) as http_async:
        connector = GoogleConnector(config, http=http_async)
        await calgate_sync(connector, access, None)  # warm both: connections, discovery
        sdk_sync(service)
        for _ in range(rounds):
            gc.collect()
            began = time.perf_counter()
            batch = await calgate_sync(connector, access, None)
            ours.append(time.perf_counter() - began)
            counts.add(len(batch.changed) + len(batch.removed))
            cursor = batch.token
            gc.collect()
            began = time.perf_counter()
            m, _ = await asyncio.to_thread(sdk_sync, service)
            theirs.append(time.perf_counter() - began)
            counts.add(m)
        if len(counts) != 1:
            raise RuntimeError(f"the two clients saw different calendars: {sorted(counts)}")
        raw = [dict(item) for item in batch.raw.values()]
        # one change at the provider, then the incremental sync that finds it
        event_id = raw[len(raw) // 2]["id"]
        patched = await http_async.patch(
            f"{base}/_sandbox/google/calendars/{USER}/events/{event_id}",
            json={"summary": "Moved by the benchmark"},
        )
        patched.raise_for_status()
        began = time.perf_counter()
        changed = len((await calgate_sync(connector, access, cursor)).changed)
        incremental = (time.perf_counter() - began) * 1000
        if changed != 1:
            raise RuntimeError(f"the incremental sync found {changed} changes, not 1")
    total = counts.pop()
    sync_rate = sanitize_rate(raw, Profile.SYNC, rounds + 1)
    app_rate = sanitize_rate(raw, Profile.APP, rounds + 1)
    return {
        "events": total,
        "series": series,
        "initial_sync_events_per_s": total / best(ours),
        "sdk_events_per_s": total / best(theirs),
        "calgate_s": best(ours),
        "sdk_s": best(theirs),
        "incremental_ms": incremental,
        "sanitize_sync": sync_rate,
        "sanitize_app": app_rate,
        "json_loads": parse_rate(raw, rounds + 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    with (
        tempfile.TemporaryDirectory(prefix="calgate-bench-sync-") as tmp,
        sandbox(free_port(), Path(tmp) / "sandbox.log") as base,
    ):
        r = asyncio.run(run(base, rounds))
    ratio = r["initial_sync_events_per_s"] / r["sdk_events_per_s"]
    sanitize_rate_min = min(r["sanitize_sync"], r["sanitize_app"])
    rows = [
        ("initial sync, calgate GoogleConnector", f"{r['initial_sync_events_per_s']:,.0f} events/s",
         f"{r['calgate_s']:.2f} s for {r['events']:,} events ({r['series']:,} series)"),
        ("initial sync, google-api-python-client", f"{r['sdk_events_per_s']:,.0f} events/s",
         f"{r['sdk_s']:.2f} s (baseline)"),
        ("ratio calgate / official client", f"{ratio:.2f}", "target >= 1.00"),
        ("incremental sync, one change", f"{r['incremental_ms']:.1f} ms", "one events.list round"),
        ("sanitize, SYNC profile", f"{r['sanitize_sync']:,.0f} events/s", ""),
        ("sanitize, APP profile", f"{r['sanitize_app']:,.0f} events/s", "target >= 20,000"),
        ("json.loads of the same events", f"{r['json_loads']:,.0f} events/s", "(baseline)"),
    ]  # fmt: skip
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'figure':>18}  note")
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>18}  {note}")
    verdict = ratio >= 1.0 and sanitize_rate_min >= 20_000
    print(f"targets {'met' if verdict else 'NOT met'} ({'quick' if args.quick else 'full'} run)")
    print(
        json.dumps(
            {
                "initial_sync_events_per_s": round(r["initial_sync_events_per_s"], 1),
                "sdk_events_per_s": round(r["sdk_events_per_s"], 1),
                "ratio_vs_sdk": round(ratio, 3),
                "incremental_ms": round(r["incremental_ms"], 2),
                "sanitize_events_per_s": round(sanitize_rate_min, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
