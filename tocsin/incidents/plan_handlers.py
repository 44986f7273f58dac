"""Response plan operations of ssm-incidents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tocsin.incidents import access, plans, replication
from tocsin.incidents.arns import plan_arn
from tocsin.incidents.models import ResponsePlan
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import page_scope, paginate_query

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100


@handlers.operation("CreateResponsePlan")
def create_response_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-incidents:CreateResponsePlan", plan_arn(ctx.account_id, params["name"]))
    replication.require_usable(ctx.session, ctx.account_id, ctx.region)
    plan = plans.create(
        ctx.session,
        ctx.clock,
        ctx.account_id,
        params,
        other_accounts_topics=ctx.runtime.settings.allow_cross_account_notification_targets,
    )
    return {"arn": plan.arn}


@handlers.operation("GetResponsePlan")
def get_response_plan(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return plans.describe(access.usable_plan(ctx, params["arn"], "arn"))


@handlers.operation("ListResponsePlans")
def list_response_plans(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-incidents:ListResponsePlans", "*")
    page = paginate_query(
        ctx.session,
        select(ResponsePlan).where(access.visible_plans(ctx)),
        order_by=(ResponsePlan.name, ResponsePlan.id),
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, {}),
    )
    summaries = []
    for plan in page.items:
        summary = {"arn": plan.arn, "name": plan.name}
        if plan.display_name is not None:
            summary["displayName"] = plan.display_name
        summaries.append(summary)
    output: dict[str, Any] = {"responsePlanSummaries": summaries}
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("UpdateResponsePlan")
def update_response_plan(ctx: RequestContext, params: dict[str, Any]) -> None:
    plan = access.owned_plan(ctx, params["arn"], "arn")
    replication.require_usable(ctx.session, ctx.account_id, ctx.region)
    plans.update(
        ctx.session,
        ctx.clock,
        plan,
        params,
        other_accounts_topics=ctx.runtime.settings.allow_cross_account_notification_targets,
    )


@handlers.operation("DeleteResponsePlan")
def delete_response_plan(ctx: RequestContext, params: dict[str, Any]) -> None:
    # The model marks DeleteResponsePlan idempotent and lists no
    # ResourceNotFoundException for it, so deleting a missing plan of the
    # caller's own account succeeds. A plan ARN of another account is not found.
    parsed = access.owned(ctx, params["arn"], "arn", "RESPONSE_PLAN")
    plan = plans.find(ctx.session, parsed.account_id, parsed.resource_id)
    if plan is not None:
        plans.delete_plan(ctx.session, ctx.clock, plan)
