"""Prometheus metrics, one registry per runtime (so tests and multiple apps never share
state). Labels carry route templates and outcomes, never ids or secrets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "calgate_http_requests_total",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "calgate_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.auth_failures = Counter(
            "calgate_auth_failures_total",
            "Requests refused for bad or missing credentials",
            registry=self.registry,
        )
        self.build_info = Gauge(
            "calgate_build_info", "calgate version", ["version"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
