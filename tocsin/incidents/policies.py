"""Resource policies of response plans, and the cross-account access decisions they drive.

A resource policy shares a response plan, and the incidents started from it,
with other accounts. Shared accounts use and view: they get at most the
actions in ``CONSUMER_ACTIONS``, whatever the policy lists.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.authorize import caller_context
from tocsin.iam.policy import AuthzRequest, Decision, PolicyError, evaluate, parse_policy
from tocsin.iam.principal import Caller
from tocsin.incidents.arns import not_found
from tocsin.incidents.models import ResourcePolicy, ResponsePlan
from tocsin.protocol.errors import ValidationException

logger = logging.getLogger(__name__)

# The actions that AWS's resource-policy examples for shared response plans grant.
# DeleteTimelineEvent is left out on purpose, as AWS documents.
CONSUMER_ACTIONS = frozenset(
    f"ssm-incidents:{name}"
    for name in (
        "GetResponsePlan",
        "StartIncident",
        "UpdateIncidentRecord",
        "GetIncidentRecord",
        "CreateTimelineEvent",
        "UpdateTimelineEvent",
        "GetTimelineEvent",
        "ListTimelineEvents",
        "UpdateRelatedItems",
        "ListRelatedItems",
    )
)
# Stands in for the caller's identity policies when asking whether a resource
# policy names the caller at all.
_ALLOW_EVERYTHING: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}


def parse_checked(document: str) -> dict[str, Any]:
    """Parse a resource policy, rejecting Deny statements as Incident Manager does."""
    try:
        parsed = parse_policy(document, resource_policy=True)
    except PolicyError as exc:
        raise ValidationException(f"Invalid policy: {exc}") from exc
    statements = parsed["Statement"]
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if statement.get("Effect") == "Deny":
            raise ValidationException(
                f"Invalid policy: statement {index + 1} has Effect Deny. Incident Manager does "
                "not support resource policies that deny access; remove the statement and "
                "narrow the Allow statements instead."
            )
    return parsed


def put(
    session: Session, clock: Clock, plan: ResponsePlan, document: str, region: str
) -> ResourcePolicy:
    parse_checked(document)
    policy = ResourcePolicy(
        policy_id=uuid.uuid4().hex,
        plan_id=plan.id,
        document=document,
        region=region,
        created_at=clock.now(),
    )
    session.add(policy)
    session.flush()
    logger.info("added resource policy %s to %s", policy.policy_id, plan.arn)
    return policy


def get_policy(session: Session, plan: ResponsePlan, policy_id: str) -> ResourcePolicy:
    policy = session.get(ResourcePolicy, policy_id)
    if policy is None or policy.plan_id != plan.id:
        raise not_found("RESOURCE_POLICY", policy_id, f"Resource policy of {plan.arn} with id")
    return policy


def delete_policy(session: Session, plan: ResponsePlan, policy: ResourcePolicy) -> None:
    session.delete(policy)
    logger.info("deleted resource policy %s of %s", policy.policy_id, plan.arn)


def documents(session: Session, plan: ResponsePlan) -> tuple[dict[str, Any], ...]:
    """Return the parsed policies of ``plan``, for authorization."""
    rows = session.scalars(select(ResourcePolicy).where(ResourcePolicy.plan_id == plan.id))
    return tuple(json.loads(row.document) for row in rows)


def shared_with(
    caller: Caller, action: str, resource: str, owner: str, policies: tuple[dict[str, Any], ...]
) -> bool:
    """Return whether ``policies`` let the caller's account do ``action`` on ``resource``.

    The caller's own identity policies are left out, so the result shows
    whether the resource is visible to the caller at all. Whether the caller
    may act is decided afterwards by RequestContext.authorize.
    """
    if action not in CONSUMER_ACTIONS or not policies:
        return False
    request = AuthzRequest(
        action=action,
        resource=resource,
        principal_account=caller.account_id,
        principal_arns=caller.principal_arns,
        resource_account=owner,
        context=caller_context(caller),
    )
    return evaluate(request, (_ALLOW_EVERYTHING,), policies) is Decision.ALLOW
