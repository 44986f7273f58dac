"""Incident findings: the deployments and stack updates that may have caused an incident.

A finding is one CodeDeploy deployment or one CloudFormation stack creation
or update, built from the stored deployment events (see ``deployments``),
in the incident's impacted account or its owner account and in the
incident's Region. It belongs to an incident when its activity overlaps the
window of ``window`` before the incident's creation time: it started no
later than the creation time and was still running, or ended, at or after
the window's start. Findings are computed when they are read, so an event
that arrives later, such as the end of a deployment, updates them.

The events of one finding are grouped so:

- CodeDeploy events by deployment id;
- stack events by stack and ``client-request-token``. Events without a
  token are split at each status that opens an operation
  (CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS, IMPORT_IN_PROGRESS).

NOTE: AWS relates findings to an incident through the resources that a
deployment or a stack touches, which its service role reads from CodeDeploy
and CloudFormation. Tocsin receives only the events, so every deployment of
the accounts in the window is a finding, whatever resources the incident names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.deployments import (
    CODE_DEPLOY,
    CODE_DEPLOY_FINAL_STATES,
    STACK_START_STATUSES,
    is_stack_final,
)
from tocsin.incidents.finding_models import DeploymentEvent
from tocsin.incidents.models import IncidentRecord

# Maximum duration of a deployment or stack operation that findings account
# for. Events this long before the window or after the creation time are not
# read, so an older deployment that was still running is not found.
MAX_ACTIVITY = timedelta(hours=24)


@dataclass(frozen=True)
class Activity:
    """One deployment or stack operation, summarized from its events."""

    finding_id: str
    kind: str
    resource_arn: str
    deployment_id: str | None
    start_time: datetime
    end_time: datetime | None
    first_received_at: datetime
    last_received_at: datetime


@dataclass(frozen=True)
class Finding:
    """An activity as a finding of one incident, with the finding's own timestamps."""

    activity: Activity
    creation_time: datetime
    last_modified_time: datetime

    @property
    def id(self) -> str:
        return self.activity.finding_id

    def summary(self) -> dict[str, Any]:
        """Return the FindingSummary structure."""
        return {"id": self.id, "lastModifiedTime": self.last_modified_time}

    def describe(self) -> dict[str, Any]:
        """Return the Finding structure, with the FindingDetails member of its kind."""
        activity = self.activity
        details: dict[str, Any] = {"startTime": activity.start_time}
        if activity.kind == CODE_DEPLOY:
            details["deploymentGroupArn"] = activity.resource_arn
            details["deploymentId"] = activity.deployment_id
        else:
            details["stackArn"] = activity.resource_arn
        if activity.end_time is not None:
            details["endTime"] = activity.end_time
        return {
            "id": self.id,
            "creationTime": self.creation_time,
            "lastModifiedTime": self.last_modified_time,
            "details": {activity.kind: details},
        }


def finding_id(account_id: str, region: str, kind: str, *identity: str) -> str:
    """Return the id of an activity: a digest of where it ran and what identifies it.

    The same deployment always gets the same id, in every incident it belongs to.
    """
    text = "\n".join((account_id, region, kind, *identity))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def _summarize(events: Sequence[DeploymentEvent], identity: Sequence[str], final: bool) -> Activity:
    """Build the activity of ``events``, which are sorted by event time."""
    first, last = events[0], events[-1]
    return Activity(
        finding_id=finding_id(first.account_id, first.region, first.kind, *identity),
        kind=first.kind,
        resource_arn=first.resource_arn,
        deployment_id=first.deployment_id,
        start_time=first.event_time,
        end_time=last.event_time if final else None,
        first_received_at=min(event.received_at for event in events),
        last_received_at=max(event.received_at for event in events),
    )


def _code_deploy_activities(events: Iterable[DeploymentEvent]) -> list[Activity]:
    groups: dict[tuple[str, str, str], list[DeploymentEvent]] = {}
    for event in events:
        key = (event.account_id, event.region, event.deployment_id or "")
        groups.setdefault(key, []).append(event)
    activities = []
    for (_, _, deployment_id), group in groups.items():
        final = group[-1].status in CODE_DEPLOY_FINAL_STATES
        activities.append(_summarize(group, (deployment_id,), final))
    return activities


def _stack_activities(events: Iterable[DeploymentEvent]) -> list[Activity]:
    groups: dict[tuple[str, ...], list[DeploymentEvent]] = {}
    # The group that token-less events of each stack join until the next start.
    open_groups: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for event in events:
        stack = (event.account_id, event.region, event.resource_arn)
        if event.operation_token is not None:
            key: tuple[str, ...] = (*stack, "token", event.operation_token)
        elif event.status in STACK_START_STATUSES or stack not in open_groups:
            key = (*stack, "started", event.event_id)
            open_groups[stack] = key
        else:
            key = open_groups[stack]
        groups.setdefault(key, []).append(event)
    activities = []
    for key, group in groups.items():
        activities.append(_summarize(group, key[2:], is_stack_final(group[-1].status)))
    return activities


def _scope(incident: IncidentRecord) -> tuple[list[str], str | None]:
    """Return the accounts whose deployments count for ``incident``, and its Region if known."""
    accounts = [incident.account_id]
    impacted = incident.impacted_account_id
    if impacted and impacted != incident.account_id:
        accounts.append(impacted)
    return accounts, incident.region


def incident_findings(
    session: Session, incident: IncidentRecord, window: timedelta
) -> list[Finding]:
    """Return the findings of ``incident``, sorted by start time and id."""
    created = incident.creation_time
    window_start = created - window
    accounts, region = _scope(incident)
    query = select(DeploymentEvent).where(
        DeploymentEvent.account_id.in_(accounts),
        DeploymentEvent.event_time >= window_start - MAX_ACTIVITY,
        DeploymentEvent.event_time <= created + MAX_ACTIVITY,
    )
    if region is not None:
        query = query.where(DeploymentEvent.region == region)
    events = list(session.scalars(query.order_by(DeploymentEvent.event_time, DeploymentEvent.id)))

    activities = _code_deploy_activities(e for e in events if e.kind == CODE_DEPLOY)
    activities += _stack_activities(e for e in events if e.kind != CODE_DEPLOY)
    findings = []
    for activity in activities:
        if activity.start_time > created:
            continue
        if activity.end_time is not None and activity.end_time < window_start:
            continue
        findings.append(
            Finding(
                activity,
                creation_time=max(created, activity.first_received_at),
                last_modified_time=max(created, activity.last_received_at),
            )
        )
    findings.sort(key=lambda finding: (finding.activity.start_time, finding.id))
    return findings
