"""Jobs that an incident's start enqueues: engagements, the runbook and notifications.

Each job carries a key derived from the incident and the target, so a
retried or deduplicated StartIncident never enqueues the same work twice.

NOTE: only ``incidents.start_engagement`` has a handler (in the contacts
package). The runbook and notification kinds get theirs with those
services. Until then the engine leaves such jobs pending, and the auditor
reports them once they are overdue.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import request_wake
from tocsin.incidents.models import ResponsePlan

logger = logging.getLogger(__name__)

START_ENGAGEMENT_JOB = "incidents.start_engagement"
START_RUNBOOK_JOB = "incidents.start_runbook"
NOTIFY_JOB = "incidents.notify"

# INSERT ... ON CONFLICT (key) DO NOTHING by dialect name, so that a job key
# that exists already leaves the existing job unchanged, as ``enqueue`` does.
_JOBS = cast(Table, Job.__table__)
_INSERT_JOBS: dict[str, Insert] = {
    "postgresql": postgresql.insert(_JOBS).on_conflict_do_nothing(index_elements=["key"]),
    "sqlite": sqlite.insert(_JOBS).on_conflict_do_nothing(index_elements=["key"]),
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _key(incident: Mapping[str, Any], purpose: str, target: str) -> str:
    account_id, record_id = incident["account_id"], incident["record_id"]
    return f"incidents:{account_id}:{record_id}:{purpose}:{_digest(target)}"


def start_jobs(
    incident: Mapping[str, Any],
    plan: ResponsePlan,
    *,
    impacted_account: str,
    involved_resources: list[str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Build the job rows of a new incident's engagements, runbook and notifications.

    ``incident`` is the incident's row as ``records`` builds it. The rows go
    to ``insert_jobs``.
    """
    base: dict[str, Any] = {
        "incidentRecordArn": incident["arn"],
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
    for target in incident["notification_targets"]:
        topic = target["snsTopicArn"]
        payload = {**base, "topicArn": topic, "channel": "notificationTarget", "event": "started"}
        jobs.append((NOTIFY_JOB, topic, payload))
    for topic in (incident["chat_channel"] or {}).get("chatbotSns", []):
        payload = {**base, "topicArn": topic, "channel": "chatChannel", "event": "started"}
        jobs.append((NOTIFY_JOB, topic, payload))

    return [
        {
            "kind": kind,
            "payload": payload,
            "account_id": incident["account_id"],
            "key": _key(incident, kind.rsplit(".", 1)[-1], target),
            "status": JobStatus.PENDING.value,
            "due_at": now,
            "attempts": 0,
            "max_attempts": None,
            "fencing_token": 0,
            "created_at": now,
            "updated_at": now,
        }
        for kind, target, payload in jobs
    ]


def insert_jobs(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert job rows from ``start_jobs`` in the caller's transaction and wake the workers.

    A row whose key exists already is skipped, as ``tocsin.engine.queue.enqueue``
    skips it. Workers wake when the transaction commits.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    session.connection().execute(_INSERT_JOBS[dialect], list(rows))
    request_wake(session)
