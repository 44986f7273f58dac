"""Prometheus metrics of the job engine, in the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_FINISHED = Counter(
    "tocsin_jobs_finished",
    "Job runs that ended, by job kind and outcome "
    "(done, retry, dead, stale: the claim was fenced off).",
    ["kind", "outcome"],
)

JOB_LAG = Histogram(
    "tocsin_job_lag_seconds",
    "Delay from a job's due time to its claim by a worker, in seconds of product time.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

JOBS_OVERDUE = Gauge(
    "tocsin_jobs_overdue",
    "Jobs still open longer than job_overdue_seconds after their due time, at the last audit.",
)

JOBS_LEASE_EXPIRED = Gauge(
    "tocsin_jobs_lease_expired",
    "Running jobs whose lease had expired without the job finishing, at the last audit.",
)

JOBS_PENDING = Gauge(
    "tocsin_jobs_pending",
    "Jobs waiting to run, due or not, at the last audit.",
)
