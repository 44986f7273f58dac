"""Resource policies of event buses: PutPermission, RemovePermission and delivery checks.

A bus policy decides which other accounts may put events on the bus, and so
which other accounts' rules may name the bus as a target.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.events.errors import (
    PolicyLengthExceededException,
    ResourceNotFoundException,
    ValidationException,
)
from tocsin.events.models import EventBus
from tocsin.iam.models import Account
from tocsin.iam.policy import AuthzRequest, Decision, PolicyError, evaluate, parse_policy

logger = logging.getLogger(__name__)

PUT_EVENTS = "events:PutEvents"
# NOTE: EventBridge documents a policy size limit without a figure in the API
# reference; Tocsin rejects policies longer than 10,240 characters.
MAX_POLICY_LENGTH = 10240
# The sender's own identity policies are not evaluated for deliveries between
# buses: the rule's owner chose the target, so only the receiving bus decides.
_SENDER_ALLOWED: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}


def _statements(bus: EventBus) -> list[dict[str, Any]]:
    if not bus.policy:
        return []
    document = json.loads(bus.policy)
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def _store(bus: EventBus, clock: Clock, statements: list[dict[str, Any]]) -> None:
    if statements:
        bus.policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    else:
        bus.policy = None
    bus.last_modified_at = clock.now()


def _principal(principal: str) -> str | dict[str, str]:
    return "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"}


def statement(
    bus: EventBus,
    *,
    action: str,
    principal: str,
    statement_id: str,
    condition: Mapping[str, str] | None,
) -> dict[str, Any]:
    """Build the policy statement that PutPermission's members describe."""
    if action != PUT_EVENTS:
        raise ValidationException(
            f"Parameter Action is not valid: {action!r}; the only supported action is {PUT_EVENTS}"
        )
    result: dict[str, Any] = {
        "Sid": statement_id,
        "Effect": "Allow",
        "Principal": _principal(principal),
        "Action": action,
        "Resource": bus.arn,
    }
    if condition is not None:
        if condition.get("Type") != "StringEquals" or condition.get("Key") != "aws:PrincipalOrgID":
            raise ValidationException(
                "Parameter Condition is not valid: the only supported condition is Type "
                f"StringEquals with Key aws:PrincipalOrgID, got Type {condition.get('Type')!r} "
                f"and Key {condition.get('Key')!r}"
            )
        result["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": condition["Value"]}}
    return result


def put_statement(bus: EventBus, clock: Clock, new: dict[str, Any]) -> None:
    """Add ``new`` to the bus policy, replacing a statement with the same Sid."""
    statements = [item for item in _statements(bus) if item.get("Sid") != new["Sid"]]
    statements.append(new)
    _check_length(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    _store(bus, clock, statements)
    logger.info("put statement %s on the policy of event bus %s", new["Sid"], bus.arn)


def put_policy(bus: EventBus, clock: Clock, document: str) -> None:
    """Replace the whole bus policy with ``document``."""
    _check_length(document)
    try:
        parse_policy(document, resource_policy=True)
    except PolicyError as exc:
        raise ValidationException(f"Parameter Policy is not valid: {exc}") from exc
    bus.policy = document
    bus.last_modified_at = clock.now()
    logger.info("replaced the policy of event bus %s", bus.arn)


def _check_length(document: str) -> None:
    if len(document) > MAX_POLICY_LENGTH:
        raise PolicyLengthExceededException(
            f"The policy is {len(document)} characters long; the maximum is {MAX_POLICY_LENGTH}."
        )


def remove(bus: EventBus, clock: Clock, statement_id: str | None, remove_all: bool) -> None:
    """Remove one statement by Sid, or every statement with ``remove_all``."""
    if remove_all:
        _store(bus, clock, [])
        logger.info("removed every permission of event bus %s", bus.arn)
        return
    if not statement_id:
        raise ValidationException(
            "Parameter StatementId is missing: give StatementId or RemoveAllPermissions=true"
        )
    statements = _statements(bus)
    remaining = [item for item in statements if item.get("Sid") != statement_id]
    if len(remaining) == len(statements):
        raise ResourceNotFoundException(
            f"Statement with the provided id {statement_id} does not exist."
        )
    _store(bus, clock, remaining)
    logger.info("removed statement %s from the policy of event bus %s", statement_id, bus.arn)


def allows_account(session: Session, bus: EventBus, sender_account: str) -> bool:
    """Return whether the bus accepts events that ``sender_account`` puts on it.

    A bus always accepts events from its own account. Another account needs
    an Allow of events:PutEvents in the bus policy; a condition on
    aws:PrincipalOrgID is checked against the sender's organization.
    """
    if sender_account == bus.account_id:
        return True
    if not bus.policy:
        return False
    sender = session.get(Account, sender_account)
    context: dict[str, Any] = {"aws:PrincipalAccount": sender_account}
    if sender is not None and sender.organization_id:
        context["aws:PrincipalOrgID"] = sender.organization_id
    request = AuthzRequest(
        action=PUT_EVENTS,
        resource=bus.arn,
        principal_account=sender_account,
        principal_arns=(f"arn:aws:iam::{sender_account}:root",),
        resource_account=bus.account_id,
        context=context,
    )
    try:
        decision = evaluate(request, (_SENDER_ALLOWED,), (json.loads(bus.policy),))
    except PolicyError:
        logger.warning("the policy of event bus %s could not be evaluated", bus.arn, exc_info=True)
        return False
    return decision is Decision.ALLOW
