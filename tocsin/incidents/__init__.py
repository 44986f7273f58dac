"""Incident Manager (ssm-incidents): replication sets, response plans, policies and tags."""

from __future__ import annotations

from tocsin.engine.jobs import JobRegistry


def register(registry: JobRegistry) -> None:
    """Register the job handlers of Incident Manager on ``registry``; a second call does nothing."""
    from tocsin.incidents import replication

    if registry.get(replication.SETTLE_JOB) is None:
        registry.register(replication.SETTLE_JOB, replication.settle)
