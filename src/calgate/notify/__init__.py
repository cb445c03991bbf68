"""Per-user notifications for apps: stored with the caller's transaction, fanned out after
commit over an in-process or Redis bus, streamed over SSE and WebSocket, resumable."""

from calgate.notify.bus import Bus, InProcessBus, RedisBus, create_bus
from calgate.notify.hub import NotificationHub
from calgate.notify.messages import Control, ControlType, Notification, NotificationType
from calgate.notify.subscriptions import StreamClosed, Subscription

__all__ = [
    "Bus",
    "Control",
    "ControlType",
    "InProcessBus",
    "Notification",
    "NotificationHub",
    "NotificationType",
    "RedisBus",
    "StreamClosed",
    "Subscription",
    "create_bus",
]
