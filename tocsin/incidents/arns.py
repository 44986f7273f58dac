"""ARNs of Incident Manager resources and the errors that name them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from tocsin.protocol.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceError,
    ValidationException,
)

ResourceType = Literal[
    "RESPONSE_PLAN", "INCIDENT_RECORD", "TIMELINE_EVENT", "REPLICATION_SET", "RESOURCE_POLICY"
]

# Incident Manager ARNs have an empty Region field: the resources are global to the account.
_ARN = re.compile(
    r"^arn:aws:ssm-incidents::(?P<account>\d{12}):"
    r"(?P<kind>response-plan|replication-set|incident-record)/(?P<rest>.+)$"
)
_PLAN_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,200}$")
_INCIDENT_PATH = re.compile(r"^[a-zA-Z0-9_-]{1,200}/[a-zA-Z0-9-]{1,64}$")
_KIND_TYPES: dict[str, ResourceType] = {
    "response-plan": "RESPONSE_PLAN",
    "replication-set": "REPLICATION_SET",
    "incident-record": "INCIDENT_RECORD",
}


class ServiceQuotaExceededException(ServiceError):
    default_status = 402


@dataclass(frozen=True)
class IncidentsArn:
    """A parsed ARN of an Incident Manager resource."""

    arn: str
    account_id: str
    resource_type: ResourceType
    resource_id: str  # the plan name, the replication set id, or "PLAN/ID" of an incident


def parse_arn(arn: str, member: str, *expected: ResourceType) -> IncidentsArn:
    """Parse ``arn`` as one of the ``expected`` resource types or raise a ValidationException."""
    match = _ARN.match(arn)
    kinds = " or ".join(expected).lower().replace("_", " ")
    if match is None or _KIND_TYPES[match["kind"]] not in expected:
        raise ValidationException(
            f"Invalid {member} {arn!r}: expected the ARN of a {kinds}, such as "
            f"arn:aws:ssm-incidents::111122223333:{_example(expected[0])}"
        )
    resource_type = _KIND_TYPES[match["kind"]]
    if resource_type == "RESPONSE_PLAN" and not _PLAN_NAME.match(match["rest"]):
        raise ValidationException(
            f"Invalid {member} {arn!r}: a response plan name has 1 to 200 letters, digits, "
            "hyphens and underscores"
        )
    if resource_type == "INCIDENT_RECORD" and not _INCIDENT_PATH.match(match["rest"]):
        raise ValidationException(
            f"Invalid {member} {arn!r}: an incident record ARN ends with "
            "incident-record/<response plan name>/<incident id>"
        )
    return IncidentsArn(arn, match["account"], resource_type, match["rest"])


def _example(resource_type: ResourceType) -> str:
    return {
        "RESPONSE_PLAN": "response-plan/my-plan",
        "REPLICATION_SET": "replication-set/40bd98f0-4110-2dee-b35e-b87006f9e172",
        "INCIDENT_RECORD": "incident-record/my-plan/6ebcc812-85f5-b7eb-8b2f-283e4d844308",
    }.get(resource_type, "response-plan/my-plan")


def plan_arn(account_id: str, name: str) -> str:
    return f"arn:aws:ssm-incidents::{account_id}:response-plan/{name}"


def incident_arn(account_id: str, plan_name: str, record_id: str) -> str:
    return f"arn:aws:ssm-incidents::{account_id}:incident-record/{plan_name}/{record_id}"


def not_found(
    resource_type: ResourceType, identifier: str, label: str
) -> ResourceNotFoundException:
    """Return the ResourceNotFoundException for ``identifier``, with the members that name it."""
    return ResourceNotFoundException(
        f"{label} {identifier} was not found.",
        fields={"resourceIdentifier": identifier, "resourceType": resource_type},
    )


def conflict(resource_type: ResourceType, identifier: str, message: str) -> ConflictException:
    fields: dict[str, Any] = {"resourceIdentifier": identifier, "resourceType": resource_type}
    return ConflictException(message, fields=fields)
