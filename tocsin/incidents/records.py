"""Incident records: starting incidents from response plans, deduplication and updates.

Deduplication: an OPEN incident stores digests of its dedupe string and of
its trigger in ``open_dedupe_key`` and ``open_trigger_key``, which are
unique per account and cleared when it is resolved. The trigger is the
trigger ARN, together with the alert group for webhook alerts that carry a
group key (see ``trigger_key``). A trigger whose dedupe string or trigger
matches an open incident of the plan owner's account joins that incident.
When two triggers race, the database rejects the second insert, the
dispatcher runs the request again, and the second run finds and joins the
incident that the first created.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, or_, select, update
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

# Statements of the StartIncident path are built once, because building a
# statement costs more CPU than running it.
_INCIDENTS = cast(Table, IncidentRecord.__table__)
_INSERT_ONE = insert(_INCIDENTS).returning(_INCIDENTS.c.id)
_INSERT_MANY = insert(_INCIDENTS).returning(_INCIDENTS.c.id, _INCIDENTS.c.arn)
_OPEN_COLUMNS = (_INCIDENTS.c.id, _INCIDENTS.c.arn, _INCIDENTS.c.open_dedupe_key)
_FIND_OPEN = {
    (True, False): select(*_OPEN_COLUMNS).where(
        _INCIDENTS.c.account_id == bindparam("account_id"),
        _INCIDENTS.c.open_dedupe_key == bindparam("dedupe_key"),
    ),
    (False, True): select(*_OPEN_COLUMNS).where(
        _INCIDENTS.c.account_id == bindparam("account_id"),
        _INCIDENTS.c.open_trigger_key == bindparam("trigger_key"),
    ),
    (True, True): select(*_OPEN_COLUMNS)
    .where(
        _INCIDENTS.c.account_id == bindparam("account_id"),
        or_(
            _INCIDENTS.c.open_dedupe_key == bindparam("dedupe_key"),
            _INCIDENTS.c.open_trigger_key == bindparam("trigger_key"),
        ),
    )
    .order_by(_INCIDENTS.c.id),
}
# The increment runs in SQL, so concurrent joins do not lose counts.
_COUNT_TRIGGER = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("incident_pk"))
    .values(trigger_count=_INCIDENTS.c.trigger_count + 1)
    .returning(_INCIDENTS.c.trigger_count)
)


@dataclass
class NewIncident:
    """The rows of an incident that StartIncident creates, built before any is inserted.

    ``row`` is the ``incident_records`` row. ``events``, ``related_items`` and
    ``jobs`` are the rows of its timeline, related items and start jobs, and
    ``tags`` are the plan's incident tags. ``insert_new`` sets the incident key
    of the events and related items.
    """

    row: dict[str, Any]
    events: list[dict[str, Any]]
    related_items: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    tags: Mapping[str, str]

    @property
    def arn(self) -> str:
        arn: str = self.row["arn"]
        return arn


@dataclass(frozen=True)
class StartedIncident:
    """The incident that a StartIncident call created, or the open one that it joined."""

    id: int
    arn: str
    created: bool


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def trigger_key(trigger_arn: str | None, alert_group: str | None) -> str | None:
    """Return the ``open_trigger_key`` of an incident of ``trigger_arn``, or None without one.

    Each alert group gets its own key, so the groups that one rule routes
    start separate incidents, and repeats of a group join its incident.
    """
    if not trigger_arn:
        return None
    if alert_group is None:
        return _digest(trigger_arn)
    return _digest(f"{trigger_arn}\n{alert_group}")


def _arn_region(arn: str | None) -> str | None:
    """Return the Region field of ``arn``, or None when it has none or is not an ARN."""
    parts = arn.split(":", 5) if arn else []
    if len(parts) < 6 or parts[0] != "arn" or not parts[3]:
        return None
    return parts[3][:32]


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
) -> Row[int, str, str | None] | None:
    """Return (id, arn, open_dedupe_key) of the open incident that the keys match, if any."""
    if dedupe_key is None and trigger_key is None:
        return None
    statement = _FIND_OPEN[(dedupe_key is not None, trigger_key is not None)]
    parameters = {"account_id": account_id, "dedupe_key": dedupe_key, "trigger_key": trigger_key}
    found = session.execute(statement, parameters).all()
    # A dedupe string match wins over a trigger ARN match.
    for incident in found:
        if dedupe_key is not None and incident.open_dedupe_key == dedupe_key:
            return incident
    return found[0] if found else None


def build(
    plan: ResponsePlan,
    params: Mapping[str, Any],
    *,
    caller_arn: str,
    caller_account: str,
    now: datetime,
    impacted_account: str | None = None,
    alert_group: str | None = None,
    region: str | None = None,
    invoked_by: str | None = None,
) -> NewIncident:
    """Build the rows of a new incident from StartIncident's parameters, without the database.

    ``impacted_account``, the account whose runbooks run for IMPACTED_ACCOUNT
    actions and whose deployments are findings, defaults to the caller's.
    ``alert_group`` is the group of the webhook alert that starts the
    incident, if any. ``region`` defaults to the Region of the trigger ARN, if
    it names one. ``invoked_by`` is the service principal recorded as
    ``invokedBy``. Raises ValidationException for a related item whose
    identifier is invalid.
    """
    template = plan.incident_template
    trigger = params.get("triggerDetails") or {}
    trigger_arn = trigger.get("triggerArn")
    impacted_account = impacted_account or caller_account
    dedupe_string = template.get("dedupeString") or str(uuid.uuid4())
    record_id = str(uuid.uuid4())
    row: dict[str, Any] = {
        "account_id": plan.account_id,
        "plan_name": plan.name,
        "record_id": record_id,
        "arn": incident_arn(plan.account_id, plan.name, record_id),
        "title": params.get("title") or template["title"],
        "summary": template.get("summary"),
        "impact": params.get("impact") or template["impact"],
        "status": "OPEN",
        "dedupe_string": dedupe_string,
        "open_dedupe_key": _digest(dedupe_string),
        "open_trigger_key": trigger_key(trigger_arn, alert_group),
        "trigger_count": 1,
        "source": trigger.get("source") or CUSTOM_SOURCE,
        "impacted_account_id": impacted_account,
        "region": region or _arn_region(trigger_arn),
        "created_by": caller_arn,
        "invoked_by": invoked_by,
        "resource_arn": trigger_arn,
        "alert_group": alert_group,
        "chat_channel": plan.chat_channel,
        "notification_targets": list(template.get("notificationTargets", [])),
        "automation_executions": [],
        "creation_time": now,
        "last_modified_by": caller_arn,
        "last_modified_time": now,
        "resolved_time": None,
    }

    created = {
        "createdBy": caller_arn,
        "responsePlanArn": plan.arn,
        "title": row["title"],
        "impact": row["impact"],
        "status": row["status"],
        "dedupeString": dedupe_string,
    }
    events = [
        timeline.new_event(timeline.CREATED_EVENT, created, now=now, event_time=now),
        _trigger_event(trigger, caller_arn, count=1, now=now),
    ]

    requested = list(params.get("relatedItems", []))
    involved = related.involved_resources(trigger.get("rawData"))
    items = [related.new_item(item, now=now) for item in requested]
    for arn in involved:
        item = {"identifier": {"type": "INVOLVED_RESOURCE", "value": {"arn": arn}}}
        items.append(related.new_item(item, now=now))

    involved_arns = [
        item["identifier"]["value"]["arn"]
        for item in requested
        if item["identifier"]["type"] == "INVOLVED_RESOURCE"
        and "arn" in item["identifier"]["value"]
    ]
    jobs = automation.start_jobs(
        row,
        plan,
        impacted_account=impacted_account,
        involved_resources=list(dict.fromkeys(involved_arns + involved)),
        now=now,
    )
    return NewIncident(
        row=row,
        events=events,
        related_items=related.unique_items(items),
        jobs=jobs,
        tags=template.get("incidentTags") or {},
    )


def insert_new(session: Session, incidents: Sequence[NewIncident]) -> list[int]:
    """Insert incidents from ``build`` with all their rows; return their keys in order.

    Everything goes into the caller's transaction with one statement per
    table, and one more per timeline event that has references. A concurrent
    open incident with the same dedupe or trigger key makes the incident
    insert raise IntegrityError.
    """
    if not incidents:
        return []
    connection = session.connection()
    if len(incidents) == 1:
        keys = [connection.execute(_INSERT_ONE, incidents[0].row).scalar_one()]
    else:
        rows = connection.execute(_INSERT_MANY, [new.row for new in incidents]).all()
        key_by_arn = {arn: key for key, arn in rows}
        keys = [key_by_arn[new.arn] for new in incidents]

    events: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    for new, key in zip(incidents, keys, strict=True):
        for event in new.events:
            event["incident_id"] = key
        for item in new.related_items:
            item["incident_id"] = key
        events += new.events
        items += new.related_items
        jobs += new.jobs
        if new.tags:
            tags.tag(session, new.row["account_id"], new.arn, new.tags)
    timeline.insert_events(session, events)
    related.insert_items(session, items)
    automation.insert_jobs(session, jobs)
    return keys


def start(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    params: Mapping[str, Any],
    *,
    caller_arn: str,
    caller_account: str,
    impacted_account: str | None = None,
    alert_group: str | None = None,
    region: str | None = None,
    invoked_by: str | None = None,
) -> StartedIncident:
    """Start an incident from StartIncident's parameters, or join an open duplicate."""
    now = clock.now()
    new = build(
        plan,
        params,
        caller_arn=caller_arn,
        caller_account=caller_account,
        now=now,
        impacted_account=impacted_account,
        alert_group=alert_group,
        region=region,
        invoked_by=invoked_by,
    )
    row = new.row

    # A dedupe string that ``build`` generated is a fresh random UUID, which no
    # open incident has, so only the template's string or a trigger ARN can match.
    if plan.incident_template.get("dedupeString") or row["open_trigger_key"]:
        existing = _find_open(
            session, plan.account_id, row["open_dedupe_key"], row["open_trigger_key"]
        )
        if existing is not None:
            trigger = params.get("triggerDetails") or {}
            _join(session, existing.id, existing.arn, trigger, caller_arn, now)
            return StartedIncident(existing.id, existing.arn, created=False)

    (key,) = insert_new(session, [new])
    logger.info(
        "started incident %s from %s for %s (source %s, %d start jobs)",
        new.arn,
        plan.arn,
        caller_arn,
        row["source"],
        len(new.jobs),
    )
    return StartedIncident(key, new.arn, created=True)


def _trigger_event(
    trigger: Mapping[str, Any], caller_arn: str, *, count: int, now: datetime
) -> dict[str, Any]:
    timestamp = trigger.get("timestamp") or now
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
    return timeline.new_event(
        timeline.TRIGGER_EVENT, data, now=now, event_time=timestamp, references=references
    )


def _join(
    session: Session,
    incident_pk: int,
    arn: str,
    trigger: Mapping[str, Any],
    caller_arn: str,
    now: datetime,
) -> None:
    connection = session.connection()
    count = connection.execute(_COUNT_TRIGGER, {"incident_pk": incident_pk}).scalar_one()
    event = _trigger_event(trigger, caller_arn, count=count, now=now)
    event["incident_id"] = incident_pk
    timeline.insert_events(session, [event])
    logger.info("trigger from %s joined open incident %s (trigger %d)", caller_arn, arn, count)


def update_record(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    params: Mapping[str, Any],
    caller_arn: str,
    *,
    other_accounts_topics: bool = False,
) -> list[str]:
    """Apply UpdateIncidentRecord's parameters and return the names of the changed members.

    A change of the title, summary, impact or status enqueues the incident's
    notifications in the same transaction. ``other_accounts_topics`` lets
    notification targets name SNS topics of other accounts.
    """
    if "notificationTargets" in params or "chatChannel" in params:
        plans.check_notification_targets(
            incident.account_id,
            params.get("notificationTargets", []),
            params.get("chatChannel"),
            other_accounts=other_accounts_topics,
        )
    now = clock.now()
    changed = []
    changes: list[dict[str, Any]] = []
    event_ids: list[str] = []
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
        event = timeline.add(session, clock, incident, timeline.UPDATE_EVENT, data, event_time=now)
        event_ids.append(event.event_id)
        changes.append({"attribute": member, "oldValue": old, "newValue": new})
        if member == "status":
            _apply_status(session, incident, now)
    incident.last_modified_by = caller_arn
    incident.last_modified_time = now

    # A retried request with the same clientToken gets the stored response and
    # runs nothing, so the token or this update's first event names it.
    if event_ids:
        request_key = params.get("clientToken") or event_ids[0]
        jobs = automation.update_jobs(incident, changes, request_key=request_key, now=now)
        automation.insert_jobs(session, jobs)
    logger.info("updated incident %s: %s", incident.arn, changed or "no changes")
    return changed


def _apply_status(session: Session, incident: IncidentRecord, now: Any) -> None:
    if incident.status == "RESOLVED":
        incident.resolved_time = now
        incident.open_dedupe_key = None
        incident.open_trigger_key = None
        automation.insert_jobs(session, [automation.stop_engagements_job(incident, now)])
        logger.info("resolved incident %s", incident.arn)
        return
    incident.resolved_time = None
    # A reopened incident takes its keys back only if no other open incident
    # has taken them meanwhile; otherwise new triggers keep joining the other one.
    dedupe_key = _digest(incident.dedupe_string)
    reopened_trigger_key = trigger_key(incident.resource_arn, incident.alert_group)
    if _find_open(session, incident.account_id, dedupe_key, None) is None:
        incident.open_dedupe_key = dedupe_key
    if (
        reopened_trigger_key is not None
        and _find_open(session, incident.account_id, None, reopened_trigger_key) is None
    ):
        incident.open_trigger_key = reopened_trigger_key
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
