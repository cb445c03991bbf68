"""The messages a user's apps receive. They say *that* something changed (ids only), never
*what*: apps fetch the content from the provider themselves (C3)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Control",
    "ControlType",
    "Notification",
    "NotificationType",
    "check_data",
]

_MAX_VALUE = 200


class NotificationType(StrEnum):
    CALENDAR_CHANGED = "calendar.changed"  # data: connection_id
    CONNECTION_REAUTH_REQUIRED = "connection.reauth_required"  # data: connection_id, provider
    CONNECTION_REMOVED = "connection.removed"  # data: connection_id
    CONNECTION_CONNECTED = "connection.connected"  # data: connection_id, provider


class ControlType(StrEnum):
    """Stream-level messages, not stored and without an id."""

    READY = "stream.ready"  # WebSocket: authenticated and subscribed
    RESET = "stream.reset"  # history since Last-Event-ID is gone: do a full refresh
    HEARTBEAT = "heartbeat"
    PONG = "pong"


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    account_id: uuid.UUID
    user_id: uuid.UUID
    type: str
    data: Mapping[str, Any]
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        """What apps receive (SSE ``data:`` and WebSocket text frames)."""
        return {
            "id": self.id,
            "type": self.type,
            "data": dict(self.data),
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }

    def encode_bus(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "account_id": str(self.account_id),
                "user_id": str(self.user_id),
                "type": self.type,
                "data": dict(self.data),
                "created_at": self.created_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode_bus(cls, raw: bytes | str) -> Notification:
        obj = json.loads(raw)
        return cls(
            id=int(obj["id"]),
            account_id=uuid.UUID(obj["account_id"]),
            user_id=uuid.UUID(obj["user_id"]),
            type=str(obj["type"]),
            data=dict(obj["data"]),
            created_at=datetime.fromisoformat(obj["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Control:
    type: ControlType
    data: Mapping[str, Any] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value}
        if self.data:
            out["data"] = dict(self.data)
        return out


def check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Notification data holds ids and flags only: short strings, numbers, booleans."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or len(key) > 64:
            raise ValueError("notification data keys must be short strings")
        if isinstance(value, uuid.UUID):
            value = str(value)
        if value is not None and not isinstance(value, str | int | bool):
            raise ValueError(f"notification data {key!r} must be an id, number or flag")
        if isinstance(value, str) and len(value) > _MAX_VALUE:
            raise ValueError(f"notification data {key!r} is too long for an id")
        out[key] = value
    return out
