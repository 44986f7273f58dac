"""Prometheus metrics of the HTTP endpoint."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "tocsin_requests_total",
    "API requests by service, operation and HTTP status.",
    ["service", "operation", "status"],
)
REQUEST_SECONDS = Histogram(
    "tocsin_request_duration_seconds",
    "Time from reading a request to having its response, by service and operation.",
    ["service", "operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe_request(service: str, operation: str, status: int, seconds: float) -> None:
    REQUESTS.labels(service, operation, str(status)).inc()
    REQUEST_SECONDS.labels(service, operation).observe(seconds)
