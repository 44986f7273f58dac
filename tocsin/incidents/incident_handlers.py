"""Incident record and finding operations of ssm-incidents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import load_only

from tocsin.incidents import access, filters, findings, records, replication
from tocsin.incidents.models import IncidentRecord
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate, paginate_query

handlers = ServiceHandlers("ssm-incidents")

DEFAULT_MAX_RESULTS = 100
DEFAULT_MAX_FINDINGS = 20

# The columns that ``records.summarize`` and the listing's keyset read. The
# listing loads no others, so a summary that needs more raises at once.
SUMMARY_COLUMNS = (
    IncidentRecord.id,
    IncidentRecord.arn,
    IncidentRecord.creation_time,
    IncidentRecord.impact,
    IncidentRecord.status,
    IncidentRecord.title,
    IncidentRecord.created_by,
    IncidentRecord.source,
    IncidentRecord.invoked_by,
    IncidentRecord.resource_arn,
    IncidentRecord.resolved_time,
)

# It is built once, because building the loader option on each request cost
# more CPU than the skipped columns saved.
_SUMMARIES = select(IncidentRecord).options(load_only(*SUMMARY_COLUMNS, raiseload=True))

LIST_FILTERS: dict[str, filters.FilterKey] = {
    "creationTime": filters.TimeKey(IncidentRecord.creation_time),
    "impact": filters.ValuesKey("integerValues", IncidentRecord.impact.in_),
    "status": filters.ValuesKey("stringValues", IncidentRecord.status.in_),
    "createdBy": filters.ValuesKey("stringValues", IncidentRecord.created_by.in_),
}


def listing_query(
    visible: Sequence[ColumnElement[bool]], list_filters: Sequence[Mapping[str, Any]]
) -> Select[Any]:
    """Return ListIncidentRecords' query: incidents that match any of ``visible`` and every filter.

    The caller adds the ordering by creation time and id, and the limit.
    """
    conditions = filters.conditions(list_filters, LIST_FILTERS)
    return _SUMMARIES.where(or_(*visible), *conditions)


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
        region=ctx.region,
    )
    return {"incidentRecordArn": incident.arn}


@handlers.operation("GetIncidentRecord", read_only=True)
def get_incident_record(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"incidentRecord": records.describe(usable_record(ctx, params["arn"]))}


@handlers.operation("ListIncidentRecords", read_only=True)
def list_incident_records(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-incidents:ListIncidentRecords", "*")
    visible = [IncidentRecord.account_id == ctx.account_id]
    for account_id, plan_name in access.shared_plan_keys(ctx):
        visible.append(
            and_(IncidentRecord.account_id == account_id, IncidentRecord.plan_name == plan_name)
        )
    page = paginate_query(
        ctx.session,
        listing_query(visible, params.get("filters", [])),
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
    records.update_record(
        ctx.session,
        ctx.clock,
        incident,
        params,
        ctx.caller.arn,
        other_accounts_topics=ctx.runtime.settings.allow_cross_account_notification_targets,
    )


@handlers.operation("DeleteIncidentRecord")
def delete_incident_record(ctx: RequestContext, params: dict[str, Any]) -> None:
    # The model marks DeleteIncidentRecord idempotent and lists no
    # ResourceNotFoundException, so a missing incident of the caller's own
    # account is deleted already. Only the owner account deletes.
    parsed = access.owned(ctx, params["arn"], "arn", "INCIDENT_RECORD")
    incident = records.find_by_arn(ctx.session, parsed.arn)
    if incident is not None:
        records.delete_record(ctx.session, incident)


def _findings_window(ctx: RequestContext) -> timedelta:
    return timedelta(minutes=ctx.runtime.settings.findings_window_minutes)


@handlers.operation("ListIncidentFindings", read_only=True)
def list_incident_findings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    found = findings.incident_findings(ctx.session, incident, _findings_window(ctx))
    page = paginate(
        found,
        key=lambda finding: (finding.activity.start_time, finding.id),
        max_results=params.get("maxResults", DEFAULT_MAX_FINDINGS),
        token=params.get("nextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-incidents", ctx.operation, listing_filters(params)),
    )
    output: dict[str, Any] = {"findings": [finding.summary() for finding in page.items]}
    if page.next_token:
        output["nextToken"] = page.next_token
    return output


@handlers.operation("BatchGetIncidentFindings", read_only=True)
def batch_get_incident_findings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    incident = usable_record(ctx, params["incidentRecordArn"], "incidentRecordArn")
    by_id = {
        finding.id: finding
        for finding in findings.incident_findings(ctx.session, incident, _findings_window(ctx))
    }
    found: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for finding_id in dict.fromkeys(params["findingIds"]):
        finding = by_id.get(finding_id)
        if finding is not None:
            found.append(finding.describe())
            continue
        errors.append(
            {
                "findingId": finding_id,
                "code": "ResourceNotFoundException",
                "message": f"Finding {finding_id!r} was not found for incident {incident.arn}.",
            }
        )
    return {"findings": found, "errors": errors}
