"""Tags of Incident Manager resources, stored by ARN so that every resource type can use them.

Only the owner account reads or changes tags: AWS documents that tags on
response plans and incident records are not visible to accounts they are
shared with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.incidents.arns import IncidentsArn, ResourceType, ServiceQuotaExceededException
from tocsin.incidents.models import IncidentTag

logger = logging.getLogger(__name__)

MAX_TAGS_PER_RESOURCE = 50

# Resource types that can carry tags, each with a function that raises
# ResourceNotFoundException when the ARN names no resource. Each domain module
# registers its type, so incident records can join without changes here.
TAGGABLE: dict[ResourceType, Callable[[Session, IncidentsArn], object]] = {}


def register_taggable(
    resource_type: ResourceType, finder: Callable[[Session, IncidentsArn], object]
) -> None:
    TAGGABLE[resource_type] = finder


def list_tags(session: Session, arn: str) -> dict[str, str]:
    rows = session.scalars(select(IncidentTag).where(IncidentTag.resource_arn == arn))
    return {row.key: row.value for row in rows}


def tag(session: Session, account_id: str, arn: str, tags: Mapping[str, str]) -> None:
    """Add ``tags`` to the resource, replacing the values of keys it already has."""
    current = {
        row.key: row
        for row in session.scalars(select(IncidentTag).where(IncidentTag.resource_arn == arn))
    }
    total = len(current.keys() | tags.keys())
    if total > MAX_TAGS_PER_RESOURCE:
        raise ServiceQuotaExceededException(
            f"Resource {arn} would have {total} tags; a resource has at most "
            f"{MAX_TAGS_PER_RESOURCE}. Remove tags with UntagResource first.",
            fields={
                "serviceCode": "ssm-incidents",
                "quotaCode": "tags-per-resource",
                "resourceIdentifier": arn,
            },
        )
    for key, value in tags.items():
        if key in current:
            current[key].value = value
        else:
            session.add(IncidentTag(resource_arn=arn, key=key, value=value, account_id=account_id))
    session.flush()
    logger.info("tagged %s with keys %s", arn, sorted(tags))


def untag(session: Session, arn: str, keys: Iterable[str]) -> None:
    removed = list(keys)
    session.execute(
        delete(IncidentTag).where(IncidentTag.resource_arn == arn, IncidentTag.key.in_(removed))
    )
    logger.info("removed tag keys %s from %s", sorted(removed), arn)


def delete_all(session: Session, arn: str) -> None:
    session.execute(delete(IncidentTag).where(IncidentTag.resource_arn == arn))
