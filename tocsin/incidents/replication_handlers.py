"""Replication set operations of ssm-incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.incidents import access, replication
from tocsin.incidents.models import ReplicationSet
from tocsin.protocol.errors import ValidationException
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import page_scope, paginate

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100


def _describe(replication_set: ReplicationSet) -> dict[str, Any]:
    region_map = {}
    for name, info in replication_set.regions.items():
        region: dict[str, Any] = {
            "status": info["status"],
            "statusUpdateDateTime": datetime.fromisoformat(info["statusUpdateDateTime"]),
        }
        if info.get("sseKmsKeyId"):
            region["sseKmsKeyId"] = info["sseKmsKeyId"]
        if info.get("statusMessage"):
            region["statusMessage"] = info["statusMessage"]
        region_map[name] = region
    return {
        "arn": replication_set.arn,
        "createdBy": replication_set.created_by,
        "createdTime": replication_set.created_at,
        "deletionProtected": replication_set.deletion_protected,
        "lastModifiedBy": replication_set.last_modified_by,
        "lastModifiedTime": replication_set.last_modified_at,
        "regionMap": region_map,
        "status": replication_set.status,
    }


def _owned_set(ctx: RequestContext, params: dict[str, Any]) -> ReplicationSet:
    parsed = access.owned(ctx, params["arn"], "arn", "REPLICATION_SET")
    return replication.get(ctx.session, parsed)


@handlers.operation("CreateReplicationSet")
def create_replication_set(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    set_id, arn = replication.new_arn(ctx.account_id)
    ctx.authorize("ssm-incidents:CreateReplicationSet", arn)
    created = replication.create(
        ctx.session,
        ctx.clock,
        account_id=ctx.account_id,
        set_id=set_id,
        regions=params["regions"],
        caller_arn=ctx.caller.arn,
        resource_tags=params.get("tags", {}),
    )
    return {"arn": created.arn}


@handlers.operation("GetReplicationSet")
def get_replication_set(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"replicationSet": _describe(_owned_set(ctx, params))}


@handlers.operation("ListReplicationSets")
def list_replication_sets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-incidents:ListReplicationSets", "*")
    found = replication.find(ctx.session, ctx.account_id)
    page = paginate(
        [found.arn] if found is not None else [],
        key=lambda arn: (arn,),
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, {}),
    )
    output: dict[str, Any] = {"replicationSetArns": page.items}
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("UpdateReplicationSet")
def update_replication_set(ctx: RequestContext, params: dict[str, Any]) -> None:
    replication_set = _owned_set(ctx, params)
    actions = params["actions"]
    if len(actions) != 1:
        raise ValidationException(
            f"actions has {len(actions)} entries: UpdateReplicationSet takes exactly one action"
        )
    replication.update(ctx.session, ctx.clock, replication_set, actions[0], ctx.caller.arn)


@handlers.operation("UpdateDeletionProtection")
def update_deletion_protection(ctx: RequestContext, params: dict[str, Any]) -> None:
    replication_set = _owned_set(ctx, params)
    replication.set_deletion_protection(
        ctx.clock, replication_set, params["deletionProtected"], ctx.caller.arn
    )


@handlers.operation("DeleteReplicationSet")
def delete_replication_set(ctx: RequestContext, params: dict[str, Any]) -> None:
    replication.start_delete(ctx.session, ctx.clock, _owned_set(ctx, params))
