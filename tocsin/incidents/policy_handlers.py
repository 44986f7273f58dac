"""Resource policy and tag operations of ssm-incidents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tocsin.incidents import access, plans, policies, records, replication, tags
from tocsin.incidents.models import ResourcePolicy
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import page_scope, paginate_query

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100
# Modules that register their resource types in tags.TAGGABLE when imported.
TAGGABLE_MODULES = (plans, records, replication)


@handlers.operation("PutResourcePolicy")
def put_resource_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    plan = access.owned_plan(ctx, params["resourceArn"], "resourceArn")
    policy = policies.put(ctx.session, ctx.clock, plan, params["policy"], ctx.region)
    return {"policyId": policy.policy_id}


@handlers.operation("GetResourcePolicies")
def get_resource_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    plan = access.owned_plan(ctx, params["resourceArn"], "resourceArn")
    page = paginate_query(
        ctx.session,
        select(ResourcePolicy).where(ResourcePolicy.plan_id == plan.id),
        order_by=(ResourcePolicy.created_at, ResourcePolicy.policy_id),
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, {"resourceArn": plan.arn}),
    )
    output: dict[str, Any] = {
        "resourcePolicies": [
            {
                "policyDocument": policy.document,
                "policyId": policy.policy_id,
                "ramResourceShareRegion": policy.region,
            }
            for policy in page.items
        ]
    }
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("DeleteResourcePolicy")
def delete_resource_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    plan = access.owned_plan(ctx, params["resourceArn"], "resourceArn")
    policy = policies.get_policy(ctx.session, plan, params["policyId"])
    policies.delete_policy(ctx.session, plan, policy)


def _tagged_resource(ctx: RequestContext, arn: str) -> str:
    parsed = access.owned(ctx, arn, "resourceArn", *tags.TAGGABLE)
    tags.TAGGABLE[parsed.resource_type](ctx.session, parsed)
    return parsed.arn


@handlers.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> None:
    arn = _tagged_resource(ctx, params["resourceArn"])
    tags.tag(ctx.session, ctx.account_id, arn, params["tags"])


@handlers.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> None:
    arn = _tagged_resource(ctx, params["resourceArn"])
    tags.untag(ctx.session, arn, params["tagKeys"])


@handlers.operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = _tagged_resource(ctx, params["resourceArn"])
    return {"tags": tags.list_tags(ctx.session, arn)}
