"""Prometheus metrics of the notification hub, registered once per runtime."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["NotifyMetrics"]


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "calgate_notifications_published_total",
            "Notifications committed and handed to the bus",
            ["type"],
            registry=registry,
        )
        self.delivered = Counter(
            "calgate_notifications_delivered_total",
            "Notifications queued for a client connected to this process",
            registry=registry,
        )
        self.coalesced = Counter(
            "calgate_notifications_coalesced_total",
            "Notifications folded into a trailing one by the coalescing window",
            registry=registry,
        )
        self.dropped = Counter(
            "calgate_notification_streams_dropped_total",
            "Streams closed because the client fell too far behind",
            registry=registry,
        )
        self.bus_errors = Counter(
            "calgate_notification_bus_errors_total",
            "Failures to publish to, or gaps in the subscription of, the notification bus",
            ["what"],
            registry=registry,
        )
        self.connections = Gauge(
            "calgate_notification_streams",
            "Notification streams open on this process",
            ["transport"],
            registry=registry,
        )
