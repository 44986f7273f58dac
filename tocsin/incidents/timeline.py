"""Timeline events of incidents: the ones the system writes and the ones callers add.

System events have these ``eventType`` values, each with JSON ``eventData``:

- ``SSM Incident Record Created``: ``createdBy``, ``responsePlanArn``,
  ``title``, ``impact``, ``status`` and ``dedupeString`` of the new incident.
- ``SSM Incident Trigger``: ``source``, ``timestamp`` (ISO 8601),
  ``triggerCount`` and ``createdBy``, plus ``triggerArn`` and ``rawData``
  when the trigger had them. ``rawData`` is the trigger's raw data string,
  unchanged, so a runbook decodes ``eventData`` and then ``rawData``.
- ``SSM Incident Record Update``: ``modifiedBy``, ``attribute``,
  ``oldValue`` and ``newValue``, one event per changed attribute; a
  resolution is a change of ``status`` to ``RESOLVED``.
- ``SSM Related Item Update``: ``modifiedBy``, ``action`` (``ADD`` or
  ``REMOVE``) and ``relatedItem``.

Tocsin also writes ``Tocsin Alert Group Update`` and ``Tocsin Webhook Quota
Exceeded`` events for inbound alerting webhooks (see
``tocsin.events.alert_groups`` and ``tocsin.events.webhook_quotas``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, exists, insert, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.incidents import filters
from tocsin.incidents.arns import not_found
from tocsin.incidents.models import IncidentRecord, TimelineEvent, TimelineReference
from tocsin.protocol.errors import ValidationException

logger = logging.getLogger(__name__)

CREATED_EVENT = "SSM Incident Record Created"
TRIGGER_EVENT = "SSM Incident Trigger"
UPDATE_EVENT = "SSM Incident Record Update"
RELATED_ITEM_EVENT = "SSM Related Item Update"
# The event types that CreateTimelineEvent accepts and UpdateTimelineEvent and
# DeleteTimelineEvent act on. The system's own events are read-only.
API_EVENT_TYPES = ("Custom Event", "Note")

LIST_FILTERS: dict[str, filters.FilterKey] = {
    "eventTime": filters.TimeKey(TimelineEvent.event_time),
    "eventType": filters.ValuesKey("stringValues", TimelineEvent.event_type.in_),
    "eventReference": filters.ValuesKey(
        "stringValues",
        lambda values: exists().where(
            TimelineReference.event_pk == TimelineEvent.id, TimelineReference.value.in_(values)
        ),
    ),
}


_EVENTS = cast(Table, TimelineEvent.__table__)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_EVENT_RETURNING_ID = insert(_EVENTS).returning(_EVENTS.c.id)
_INSERT_REFERENCE = insert(cast(Table, TimelineReference.__table__))


def _reference_value(reference: Mapping[str, str]) -> str:
    return reference.get("resource") or reference["relatedItemId"]


def _reference_values(references: Sequence[Mapping[str, str]]) -> list[str]:
    return sorted({_reference_value(reference) for reference in references})


def _set_references(
    session: Session, event: TimelineEvent, references: Sequence[Mapping[str, str]]
) -> None:
    session.execute(delete(TimelineReference).where(TimelineReference.event_pk == event.id))
    event.event_references = [dict(reference) for reference in references]
    for value in _reference_values(references):
        session.add(TimelineReference(event_pk=event.id, value=value))


def new_event(
    event_type: str,
    data: Mapping[str, Any] | str,
    *,
    now: datetime,
    event_time: datetime | None = None,
    references: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Build the row of a new event, without its ``incident_id``, for ``insert_events``.

    ``data`` that is not a string is stored as JSON with sorted keys.
    """
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "event_time": event_time or now,
        "event_updated_time": now,
        "event_data": data if isinstance(data, str) else json.dumps(data, sort_keys=True),
        "event_references": [dict(reference) for reference in references],
    }


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows from ``new_event`` with their references, in the caller's transaction.

    Each row must have ``incident_id`` set. Events without references go in
    one multi-row statement. An event with references is inserted alone,
    because its references need its generated key.
    """
    connection = session.connection()
    plain = [row for row in rows if not row["event_references"]]
    if plain:
        connection.execute(_INSERT_EVENT, plain)
    for row in rows:
        if not row["event_references"]:
            continue
        event_pk = connection.execute(_INSERT_EVENT_RETURNING_ID, row).scalar_one()
        values = _reference_values(row["event_references"])
        connection.execute(_INSERT_REFERENCE, [{"event_pk": event_pk, "value": v} for v in values])


def add(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    event_type: str,
    data: Mapping[str, Any] | str,
    *,
    event_time: datetime | None = None,
    references: Sequence[Mapping[str, str]] = (),
) -> TimelineEvent:
    """Add an event to the incident's timeline; ``data`` that is not a string is stored as JSON."""
    row = new_event(event_type, data, now=clock.now(), event_time=event_time, references=references)
    event = TimelineEvent(incident_id=incident.id, **row)
    session.add(event)
    if references:
        # The references need the event's generated key.
        session.flush()
        for value in _reference_values(references):
            session.add(TimelineReference(event_pk=event.id, value=value))
    logger.debug("added %s event %s to %s", event_type, event.event_id, incident.arn)
    return event


def check_api_type(event_type: str, member: str = "eventType") -> None:
    if event_type not in API_EVENT_TYPES:
        raise ValidationException(
            f"Invalid {member} {event_type!r}: the API creates and changes only events of type "
            f"{' or '.join(API_EVENT_TYPES)}; other types are written by Incident Manager"
        )


def find(session: Session, incident: IncidentRecord, event_id: str) -> TimelineEvent | None:
    return session.scalar(
        select(TimelineEvent).where(
            TimelineEvent.incident_id == incident.id, TimelineEvent.event_id == event_id
        )
    )


def get(session: Session, incident: IncidentRecord, event_id: str) -> TimelineEvent:
    event = find(session, incident, event_id)
    if event is None:
        raise not_found("TIMELINE_EVENT", event_id, f"Timeline event of {incident.arn} with id")
    return event


def update(
    session: Session, clock: Clock, incident: IncidentRecord, event: TimelineEvent, params: Any
) -> None:
    """Apply UpdateTimelineEvent's parameters; ``eventReferences`` replaces the whole list."""
    check_api_type(event.event_type, "eventId")
    if "eventType" in params:
        check_api_type(params["eventType"])
        event.event_type = params["eventType"]
    if "eventData" in params:
        event.event_data = params["eventData"]
    if "eventTime" in params:
        event.event_time = params["eventTime"]
    if "eventReferences" in params:
        _set_references(session, event, params["eventReferences"])
    event.event_updated_time = clock.now()
    logger.info("updated timeline event %s of %s", event.event_id, incident.arn)


def delete_event(session: Session, incident: IncidentRecord, event: TimelineEvent) -> None:
    check_api_type(event.event_type, "eventId")
    session.execute(delete(TimelineReference).where(TimelineReference.event_pk == event.id))
    session.delete(event)
    logger.info("deleted timeline event %s of %s", event.event_id, incident.arn)


def delete_all(session: Session, incident: IncidentRecord) -> None:
    events = select(TimelineEvent.id).where(TimelineEvent.incident_id == incident.id)
    session.execute(delete(TimelineReference).where(TimelineReference.event_pk.in_(events)))
    session.execute(delete(TimelineEvent).where(TimelineEvent.incident_id == incident.id))


def list_query(incident: IncidentRecord, event_filters: Sequence[Mapping[str, Any]]) -> Select[Any]:
    conditions = filters.conditions(event_filters, LIST_FILTERS)
    return select(TimelineEvent).where(TimelineEvent.incident_id == incident.id, *conditions)


def summarize(event: TimelineEvent, incident_arn: str) -> dict[str, Any]:
    """Return the EventSummary of ``event``."""
    output: dict[str, Any] = {
        "eventId": event.event_id,
        "eventTime": event.event_time,
        "eventType": event.event_type,
        "eventUpdatedTime": event.event_updated_time,
        "incidentRecordArn": incident_arn,
    }
    if event.event_references:
        output["eventReferences"] = event.event_references
    return output


def describe(event: TimelineEvent, incident_arn: str) -> dict[str, Any]:
    """Return the TimelineEvent structure of ``event``."""
    return {**summarize(event, incident_arn), "eventData": event.event_data}
