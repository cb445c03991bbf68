"""Prometheus metrics of the job runners, registered once per runtime."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["JobMetrics"]


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.claimed = Counter(
            "calgate_jobs_claimed_total", "Jobs leased by a runner", ["kind"], registry=registry
        )
        self.finished = Counter(
            "calgate_jobs_finished_total",
            "Job attempts by outcome: done, failed (will retry), dead, rescheduled, released "
            "(runner shutdown), lost (lease taken over)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.lag = Histogram(
            "calgate_jobs_queue_lag_seconds",
            "Time from a job's due time to its claim",
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
        )
        self.duration = Histogram(
            "calgate_jobs_duration_seconds",
            "Time a handler ran",
            ["kind"],
            registry=registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
        )
        self.in_flight = Gauge(
            "calgate_jobs_in_flight", "Jobs running in this process", registry=registry
        )
        self.scheduled = Counter(
            "calgate_jobs_scheduled_total",
            "Recurring jobs enqueued by this process's runners",
            ["schedule"],
            registry=registry,
        )
