"""Jobs that an incident enqueues: engagements, the runbook and notifications.

Each job carries a key derived from the incident and the target, so a
retried or deduplicated StartIncident never enqueues the same work twice.

An incident's start, and each UpdateIncidentRecord that changes its title,
summary, impact or status, enqueues one ``incidents.notify`` job per SNS
topic of its notification targets and chat channel, and one more whose
``channel`` is ``chatWebhooks`` when the response plan has the tag
``tocsin:chat-webhooks`` that names chat webhooks. The notify package
handles them. A resolution also enqueues ``contacts.stop_incident_engagements``,
which the contacts package handles.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.dml import Insert

from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import request_wake
from tocsin.incidents.arns import plan_arn
from tocsin.incidents.models import IncidentRecord, IncidentTag, ResponsePlan

logger = logging.getLogger(__name__)

START_ENGAGEMENT_JOB = "incidents.start_engagement"
START_RUNBOOK_JOB = "incidents.start_runbook"
NOTIFY_JOB = "incidents.notify"
STOP_ENGAGEMENTS_JOB = "contacts.stop_incident_engagements"
# Values of a notify job's ``channel``.
NOTIFICATION_TARGET = "notificationTarget"
CHAT_CHANNEL = "chatChannel"
CHAT_WEBHOOKS = "chatWebhooks"
# Values of a notify job's ``event``.
CREATED, UPDATED, RESOLVED = "created", "updated", "resolved"
# Response plan tag that names the plan's chat webhooks.
CHAT_WEBHOOKS_TAG = "tocsin:chat-webhooks"
# Incident members whose change is notified.
NOTIFIED_MEMBERS = ("title", "summary", "impact", "status")

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
    for target, payload in _notify_payloads(
        base,
        incident["notification_targets"],
        incident["chat_channel"],
        CREATED,
        chat_webhooks=_has_chat_webhooks(object_session(plan), plan.arn),
    ):
        jobs.append((NOTIFY_JOB, target, payload))
    return [
        _row(
            incident["account_id"],
            kind,
            _key(incident, kind.rsplit(".", 1)[-1], target),
            payload,
            now,
        )
        for kind, target, payload in jobs
    ]


def _notify_payloads(
    base: Mapping[str, Any],
    targets: Sequence[Mapping[str, Any]],
    chat_channel: Mapping[str, Any] | None,
    event: str,
    *,
    chat_webhooks: bool,
) -> list[tuple[str, dict[str, Any]]]:
    """Return (target, payload) of each notify job of one incident event."""
    payloads = []
    for target in targets:
        topic = target["snsTopicArn"]
        payloads.append(
            (topic, {**base, "topicArn": topic, "channel": NOTIFICATION_TARGET, "event": event})
        )
    for topic in (chat_channel or {}).get("chatbotSns", []):
        payloads.append(
            (topic, {**base, "topicArn": topic, "channel": CHAT_CHANNEL, "event": event})
        )
    if chat_webhooks:
        payloads.append((CHAT_WEBHOOKS, {**base, "channel": CHAT_WEBHOOKS, "event": event}))
    return payloads


def _has_chat_webhooks(session: Session | None, response_plan_arn: str) -> bool:
    """Return whether the plan has the chat webhooks tag, or True without a session.

    Without a session the notify job reads the tag, and finds none or some.
    """
    if session is None:
        return True
    return session.get(IncidentTag, (response_plan_arn, CHAT_WEBHOOKS_TAG)) is not None


def _row(
    account_id: str, kind: str, key: str, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "kind": kind,
        "payload": payload,
        "account_id": account_id,
        "key": key,
        "status": JobStatus.PENDING.value,
        "due_at": now,
        "attempts": 0,
        "max_attempts": None,
        "fencing_token": 0,
        "created_at": now,
        "updated_at": now,
    }


def update_jobs(
    incident: IncidentRecord,
    changes: Sequence[Mapping[str, Any]],
    *,
    request_key: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """Build the notify job rows of an UpdateIncidentRecord that changed ``changes``.

    ``changes`` are the ``attribute``, ``oldValue`` and ``newValue`` of each
    changed member. Only changes of the title, summary, impact and status
    are notified, so without them no jobs are built. ``request_key``
    names the update: the request's clientToken, which a retried request
    repeats, or the id of a timeline event that the update wrote. The event
    is ``resolved`` when the status became RESOLVED, else ``updated``.
    """
    notified = [dict(change) for change in changes if change["attribute"] in NOTIFIED_MEMBERS]
    if not notified:
        return []
    resolved = any(
        change["attribute"] == "status" and change["newValue"] == "RESOLVED" for change in notified
    )
    event = RESOLVED if resolved else UPDATED
    response_plan_arn = plan_arn(incident.account_id, incident.plan_name)
    base = {
        "incidentRecordArn": incident.arn,
        "responsePlanArn": response_plan_arn,
        "changes": notified,
    }
    chat_webhooks = _has_chat_webhooks(object_session(incident), response_plan_arn)
    purpose = f"notify-{event}-{_digest(request_key)}"
    return [
        _row(
            incident.account_id,
            NOTIFY_JOB,
            f"incidents:{incident.account_id}:{incident.record_id}:{purpose}:{_digest(target)}",
            payload,
            now,
        )
        for target, payload in _notify_payloads(
            base,
            incident.notification_targets,
            incident.chat_channel,
            event,
            chat_webhooks=chat_webhooks,
        )
    ]


def stop_engagements_job(incident: IncidentRecord, now: datetime) -> dict[str, Any]:
    """Build the job row that stops the engagements of a resolved incident.

    The key names the resolution's time, so an incident that is reopened and
    resolved again stops the engagements started in between as well.
    """
    key = f"contacts:stop:{incident.account_id}:{incident.record_id}:{now.isoformat()}"
    payload = {"incidentRecordArn": incident.arn}
    return _row(incident.account_id, STOP_ENGAGEMENTS_JOB, key, payload, now)


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
