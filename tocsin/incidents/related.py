"""Related items of incidents: involved resources, metrics, links, attachments and more.

An item is identified by its type and its value, so the same value may be
related once per type. ``generatedId`` has the form
``related-item/<TYPE>/<32 upper-case hex digits>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, delete, insert, select
from sqlalchemy.orm import Session

from tocsin import jsontext
from tocsin.engine.clock import Clock
from tocsin.incidents import timeline
from tocsin.incidents.arns import conflict
from tocsin.incidents.models import IncidentRecord, RelatedItem
from tocsin.protocol.errors import ResourceNotFoundException, ValidationException

logger = logging.getLogger(__name__)

# The generic ARN pattern of the ssm-incidents model.
_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:[a-z0-9-]*:[a-z0-9-]*:([0-9]{12})?:.+$")
_VALUE_MEMBERS = ("arn", "url", "metricDefinition", "pagerDutyIncidentDetail")
MAX_INVOLVED_RESOURCES = 100


def identity_key(identifier: Mapping[str, Any]) -> str:
    """Return the digest of an ItemIdentifier, which is unique per incident."""
    value = identifier["value"]
    present = [member for member in _VALUE_MEMBERS if member in value]
    if len(present) != 1:
        raise ValidationException(
            "Invalid identifier.value: set exactly one of arn, url, metricDefinition or "
            f"pagerDutyIncidentDetail (got {', '.join(present) or 'none'})"
        )
    member = present[0]
    stored = value[member]
    if member == "pagerDutyIncidentDetail":
        stored = stored["id"]  # a PagerDuty incident is the same incident whatever its options
    canonical = json.dumps([identifier["type"], member, stored], sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_INSERT_ITEM = insert(cast(Table, RelatedItem.__table__))


def _find(session: Session, incident: IncidentRecord, key: str) -> RelatedItem | None:
    return session.scalar(
        select(RelatedItem).where(
            RelatedItem.incident_id == incident.id, RelatedItem.identity_key == key
        )
    )


def new_item(item: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """Build the row of a new related item, without its ``incident_id``, for ``insert_items``.

    Raises ValidationException for an identifier that does not set exactly one value.
    """
    identifier = item["identifier"]
    return {
        "generated_id": f"related-item/{identifier['type']}/{uuid.uuid4().hex.upper()}",
        "item_type": identifier["type"],
        "value": dict(identifier["value"]),
        "identity_key": identity_key(identifier),
        "title": item.get("title"),
        "created_at": now,
    }


def unique_items(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop rows whose type and value an earlier row already has, as ``add`` would."""
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row["identity_key"] not in seen:
            seen.add(row["identity_key"])
            unique.append(row)
    return unique


def insert_items(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows from ``new_item``, each with ``incident_id`` set, in one statement."""
    if rows:
        session.connection().execute(_INSERT_ITEM, list(rows))


def add(
    session: Session, clock: Clock, incident: IncidentRecord, item: Mapping[str, Any]
) -> RelatedItem | None:
    """Relate ``item`` (a RelatedItem structure) to the incident; return None if it already is."""
    row = new_item(item, now=clock.now())
    if _find(session, incident, row["identity_key"]) is not None:
        return None
    related = RelatedItem(incident_id=incident.id, **row)
    session.add(related)
    session.flush()
    return related


def add_by_request(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    item: Mapping[str, Any],
    caller_arn: str,
) -> RelatedItem:
    """Add an item through UpdateRelatedItems: a duplicate is a ConflictException."""
    related = add(session, clock, incident, item)
    if related is None:
        raise conflict(
            "INCIDENT_RECORD",
            incident.arn,
            f"Incident {incident.arn} already has a related item of type "
            f"{item['identifier']['type']} with this value.",
        )
    data = {"modifiedBy": caller_arn, "action": "ADD", "relatedItem": describe(related)}
    references = [{"relatedItemId": related.generated_id}]
    timeline.add(session, clock, incident, timeline.RELATED_ITEM_EVENT, data, references=references)
    logger.info("added related item %s to %s", related.generated_id, incident.arn)
    return related


def remove_by_request(
    session: Session,
    clock: Clock,
    incident: IncidentRecord,
    identifier: Mapping[str, Any],
    caller_arn: str,
) -> None:
    """Remove the item that ``identifier`` names, or raise ResourceNotFoundException."""
    related = _find(session, incident, identity_key(identifier))
    if related is None:
        raise ResourceNotFoundException(
            f"Incident {incident.arn} has no related item of type {identifier['type']} "
            "with this value.",
            fields={"resourceIdentifier": incident.arn, "resourceType": "INCIDENT_RECORD"},
        )
    data = {"modifiedBy": caller_arn, "action": "REMOVE", "relatedItem": describe(related)}
    session.delete(related)
    timeline.add(session, clock, incident, timeline.RELATED_ITEM_EVENT, data)
    logger.info("removed related item %s from %s", related.generated_id, incident.arn)


def delete_all(session: Session, incident: IncidentRecord) -> None:
    session.execute(delete(RelatedItem).where(RelatedItem.incident_id == incident.id))


def list_query(incident: IncidentRecord) -> Select[Any]:
    return select(RelatedItem).where(RelatedItem.incident_id == incident.id)


def involved_resources(raw_data: str | None) -> list[str]:
    """Return the ARNs in the ``resources`` array of an EventBridge event given as raw data.

    Raw data that is not a JSON object with such an array gives no resources.
    """
    if not raw_data:
        return []
    try:
        event = jsontext.loads(raw_data)
    except jsontext.JsonTextError:
        return []
    resources = event.get("resources") if isinstance(event, dict) else None
    if not isinstance(resources, list):
        return []
    arns = [value for value in resources if isinstance(value, str) and _ARN.match(value)]
    return list(dict.fromkeys(arns))[:MAX_INVOLVED_RESOURCES]


def describe(item: RelatedItem) -> dict[str, Any]:
    """Return the RelatedItem structure of ``item``."""
    output: dict[str, Any] = {
        "generatedId": item.generated_id,
        "identifier": {"type": item.item_type, "value": item.value},
    }
    if item.title is not None:
        output["title"] = item.title
    return output
