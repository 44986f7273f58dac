"""The shareable resource types and their AWS managed permissions.

Each resource type has one managed permission, the default of its type,
whose actions are the consumer actions of that type: what an account that a
resource is shared with may do with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tocsin.contacts.access import CONSUMER_ACTIONS as CONTACT_CONSUMER_ACTIONS
from tocsin.protocol.errors import ServiceError
from tocsin.sharing.access import CONTACT, RESPONSE_PLAN

PERMISSION_ARN = re.compile(r"^arn:aws:ram::(aws|\d{12}):permission/[\w.-]{1,255}$")
# A fixed creation time, because managed permissions exist before any account.
_PUBLISHED = datetime(2021, 5, 10, tzinfo=UTC)


class MalformedArnException(ServiceError):
    pass


class UnknownResourceException(ServiceError):
    pass


@dataclass(frozen=True)
class ResourceType:
    name: str
    service: str
    # GLOBAL for response plans, whose ARNs carry no Region; REGIONAL for contacts.
    region_scope: str


@dataclass(frozen=True)
class ManagedPermission:
    name: str
    resource_type: str
    actions: frozenset[str]

    @property
    def arn(self) -> str:
        return f"arn:aws:ram::aws:permission/{self.name}"

    def summary(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "version": "1",
            "defaultVersion": True,
            "name": self.name,
            "resourceType": self.resource_type,
            "status": "ATTACHABLE",
            "creationTime": _PUBLISHED,
            "lastUpdatedTime": _PUBLISHED,
            "isResourceTypeDefault": True,
            "permissionType": "AWS_MANAGED",
            "featureSet": "STANDARD",
        }

    def detail(self) -> dict[str, Any]:
        template = {"Effect": "Allow", "Action": sorted(self.actions)}
        return {**self.summary(), "permission": json.dumps(template)}


RESOURCE_TYPES: dict[str, ResourceType] = {
    RESPONSE_PLAN: ResourceType(RESPONSE_PLAN, "ssm-incidents", "GLOBAL"),
    CONTACT: ResourceType(CONTACT, "ssm-contacts", "REGIONAL"),
}

RESPONSE_PLAN_ACTIONS = frozenset(
    f"ssm-incidents:{name}"
    for name in (
        "GetResponsePlan",
        "StartIncident",
        "GetIncidentRecord",
        "ListIncidentRecords",
        "UpdateIncidentRecord",
        "CreateTimelineEvent",
        "GetTimelineEvent",
        "UpdateTimelineEvent",
        "ListTimelineEvents",
        "UpdateRelatedItems",
        "ListRelatedItems",
    )
)

PERMISSIONS: dict[str, ManagedPermission] = {
    permission.arn: permission
    for permission in (
        ManagedPermission(
            "AWSRAMDefaultPermissionSSMIncidentsResponsePlan", RESPONSE_PLAN, RESPONSE_PLAN_ACTIONS
        ),
        ManagedPermission(
            "AWSRAMDefaultPermissionSSMContactsContact", CONTACT, CONTACT_CONSUMER_ACTIONS
        ),
    )
}

DEFAULT_PERMISSION = {permission.resource_type: permission for permission in PERMISSIONS.values()}


def get_permission(arn: str, member: str = "permissionArn") -> ManagedPermission:
    """Return the managed permission ``arn``; raise MalformedArn or UnknownResource otherwise."""
    if not PERMISSION_ARN.match(arn):
        raise MalformedArnException(
            f"The {member} {arn!r} is not a valid permission ARN, such as "
            "arn:aws:ram::aws:permission/AWSRAMDefaultPermissionSSMContactsContact."
        )
    permission = PERMISSIONS.get(arn)
    if permission is None:
        known = ", ".join(sorted(PERMISSIONS))
        raise UnknownResourceException(
            f"The permission {arn} does not exist. The managed permissions are: {known}."
        )
    return permission
