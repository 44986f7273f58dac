"""Incident records: starting incidents from response plans, deduplication and updates.

Deduplication: an OPEN incident stores digests of its dedupe string and of
its trigger ARN in ``open_dedupe_key`` and ``open_trigger_key``, which are
unique per account and cleared when it is resolved. A trigger whose dedupe
string or trigger ARN matches an open incident of the plan owner's account
joins that incident. When two triggers race, the database rejects the
second insert, the dispatcher runs the request again, and the second run
finds and joins the incident that the first created.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.incidents import automation, plans, related, tags, timeline
from tocsin.incidents.arns import IncidentsArn, incident_arn, not_found
from tocsin.incidents.models import IncidentRecord, ResponsePlan

logger = logging.getLogger(__name__)

CUSTOM_SOURCE = "aws.ssm-incidents.custom"
# UpdateIncidentRecord members and the attributes they set.
UPDATABLE = {
    "title": "title",
    "summary": "summary",
    "impact": "impact",
    "status": "status",
    "chatChannel": "chat_channel",
    "notificationTargets": "notification_targets",
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def find_by_arn(session: Session, arn: str) -> IncidentRecord | None:
    return session.scalar(select(IncidentRecord).where(IncidentRecord.arn == arn))


def get(session: Session, parsed: IncidentsArn) -> IncidentRecord:
    """Return the incident that ``parsed`` names, or raise ResourceNotFoundException."""
    incident = find_by_arn(session, parsed.arn)
    if incident is None:
        raise not_found("INCIDENT_RECORD", parsed.arn, "Incident record")
    return incident


def _find_open(
    session: Session, account_id: str, dedupe_key: str | None, trigger_key: str | None
) -> IncidentRecord | None:
    matches = []
    if dedupe_key is not None:
        matches.append(IncidentRecord.open_dedupe_key == dedupe_key)
    if trigger_key is not None:
        matches.append(IncidentRecord.open_trigger_key == trigger_key)
    if not matches:
        return None
    found = session.scalars(
        select(IncidentRecord)
        .where(IncidentRecord.account_id == account_id, or_(*matches))
        .order_by(IncidentRecord.id)
    ).all()
    # A dedupe string match wins over a trigger ARN match.
    for incident in found:
        if dedupe_key is not None and incident.open_dedupe_key == dedupe_key:
            return incident
    return found[0] if found else None


def start(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    params: Mapping[str, Any],
    *,
    caller_arn: str,
    caller_account: str,
) -> IncidentRecord:
    """Start an incident from StartIncident's parameters, or join an open duplicate.

    NOTE: this costs about 10 ms of CPU per new incident (docs/benchmarks.md),
    mostly in four ORM flushes, far from the target of a third of the
    database's insert rate; batching the inserts is the next step.
    """
    template = plan.incident_template
    trigger = params.get("triggerDetails") or {}
    trigger_arn = trigger.get("triggerArn")
    dedupe_string = template.get("dedupeString") or str(uuid.uuid4())
    dedupe_key = _digest(dedupe_string)
    trigger_key = _digest(trigger_arn) if trigger_arn else None

    existing = _find_open(session, plan.account_id, dedupe_key, trigger_key)
    if existing is not None:
        _join(session, clock, existing, trigger, caller_arn)
        return existing

    now = clock.now()
    record_id = str(uuid.uuid4())
    incident = IncidentRecord(
        account_id=plan.account_id,
        plan_name=plan.name,
        record_id=record_id,
        arn=incident_arn(plan.account_id, plan.name, record_id),
        title=params.get("title") or template["title"],
        summary=template.get("summary"),
        impact=params.get("impact") or template["impact"],
        status="OPEN",
        dedupe_string=dedupe_string,
        open_dedupe_key=dedupe_key,
        open_trigger_key=trigger_key,
        trigger_count=1,
        source=trigger.get("source") or CUSTOM_SOURCE,
        created_by=caller_arn,
        invoked_by=None,
        resource_arn=trigger_arn,
        chat_channel=plan.chat_channel,
        notification_targets=list(template.get("notificationTargets", [])),
        automation_executions=[],
        creation_time=now,
        last_modified_by=caller_arn,
        last_modified_time=now,
        resolved_time=None,
    )
    session.add(incident)
    # Flush now, so that a concurrent duplicate fails here on the unique keys.
    session.flush()

    created = {
        "createdBy": caller_arn,
        "responsePlanArn": plan.arn,
        "title": incident.title,
        "impact": incident.impact,
        "status": incident.status,
        "dedupeString": dedupe_string,
    }
    timeline.add(session, clock, incident, timeline.CREATED_EVENT, created, event_time=now)
    _add_trigger_event(session, clock, incident, trigger, caller_arn, count=1)

    for item in params.get("relatedItems", []):
        related.add(session, clock, incident, item)
    involved = related.involved_resources(trigger.get("rawData"))
    for arn in involved:
        item = {"identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": arn}}}
        related.add(session, clock, incident, item)
    if template.get("incidentTags"):
        tags.tag(session, plan.account_id, incident.arn, template["incidentTags"])

    involved_arns = [
        item["identifier"]["value"]["arn"]
        for item in params.get("relatedItems", [])
        if item["identifier"]["type"] == "INVOLVED_RESOURCE"
        and "arn" in item["identifier"]["value"]
    ]
    automation.enqueue_start_jobs(
        session,
        clock,
        incident,
        plan,
        impacted_account=caller_account,
        involved_resources=list(dict.fromkeys(involved_arns + involved)),
    )
    logger.info(
        "started incident %s from %s for %s (source %s)",
        incident.arn,
        plan.arn,
        caller_arn,
        incident.source,
    )
    return incident


def _add_trigger_event(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    trigger: Mapping[str, Any],
    caller_arn: str,
    *,
    count: int,
) -> None:
    timestamp = trigger.get("timestamp") or clock.now()
    data: dict[str, Any] = {
        "source": trigger.get("source") or CUSTOM_SOURCE,
        "timestamp": timestamp.isoformat(),
        "triggerCount": count,
        "createdBy": caller_arn,
    }
    references = []
    if trigger.get("triggerArn"):
        data["triggerArn"] = trigger["triggerArn"]
        references.append({"resource": trigger["triggerArn"]})
    if "rawData" in trigger:
        data["rawData"] = trigger["rawData"]
    timeline.add(
        session,
        clock,
        incident,
        timeline.TRIGGER_EVENT,
        data,
        event_time=timestamp,
        references=references,
    )


def _join(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    trigger: Mapping[str, Any],
    caller_arn: str,
) -> None:
    # The increment runs in SQL, so concurrent joins do not lose counts.
    count = session.execute(
        update(IncidentRecord)
        .where(IncidentRecord.id == incident.id)
        .values(trigger_count=IncidentRecord.trigger_count + 1)
        .returning(IncidentRecord.trigger_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.expire(incident, ["trigger_count"])
    _add_trigger_event(session, clock, incident, trigger, caller_arn, count=count)
    logger.info(
        "trigger from %s joined open incident %s (trigger %d)", caller_arn, incident.arn, count
    )


def update_record(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    params: Mapping[str, Any],
    caller_arn: str,
) -> list[str]:
    """Apply UpdateIncidentRecord's parameters and return the names of the changed members."""
    if "notificationTargets" in params or "chatChannel" in params:
        plans.check_notification_targets(
            incident.account_id, params.get("notificationTargets", []), params.get("chatChannel")
        )
    now = clock.now()
    changed = []
    for member, attribute in UPDATABLE.items():
        if member not in params:
            continue
        new = params[member]
        if member == "chatChannel" and "empty" in new:
            new = None
        old = getattr(incident, attribute)
        if old == new:
            continue
        setattr(incident, attribute, new)
        changed.append(member)
        data = {"modifiedBy": caller_arn, "attribute": member, "oldValue": old, "newValue": new}
        timeline.add(session, clock, incident, timeline.UPDATE_EVENT, data, event_time=now)
        if member == "status":
            _apply_status(session, incident, now)
    incident.last_modified_by = caller_arn
    incident.last_modified_time = now
    logger.info("updated incident %s: %s", incident.arn, changed or "no changes")
    return changed


def _apply_status(session: Session, incident: IncidentRecord, now: Any) -> None:
    if incident.status == "RESOLVED":
        incident.resolved_time = now
        incident.open_dedupe_key = None
        incident.open_trigger_key = None
        logger.info("resolved incident %s", incident.arn)
        return
    incident.resolved_time = None
    # A reopened incident takes its keys back only if no other open incident
    # has taken them meanwhile; otherwise new triggers keep joining the other one.
    dedupe_key = _digest(incident.dedupe_string)
    trigger_key = _digest(incident.resource_arn) if incident.resource_arn else None
    if _find_open(session, incident.account_id, dedupe_key, None) is None:
        incident.open_dedupe_key = dedupe_key
    if (
        trigger_key is not None
        and _find_open(session, incident.account_id, None, trigger_key) is None
    ):
        incident.open_trigger_key = trigger_key
    logger.info("reopened incident %s", incident.arn)


def delete_record(session: Session, incident: IncidentRecord) -> None:
    timeline.delete_all(session, incident)
    related.delete_all(session, incident)
    tags.delete_all(session, incident.arn)
    session.delete(incident)
    logger.info("deleted incident %s", incident.arn)


def _source(incident: IncidentRecord) -> dict[str, Any]:
    source = {"createdBy": incident.created_by, "source": incident.source}
    if incident.invoked_by:
        source["invokedBy"] = incident.invoked_by
    if incident.resource_arn:
        source["resourceArn"] = incident.resource_arn
    return source


def summarize(incident: IncidentRecord) -> dict[str, Any]:
    """Return the IncidentRecordSummary of ``incident``."""
    output: dict[str, Any] = {
        "arn": incident.arn,
        "creationTime": incident.creation_time,
        "impact": incident.impact,
        "incidentRecordSource": _source(incident),
        "status": incident.status,
        "title": incident.title,
    }
    if incident.resolved_time is not None:
        output["resolvedTime"] = incident.resolved_time
    return output


def describe(incident: IncidentRecord) -> dict[str, Any]:
    """Return the IncidentRecord structure of ``incident``."""
    output = summarize(incident)
    output.update(
        {
            "dedupeString": incident.dedupe_string,
            "lastModifiedBy": incident.last_modified_by,
            "lastModifiedTime": incident.last_modified_time,
            "automationExecutions": incident.automation_executions,
            "notificationTargets": incident.notification_targets,
        }
    )
    if incident.summary is not None:
        output["summary"] = incident.summary
    if incident.chat_channel is not None:
        output["chatChannel"] = incident.chat_channel
    return output


tags.register_taggable("INCIDENT_RECORD", get)
