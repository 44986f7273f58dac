"""Helpers for incident tests: plans, direct incident creation and job inspection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from tocsin.engine.jobs import Job
from tocsin.incidents import plans, records
from tocsin.testing import RunningServer

FIXTURES = Path(__file__).parent / "fixtures"
ALARM_EVENT = FIXTURES / "eb-state-change-single-metric-alarm.json"
TUTORIAL_RUNBOOK = FIXTURES / "im-tutorial-IncidentResponseRunbook-restart-ec2.yaml"


def start_directly(
    server: RunningServer, account_id: str, plan_name: str, caller_arn: str, **params: Any
) -> str:
    """Start an incident through the domain layer, without HTTP, and return its ARN."""
    with server.runtime.database.session() as session:
        plan = plans.find(session, account_id, plan_name)
        assert plan is not None
        incident = records.start(
            session,
            server.clock,
            plan,
            params,
            caller_arn=caller_arn,
            caller_account=account_id,
        )
        return incident.arn


def jobs_of(server: RunningServer, incident_arn: str) -> list[tuple[str, str | None]]:
    """Return (kind, key) of the jobs whose payload names ``incident_arn``, by kind and key."""
    with server.runtime.database.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind.like("incidents.%"))).all()
        found = [
            (job.kind, job.key)
            for job in jobs
            if job.payload.get("incidentRecordArn") == incident_arn
        ]
    return sorted(found, key=lambda item: (item[0], item[1] or ""))


def trigger_count(server: RunningServer, incident_arn: str) -> int:
    with server.runtime.database.session() as session:
        incident = records.find_by_arn(session, incident_arn)
        assert incident is not None
        return incident.trigger_count
