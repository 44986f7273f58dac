"""Resolving an incident stops the engagements it started, through its stop job.

The job is enqueued here directly, as the incident's resolution enqueues it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.contacts.engagement_support import (
    advance,
    contact_stage,
    engage,
    escalation,
    page_messages,
    paged_person,
    settle,
)
from tests.contacts.test_escalation_incidents import events, owner_tenant, plan_engaging
from tocsin.contacts.engagements import STAGE_JOB
from tocsin.contacts.incident_engagements import STOP_INCIDENT_ENGAGEMENTS_JOB
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import enqueue
from tocsin.testing import RunningServer

STOPPED = "Engagement Stopped"


def enqueue_stop(server: RunningServer, incident: str) -> None:
    with server.runtime.database.session() as session:
        enqueue(
            session,
            server.clock,
            STOP_INCIDENT_ENGAGEMENTS_JOB,
            {"incidentRecordArn": incident},
        )


def stage_job_statuses(server: RunningServer) -> list[str]:
    with server.runtime.database.session() as session:
        return list(session.scalars(select(Job.status).where(Job.kind == STAGE_JOB)))


def test_resolved_incident_stops_engagements(server: RunningServer) -> None:
    owner = owner_tenant(server)
    contacts: Any = server.client("ssm-contacts", owner.keys)
    first, first_channel = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(5, (first, True)), contact_stage(5, (second, True))
    )
    response_plan = plan_engaging(owner, plan)
    incident = owner.client.start_incident(responsePlanArn=response_plan)["incidentRecordArn"]
    settle(server)
    # An engagement of another incident keeps running.
    unrelated = engage(contacts, plan, IncidentId=incident.replace("-", "0", 1) + "x")
    settle(server)
    [engagement] = contacts.list_engagements(IncidentId=incident)["Engagements"]
    assert len(page_messages(server, first_channel)) == 2

    enqueue_stop(server, incident)
    settle(server)

    described = contacts.describe_engagement(EngagementId=engagement["EngagementArn"])
    assert "StopTime" in described
    assert "StopTime" not in contacts.describe_engagement(EngagementId=unrelated)
    assert sorted(stage_job_statuses(server)) == [
        JobStatus.CANCELLED.value,
        JobStatus.PENDING.value,
    ]
    stopped = events(owner, incident, STOPPED)
    assert len(stopped) == 1
    assert stopped[0]["reason"] == f"Incident {incident} was resolved."

    # Stage 2 pages ``second`` once, for the unrelated engagement only.
    advance(server, minutes=10)
    assert len(page_messages(server, second_channel)) == 1

    # A second stop job finds nothing left to stop.
    enqueue_stop(server, incident)
    settle(server)
    assert len(events(owner, incident, STOPPED)) == 1
