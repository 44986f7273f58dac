"""Helpers of automation execution tests: settle jobs, create roles and documents, read runs."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.testing import RunningServer

FINAL = ("Success", "Failed", "TimedOut", "Cancelled")
ALLOW_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def trust_policy(*, service: str | None = "ssm.amazonaws.com", aws: str | None = None) -> str:
    principal: dict[str, str] = {}
    if service:
        principal["Service"] = service
    if aws:
        principal["AWS"] = aws
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def settle(server: RunningServer, timeout: float = 30.0) -> None:
    """Run every job that is due now and wait until no due job is left open."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due()
        with server.runtime.database.session() as session:
            now = server.clock.now()
            open_jobs = session.scalar(
                select(func.count(Job.id)).where(
                    Job.kind.startswith("runbooks.") | Job.kind.startswith("incidents."),
                    or_(
                        Job.status == JobStatus.RUNNING.value,
                        (Job.status == JobStatus.PENDING.value) & (Job.due_at <= now),
                    ),
                )
            )
        if not open_jobs:
            return
        assert time.monotonic() < deadline, f"{open_jobs} due jobs are still open"
        time.sleep(0.02)


def advance(server: RunningServer, **delta: float) -> None:
    """Move the fake clock forward, then run what became due."""
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(**delta))
    settle(server)


def make_role(iam: Any, name: str, trust: str | None = None) -> str:
    """Create a role that may do anything and return its ARN."""
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust or trust_policy())[
        "Role"
    ]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=ALLOW_ALL)
    return arn


def create_document(ssm: Any, name: str, content: str) -> None:
    ssm.create_document(
        Name=name, Content=content, DocumentType="Automation", DocumentFormat="YAML"
    )


def run(server: RunningServer, ssm: Any, name: str, **params: Any) -> dict[str, Any]:
    """Start ``name`` with ``params``, run its due jobs and return GetAutomationExecution's run."""
    execution_id = ssm.start_automation_execution(DocumentName=name, **params)[
        "AutomationExecutionId"
    ]
    settle(server)
    return execution(ssm, execution_id)


def execution(ssm: Any, execution_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ssm.get_automation_execution(AutomationExecutionId=execution_id)[
        "AutomationExecution"
    ]
    return found


def statuses(found: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (step name, step status) of every step execution of a run, in order."""
    return [(s["StepName"], s["StepStatus"]) for s in found.get("StepExecutions", [])]
