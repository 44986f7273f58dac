"""Deployment events kept for incident findings: which events count, how they are stored and purged.

Two kinds of EventBridge events describe the changes that findings report:

- ``aws.codedeploy`` / ``CodeDeploy Deployment State-change Notification``,
  whose detail names the deployment, its application, its deployment group
  and its ``state``;
- ``aws.cloudformation`` / ``CloudFormation Stack Status Change``, whose
  detail names the ``stack-id`` (the stack ARN), ``status-details.status``
  and the ``client-request-token`` that every event of one stack operation
  shares.

Every such event that reaches any event bus is stored in the caller's
transaction, whether or not a rule matches it, under the account and Region
that the event names. An event id is stored once per account and Region, so
a copy forwarded to another bus adds nothing. The hourly maintenance job
deletes events older than the retention setting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.incidents.finding_models import DeploymentEvent

logger = logging.getLogger(__name__)

CODE_DEPLOY = "codeDeployDeployment"
STACK_UPDATE = "cloudFormationStackUpdate"
# (source, detail-type) of the events that findings use, and the kind each gives.
DEPLOYMENT_EVENT_TYPES = {
    ("aws.codedeploy", "CodeDeploy Deployment State-change Notification"): CODE_DEPLOY,
    ("aws.cloudformation", "CloudFormation Stack Status Change"): STACK_UPDATE,
}
SOURCES = frozenset(source for source, _ in DEPLOYMENT_EVENT_TYPES)

# CodeDeploy states after which a deployment does nothing more.
CODE_DEPLOY_FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "STOP"})
# Stack statuses that open a stack operation. Findings report stack creations
# and updates, so deletions (DELETE_*) and change set reviews
# (REVIEW_IN_PROGRESS) are not stored.
STACK_START_STATUSES = frozenset({"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "IMPORT_IN_PROGRESS"})
_IGNORED_STACK_STATUS = re.compile(r"^(DELETE_|REVIEW_IN_PROGRESS$)")
_STACK_STATUS = re.compile(r"^[A-Z_]{1,64}$")

# The ARN pattern of the ssm-incidents model, which the finding members must match.
_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:[a-z0-9-]*:[a-z0-9-]*:([0-9]{12})?:.+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z0-9-]{1,32}$")
MAX_ARN_LENGTH = 1000
MAX_ID_LENGTH = 128

_TABLE = cast(Table, DeploymentEvent.__table__)
_INSERT = {
    "postgresql": postgresql.insert(_TABLE).on_conflict_do_nothing(
        index_elements=["account_id", "region", "event_id"]
    ),
    "sqlite": sqlite.insert(_TABLE).on_conflict_do_nothing(
        index_elements=["account_id", "region", "event_id"]
    ),
}


class IgnoredEvent(ValueError):
    """A deployment event that lacks a member findings need, or has an invalid one."""


def is_stack_final(status: str) -> bool:
    """Return whether a stack status ends its stack operation (it is not an *_IN_PROGRESS)."""
    return not status.endswith("_IN_PROGRESS")


def _text(value: Any, member: str, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise IgnoredEvent(f"{member} is missing or not a string")
    if len(value) > max_length:
        raise IgnoredEvent(f"{member} is longer than {max_length} characters")
    return value


def _arn(value: Any, member: str) -> str:
    text = _text(value, member, MAX_ARN_LENGTH)
    if not _ARN.match(text):
        raise IgnoredEvent(f"{member} {text!r} is not a valid ARN")
    return text


def _event_time(event: Mapping[str, Any], received_at: datetime) -> datetime:
    """Return the event's ``time``, or ``received_at`` when it has none that parses."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return received_at


def _code_deploy_members(event: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    account_id, region = event["account"], event["region"]
    deployment_id = _text(detail.get("deploymentId"), "detail.deploymentId")
    state = _text(detail.get("state"), "detail.state", 64)
    group_arns = [
        resource
        for resource in event.get("resources") or ()
        if isinstance(resource, str) and ":deploymentgroup:" in resource
    ]
    if group_arns:
        group_arn = _arn(group_arns[0], "resources[deploymentgroup]")
    else:
        # The event names the group only by name when it lists no group ARN.
        application = _text(detail.get("application"), "detail.application")
        group = _text(detail.get("deploymentGroup"), "detail.deploymentGroup")
        group_arn = _arn(
            f"arn:aws:codedeploy:{region}:{account_id}:deploymentgroup:{application}/{group}",
            "deployment group ARN",
        )
    return {
        "resource_arn": group_arn,
        "deployment_id": deployment_id,
        "operation_token": None,
        "status": state,
    }


def _stack_members(detail: Mapping[str, Any]) -> dict[str, Any] | None:
    stack_arn = _arn(detail.get("stack-id"), "detail.stack-id")
    status_details = detail.get("status-details")
    if not isinstance(status_details, Mapping):
        raise IgnoredEvent("detail.status-details is missing or not an object")
    status = _text(status_details.get("status"), "detail.status-details.status", 64)
    if not _STACK_STATUS.match(status):
        raise IgnoredEvent(f"detail.status-details.status {status!r} is not a stack status")
    if _IGNORED_STACK_STATUS.match(status):
        return None
    token = detail.get("client-request-token")
    valid_token = isinstance(token, str) and 0 < len(token) <= MAX_ID_LENGTH
    return {
        "resource_arn": stack_arn,
        "deployment_id": None,
        "operation_token": token if valid_token else None,
        "status": status,
    }


def deployment_row(event: Mapping[str, Any], received_at: datetime) -> dict[str, Any] | None:
    """Return the ``deployment_events`` row of ``event``, or None when findings do not use it.

    Raises IgnoredEvent for a deployment event whose members findings cannot use.
    """
    kind = DEPLOYMENT_EVENT_TYPES.get((str(event.get("source")), str(event.get("detail-type"))))
    if kind is None:
        return None
    account_id = event.get("account")
    if not isinstance(account_id, str) or not _ACCOUNT_ID.match(account_id):
        raise IgnoredEvent(f"account {account_id!r} is not a 12-digit account id")
    region = event.get("region")
    if not isinstance(region, str) or not _REGION.match(region):
        raise IgnoredEvent(f"region {region!r} is not a Region name")
    event_id = _text(event.get("id"), "id")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise IgnoredEvent("detail is not an object")

    members = _code_deploy_members(event, detail) if kind == CODE_DEPLOY else _stack_members(detail)
    if members is None:
        return None
    return {
        "account_id": account_id,
        "region": region,
        "event_id": event_id,
        "kind": kind,
        **members,
        "event_time": _event_time(event, received_at),
        "received_at": received_at,
    }


def record(session: Session, clock: Clock, events: Sequence[Mapping[str, Any]]) -> int:
    """Store the deployment events among ``events`` in the caller's transaction.

    Returns how many rows the statement offered. An event id that is stored
    already is skipped. Events that are not deployment events cost one
    dictionary lookup each. A deployment event without the members findings
    need is logged and skipped, because the event itself is still delivered.
    """
    rows = []
    now: datetime | None = None
    for event in events:
        if event.get("source") not in SOURCES:
            continue
        now = now or clock.now()
        try:
            row = deployment_row(event, now)
        except IgnoredEvent as exc:
            logger.warning(
                "skipped deployment event %s of account %s for findings: %s",
                event.get("id"),
                event.get("account"),
                exc,
            )
            continue
        if row is not None:
            rows.append(row)
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    session.execute(_INSERT[dialect], rows)
    logger.debug("stored %d deployment event(s) for findings", len(rows))
    return len(rows)


def purge(session: Session, received_before: datetime) -> int:
    """Delete the deployment events received before ``received_before`` and return how many."""
    result = session.execute(
        delete(DeploymentEvent).where(DeploymentEvent.received_at < received_before)
    )
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count
