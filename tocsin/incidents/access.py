"""Authorization of Incident Manager requests, for the owner and for accounts a plan is shared with.

Resources of another account are ResourceNotFoundException, as if they did
not exist, unless a resource policy of the response plan shares them with the
caller's account. Only the owner tags, shares, changes or deletes.
"""

from __future__ import annotations

from tocsin.incidents import plans, policies
from tocsin.incidents.arns import IncidentsArn, ResourceType, not_found, parse_arn
from tocsin.incidents.models import ResponsePlan
from tocsin.protocol.handlers import RequestContext

_NAMES: dict[ResourceType, str] = {
    "RESPONSE_PLAN": "Response plan",
    "REPLICATION_SET": "Replication set",
    "INCIDENT_RECORD": "Incident record",
}


def action_of(ctx: RequestContext) -> str:
    return f"ssm-incidents:{ctx.operation}"


def owned(ctx: RequestContext, arn: str, member: str, *expected: ResourceType) -> IncidentsArn:
    """Parse ``arn`` and authorize the operation on it for its owner only."""
    parsed = parse_arn(arn, member, *expected)
    if parsed.account_id != ctx.account_id:
        raise not_found(parsed.resource_type, parsed.arn, _NAMES[parsed.resource_type])
    ctx.authorize(action_of(ctx), parsed.arn)
    return parsed


def owned_plan(ctx: RequestContext, arn: str, member: str) -> ResponsePlan:
    """Return the caller's own plan named by ``arn``, after authorizing the operation on it."""
    return plans.get(ctx.session, owned(ctx, arn, member, "RESPONSE_PLAN"))


def usable_plan(ctx: RequestContext, arn: str, member: str) -> ResponsePlan:
    """Return the plan named by ``arn`` if the caller owns it or it is shared with the caller."""
    parsed = parse_arn(arn, member, "RESPONSE_PLAN")
    if parsed.account_id == ctx.account_id:
        ctx.authorize(action_of(ctx), parsed.arn)
        return plans.get(ctx.session, parsed)
    plan = plans.find(ctx.session, parsed.account_id, parsed.resource_id)
    documents = policies.documents(ctx.session, plan) if plan is not None else ()
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
