"""Incident record and finding operations of ssm-incidents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select

from tocsin.incidents import access, filters, records, replication
from tocsin.incidents.models import IncidentRecord
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate_query

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100
DEFAULT_MAX_FINDINGS = 20

LIST_FILTERS: dict[str, filters.FilterKey] = {
    "creationTime": filters.TimeKey(IncidentRecord.creation_time),
    "impact": filters.ValuesKey("integerValues", IncidentRecord.impact.in_),
    "status": filters.ValuesKey("stringValues", IncidentRecord.status.in_),
    "createdBy": filters.ValuesKey("stringValues", IncidentRecord.created_by.in_),
}


def usable_record(ctx: RequestContext, arn: str, member: str = "arn") -> IncidentRecord:
    """Return the incident ``arn`` names after authorizing the operation on it."""
    return records.get(ctx.session, access.usable_incident(ctx, arn, member))


@handlers.operation("StartIncident")
def start_incident(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    plan = access.usable_plan(ctx, params["responsePlanArn"], "responsePlanArn")
    replication.require_usable(ctx.session, plan.account_id, ctx.region)
    incident = records.start(
        ctx.session,
        ctx.clock,
        plan,
        params,
        caller_arn=ctx.caller.arn,
        caller_account=ctx.account_id,
    )
    return {"incidentRecordArn": incident.arn}


@handlers.operation("GetIncidentRecord")
def get_incident_record(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"incidentRecord": records.describe(usable_record(ctx, params["arn"]))}


@handlers.operation("ListIncidentRecords")
def list_incident_records(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-incidents:ListIncidentRecords", "*")
    conditions = filters.conditions(params.get("filters", []), LIST_FILTERS)
    visible = [IncidentRecord.account_id == ctx.account_id]
    for account_id, plan_name in access.shared_plan_keys(ctx):
        visible.append(
            and_(IncidentRecord.account_id == account_id, IncidentRecord.plan_name == plan_name)
        )
    page = paginate_query(
        ctx.session,
        select(IncidentRecord).where(or_(*visible), *conditions),
        order_by=(IncidentRecord.creation_time, IncidentRecord.id),
        descending=True,
        max_results=params.get("maxResults", DEFAULT_MAX_RESULTS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, listing_filters(params)),
    )
    output: dict[str, Any] = {
        "incidentRecordSummaries": [records.summarize(incident) for incident in page.items]
    }
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("UpdateIncidentRecord")
def update_incident_record(ctx: RequestContext, params: dict[str, Any]) -> None:
    incident = usable_record(ctx, params["arn"])
    records.update_record(ctx.session, ctx.clock, incident, params, ctx.caller.arn)


@handlers.operation("DeleteIncidentRecord")
def delete_incident_record(ctx: RequestContext, params: dict[str, Any]) -> None:
    # The model marks DeleteIncidentRecord idempotent and lists no
    # ResourceNotFoundException, so a missing incident of the caller's own
    # account is deleted already. Only the owner account deletes.
    parsed = access.owned(ctx, params["arn"], "arn", "INCIDENT_RECORD")
    incident = records.find_by_arn(ctx.session, parsed.arn)
    if incident is not None:
        records.delete_record(ctx.session, incident)


@handlers.operation("ListIncidentFindings")
def list_incident_findings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # NOTE: findings come from CloudFormation and CodeDeploy deployment
    # events, which Tocsin does not receive yet, so every incident has none.
    usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    return {"findings": []}


@handlers.operation("BatchGetIncidentFindings")
def batch_get_incident_findings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    errors = [
        {
            "findingId": finding_id,
            "code": "ResourceNotFoundException",
            "message": f"Finding {finding_id} was not found for incident {incident.arn}.",
        }
        for finding_id in dict.fromkeys(params["findingIds"])
    ]
    return {"findings": [], "errors": errors}
