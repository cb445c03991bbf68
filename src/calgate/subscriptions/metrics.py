"""Prometheus metrics of change notifications: webhooks, subscriptions and sync runs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["PushMetrics"]

_ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PushMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "calgate_webhooks_received_total",
            "Provider notifications accepted (stored, then acknowledged)",
            ["provider", "kind"],
            registry=registry,
        )
        self.refused = Counter(
            "calgate_webhooks_refused_total",
            "Provider notifications refused unprocessed (unknown subscription, wrong secret, "
            "malformed)",
            ["provider", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "calgate_webhooks_duplicate_total",
            "Provider notifications dropped as repeats of one already stored",
            ["provider"],
            registry=registry,
        )
        self.ack = Histogram(
            "calgate_webhook_ack_seconds",
            "Time from a webhook request's arrival to its acknowledgement",
            ["provider"],
            buckets=_ACK_BUCKETS,
            registry=registry,
        )
        self.subscription_ops = Counter(
            "calgate_subscription_operations_total",
            "Subscription operations at the providers (create, renew, replace, stop, "
            "lifecycle) by outcome",
            ["provider", "operation", "outcome"],
            registry=registry,
        )
        self.sync_runs = Counter(
            "calgate_sync_runs_total",
            "Incremental sync runs of a connection by outcome (unchanged, changed, full, "
            "failed, skipped)",
            ["provider", "outcome"],
            registry=registry,
        )
        self.sync_changes = Counter(
            "calgate_sync_changes_total",
            "Changed or removed calendar items found by sync",
            ["provider"],
            registry=registry,
        )
