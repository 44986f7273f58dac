"""Jobs that an incident's start enqueues: engagements, the runbook and notifications.

Each job carries a key derived from the incident and the target, so a
retried or deduplicated StartIncident never enqueues the same work twice.

NOTE: the handlers of these job kinds come with the engagement, runbook and
notification services. Until then no handler is registered for them, so
the engine leaves the jobs pending, and the auditor reports them once they
are overdue.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.queue import enqueue
from tocsin.incidents.models import IncidentRecord, ResponsePlan

logger = logging.getLogger(__name__)

START_ENGAGEMENT_JOB = "incidents.start_engagement"
START_RUNBOOK_JOB = "incidents.start_runbook"
NOTIFY_JOB = "incidents.notify"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _key(incident: IncidentRecord, purpose: str, target: str) -> str:
    return f"incidents:{incident.account_id}:{incident.record_id}:{purpose}:{_digest(target)}"


def enqueue_start_jobs(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    plan: ResponsePlan,
    *,
    impacted_account: str,
    involved_resources: list[str],
) -> int:
    """Enqueue the engagements, runbook and notifications of a new incident; return the count."""
    base: dict[str, Any] = {
        "incidentRecordArn": incident.arn,
        "responsePlanArn": plan.arn,
    }
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    for contact_arn in plan.engagements:
        jobs.append((START_ENGAGEMENT_JOB, contact_arn, {**base, "contactArn": contact_arn}))
    for action in plan.actions:
        payload = {
            **base,
            "ssmAutomation": action["ssmAutomation"],
            "impactedAccount": impacted_account,
            "involvedResources": involved_resources,
        }
        jobs.append((START_RUNBOOK_JOB, action["ssmAutomation"]["documentName"], payload))
    for target in incident.notification_targets:
        topic = target["snsTopicArn"]
        payload = {**base, "topicArn": topic, "channel": "notificationTarget", "event": "started"}
        jobs.append((NOTIFY_JOB, topic, payload))
    for topic in (incident.chat_channel or {}).get("chatbotSns", []):
        payload = {**base, "topicArn": topic, "channel": "chatChannel", "event": "started"}
        jobs.append((NOTIFY_JOB, topic, payload))

    for kind, target, payload in jobs:
        enqueue(
            session,
            clock,
            kind,
            payload,
            due_at=clock.now(),
            key=_key(incident, kind.rsplit(".", 1)[-1], target),
            account_id=incident.account_id,
        )
    if jobs:
        logger.info("enqueued %d start jobs for incident %s", len(jobs), incident.arn)
    return len(jobs)
