"""Push notification channels (provider-protocols §5.3): ``events.watch`` creates a channel,
the sandbox POSTs ``sync`` at once and ``exists`` after every change, with an empty body and
the ``X-Goog-*`` headers, through the core's webhook dispatcher (real HTTP, retried on
500/502/503/504 only). Channels expire (default 7 days) and are never renewed."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from calgate.sandbox.google.context import GoogleContext
from calgate.sandbox.google.errors import ApiError, bad_request
from calgate.sandbox.google.state import Calendar, Channel
from calgate.sandbox.google.times import http_date

__all__ = ["Channels"]

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")
RETRY_STATUSES = frozenset({500, 502, 503, 504})
USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


class Channels:
    def __init__(self, ctx: GoogleContext) -> None:
        self.ctx = ctx

    def create(
        self, owner: str, cal: Calendar, body: Any, api_base: str, query: str
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request("Parse Error", "parseError")
        state, settings, now = self.ctx.state, self.ctx.settings, self.ctx.now()
        channel_id = body.get("id")
        if not isinstance(channel_id, str) or not _CHANNEL_ID.match(channel_id):
            raise ApiError(400, "required", "Channel id must match [A-Za-z0-9\\-_\\+/=]+")
        if body.get("type") not in ("web_hook", "webhook"):
            raise bad_request(f"Unknown channel type: {body.get('type')}", "invalid")
        address = body.get("address")
        scheme = urlsplit(address).scheme if isinstance(address, str) else ""
        if scheme not in ("http", "https") or (
            settings.require_https_webhooks and scheme != "https"
        ):
            raise bad_request(
                f"WebHook callback must be HTTPS: {address}", "push.webhookUrlNotHttps"
            )
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            raise bad_request(
                "Channel token must be a string of at most 256 characters.", "invalid"
            )
        if channel_id in state.channels:
            raise bad_request(f"Channel id {channel_id} not unique", "channelIdNotUnique")
        expiration = self._expiration(body, now)
        resource_id = state.resource_id(cal.id)
        channel = Channel(
            id=channel_id,
            resource_id=resource_id,
            resource_uri=f"{api_base}calendars/{quote(cal.id, safe='')}/events?{query}alt=json",
            address=str(address),
            calendar_id=cal.id,
            owner=owner,
            expiration=expiration,
            token=token,
            created_at=now,
        )
        state.channels[channel_id] = channel
        self.ctx.count("channels.created")
        self._send(channel, "sync")
        out = {
            "kind": "api#channel",
            "id": channel.id,
            "resourceId": resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": str(int(expiration.timestamp() * 1000)),
        }
        if token is not None:
            out["token"] = token
        return out

    def _expiration(self, body: dict[str, Any], now: datetime) -> datetime:
        settings = self.ctx.settings
        ttl = settings.channel_default_ttl
        params = body.get("params") or {}
        try:
            if isinstance(params, dict) and params.get("ttl") is not None:
                ttl = timedelta(seconds=int(params["ttl"]))
            if body.get("expiration") is not None:
                ttl = datetime.fromtimestamp(int(body["expiration"]) / 1000, now.tzinfo) - now
        except (TypeError, ValueError) as exc:
            raise bad_request("Invalid channel expiration.", "invalid") from exc
        ttl = min(max(ttl, timedelta(seconds=1)), settings.channel_max_ttl)
        return (now + ttl).replace(microsecond=0)

    def stop(self, owner: str, body: Any) -> None:
        """``channels.stop``: 204, or 404 for a channel the caller did not create."""
        if not isinstance(body, dict):
            raise bad_request("Parse Error", "parseError")
        channel_id = str(body.get("id", ""))
        channel = self.ctx.state.channels.get(channel_id)
        if (
            channel is None
            or channel.owner != owner
            or channel.resource_id != body.get("resourceId")
        ):
            raise ApiError(
                404, "notFound", f"Channel '{channel_id}' not found for project 'calgate-sandbox'"
            )
        del self.ctx.state.channels[channel_id]
        self.ctx.count("channels.stopped")

    def notify(self, calendar_id: str) -> None:
        """After a change to a calendar: ``exists`` to every live channel on it."""
        now = self.ctx.now()
        for channel in list(self.ctx.state.channels.values()):
            if channel.calendar_id != calendar_id:
                continue
            if channel.expiration <= now:
                del self.ctx.state.channels[channel.id]  # lapsed: never renewed (§5.3)
                self.ctx.count("channels.expired")
                continue
            self._send(channel, "exists")

    def _send(self, channel: Channel, resource_state: str) -> None:
        dispatcher = self.ctx.core.webhooks
        channel.message_number += 1
        if dispatcher is None:  # not composed into a sandbox app: nothing to deliver with
            log.warning("no webhook dispatcher; channel %s message dropped", channel.id)
            return
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Message-Number": str(channel.message_number),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": resource_state,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Channel-Expiration": http_date(channel.expiration),
            "User-Agent": USER_AGENT,
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        dispatcher.enqueue(
            "google",
            channel.address,
            kind=f"watch.{resource_state}",
            headers=headers,
            content=b"",
            ordering_key=f"google:{channel.id}",
            retry_statuses=RETRY_STATUSES,
        )
        self.ctx.count(f"notifications.{resource_state}")

    def expire(self, channel_id: str) -> bool:
        channel = self.ctx.state.channels.get(channel_id)
        if channel is None:
            return False
        channel.expiration = self.ctx.now() - timedelta(seconds=1)
        return True
