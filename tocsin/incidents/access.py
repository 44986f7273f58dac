"""Authorization of Incident Manager requests, for the owner and for accounts a plan is shared with.

Resources of another account are ResourceNotFoundException, as if they did
not exist, unless a resource policy of the response plan or a RAM resource
share shares them with the caller's account. Only the owner tags, shares,
changes or deletes it. An account that can read a shared plan gets
AccessDeniedException for those operations.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from tocsin.incidents import plans, policies
from tocsin.incidents.arns import IncidentsArn, ResourceType, not_found, parse_arn
from tocsin.incidents.models import ResourcePolicy, ResponsePlan
from tocsin.protocol.errors import AccessDeniedException
from tocsin.protocol.handlers import RequestContext
from tocsin.sharing import access as sharing

# The consumer action whose grant makes a shared plan's incidents visible.
VIEW_ACTION = "ssm-incidents:GetIncidentRecord"

_NAMES: dict[ResourceType, str] = {
    "RESPONSE_PLAN": "Response plan",
    "REPLICATION_SET": "Replication set",
    "INCIDENT_RECORD": "Incident record",
}


def action_of(ctx: RequestContext) -> str:
    return f"ssm-incidents:{ctx.operation}"


def owned(ctx: RequestContext, arn: str, member: str, *expected: ResourceType) -> IncidentsArn:
    """Parse ``arn`` and authorize the operation on it for its owner only.

    An account that a plan is shared with gets AccessDeniedException for the
    plan and its incidents, as it does for a shared contact. Every other
    account gets ResourceNotFoundException.
    """
    parsed = parse_arn(arn, member, *expected)
    if parsed.account_id != ctx.account_id:
        if _visible_to_consumer(ctx, parsed):
            name = _NAMES[parsed.resource_type].lower()
            raise AccessDeniedException(
                f"Only account {parsed.account_id}, the owner of {name} {parsed.arn}, may call "
                f"{ctx.operation}; the response plan is shared with account "
                f"{ctx.account_id} for use only."
            )
        raise not_found(parsed.resource_type, parsed.arn, _NAMES[parsed.resource_type])
    ctx.authorize(action_of(ctx), parsed.arn)
    return parsed


def _visible_to_consumer(ctx: RequestContext, parsed: IncidentsArn) -> bool:
    """Return whether another account's plan or incident is shared with the caller's account."""
    if parsed.resource_type == "RESPONSE_PLAN":
        plan_name, action = parsed.resource_id, "ssm-incidents:GetResponsePlan"
    elif parsed.resource_type == "INCIDENT_RECORD":
        plan_name, action = parsed.resource_id.split("/", 1)[0], VIEW_ACTION
    else:
        return False
    plan = plans.find(ctx.session, parsed.account_id, plan_name)
    if plan is None:
        return False
    documents = grants(ctx, plan)
    return policies.shared_with(ctx.caller, action, parsed.arn, parsed.account_id, documents)


def owned_plan(ctx: RequestContext, arn: str, member: str) -> ResponsePlan:
    """Return the caller's own plan named by ``arn``, after authorizing the operation on it."""
    return plans.get(ctx.session, owned(ctx, arn, member, "RESPONSE_PLAN"))


def _incidents_pattern(account_id: str, plan_name: str) -> str:
    return f"arn:aws:ssm-incidents::{account_id}:incident-record/{plan_name}/*"


def grants(ctx: RequestContext, plan: ResponsePlan) -> tuple[dict[str, Any], ...]:
    """Return the policies that share ``plan`` and its incidents: resource policies and RAM shares.

    A RAM share is represented by a policy that grants the caller's account
    the consumer actions, so both kinds of sharing are authorized alike.
    """
    documents = policies.documents(ctx.session, plan)
    if plan.account_id != ctx.account_id and sharing.shared_with(
        ctx.session, plan.arn, ctx.account_id
    ):
        resources = [plan.arn, _incidents_pattern(plan.account_id, plan.name)]
        grant = sharing.grant_policy(ctx.account_id, policies.CONSUMER_ACTIONS, resources)
        documents = (*documents, grant)
    return documents


def usable_plan(ctx: RequestContext, arn: str, member: str) -> ResponsePlan:
    """Return the plan named by ``arn`` if the caller owns it or it is shared with the caller."""
    parsed = parse_arn(arn, member, "RESPONSE_PLAN")
    if parsed.account_id == ctx.account_id:
        ctx.authorize(action_of(ctx), parsed.arn)
        return plans.get(ctx.session, parsed)
    plan = plans.find(ctx.session, parsed.account_id, parsed.resource_id)
    documents = grants(ctx, plan) if plan is not None else ()
    if plan is None or not policies.shared_with(
        ctx.caller, action_of(ctx), parsed.arn, parsed.account_id, documents
    ):
        raise not_found("RESPONSE_PLAN", parsed.arn, "Response plan")
    ctx.authorize(
        action_of(ctx),
        parsed.arn,
        resource_account=plan.account_id,
        resource_policies=documents,
    )
    return plan


def usable_incident(ctx: RequestContext, arn: str, member: str) -> IncidentsArn:
    """Parse and authorize an incident ARN of the caller's account or of a plan shared with it.

    A consumer account that can see the incident but calls an owner-only
    operation (DeleteTimelineEvent, for example) gets AccessDeniedException.
    Incidents that the caller cannot see at all are ResourceNotFoundException.
    """
    parsed = parse_arn(arn, member, "INCIDENT_RECORD")
    action = action_of(ctx)
    if parsed.account_id == ctx.account_id:
        ctx.authorize(action, parsed.arn)
        return parsed
    owner = parsed.account_id
    plan = plans.find(ctx.session, owner, parsed.resource_id.split("/", 1)[0])
    documents = grants(ctx, plan) if plan is not None else ()
    if not policies.shared_with(ctx.caller, action, parsed.arn, owner, documents):
        if policies.shared_with(ctx.caller, VIEW_ACTION, parsed.arn, owner, documents):
            raise AccessDeniedException(
                f"Only account {owner}, the owner of incident {parsed.arn}, may call "
                f"{ctx.operation}; the response plan is shared with account "
                f"{ctx.account_id} for use only."
            )
        raise not_found("INCIDENT_RECORD", parsed.arn, "Incident record")
    ctx.authorize(action, parsed.arn, resource_account=owner, resource_policies=documents)
    return parsed


def shared_plan_keys(ctx: RequestContext) -> list[tuple[str, str]]:
    """Return (account, plan name) of the other accounts' plans whose incidents the caller sees.

    Plans shared through RAM come from the index of shares by principal.
    NOTE: plans shared through resource policies are found by evaluating every
    resource policy of other accounts, so that part's cost grows with the
    number of policy-shared plans in the database.
    """
    rows = ctx.session.execute(
        select(ResponsePlan.account_id, ResponsePlan.name, ResourcePolicy.document)
        .join(ResourcePolicy, ResourcePolicy.plan_id == ResponsePlan.id)
        .where(ResponsePlan.account_id != ctx.account_id)
        .order_by(ResponsePlan.id)
    ).all()
    documents: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for account_id, name, document in rows:
        documents.setdefault((account_id, name), []).append(json.loads(document))
    keys = []
    for (account_id, name), plan_documents in documents.items():
        pattern = f"arn:aws:ssm-incidents::{account_id}:incident-record/{name}/*"
        if policies.shared_with(
            ctx.caller, VIEW_ACTION, pattern, account_id, tuple(plan_documents)
        ):
            keys.append((account_id, name))
    for arn in sharing.shared_resources(ctx.session, ctx.account_id, sharing.RESPONSE_PLAN):
        parsed = parse_arn(arn, "resourceArn", "RESPONSE_PLAN")
        key = (parsed.account_id, parsed.resource_id)
        if key not in keys:
            keys.append(key)
    return keys


def visible_plans(ctx: RequestContext) -> ColumnElement[bool]:
    """Return the condition on ResponsePlan rows that the caller owns or that are shared with it."""
    visible = [ResponsePlan.account_id == ctx.account_id]
    for account_id, name in shared_plan_keys(ctx):
        visible.append(and_(ResponsePlan.account_id == account_id, ResponsePlan.name == name))
    return or_(*visible)
