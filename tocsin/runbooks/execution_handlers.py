"""SSM Automation execution operations: start, read, list, stop and signal runs."""

from __future__ import annotations

from typing import Any

from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate, paginate_query
from tocsin.runbooks import execution_listing, executions, run_documents, signals
from tocsin.runbooks.document_handlers import readable
from tocsin.runbooks.errors import InvalidDocument
from tocsin.runbooks.execution_errors import AutomationDefinitionNotFoundException
from tocsin.runbooks.execution_models import AutomationExecution

handlers = ServiceHandlers("ssm")

DEFAULT_MAX_RESULTS = 50


def _execution_arn(ctx: RequestContext, execution_id: str) -> str:
    return executions.execution_arn(ctx.region, ctx.account_id, execution_id)


@handlers.operation("StartAutomationExecution")
def start_automation_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["DocumentName"]
    if name in run_documents.BUILT_IN:
        ctx.authorize("ssm:StartAutomationExecution", f"arn:aws:ssm:{ctx.region}::document/{name}")
    else:
        try:
            readable(ctx, name)
        except InvalidDocument as exc:
            raise AutomationDefinitionNotFoundException(exc.message) from exc
    document = run_documents.find(
        ctx.session, ctx.account_id, ctx.region, name, params.get("DocumentVersion")
    )
    caller = ctx.caller
    request = executions.StartRequest(
        account_id=ctx.account_id,
        region=ctx.region,
        executed_by=caller.arn,
        caller=caller,
        signing_key_id=caller.access_key_id if caller.kind != "assumed-role" else None,
    )
    run = executions.start(ctx.session, ctx.clock, request, document, params)
    return {"AutomationExecutionId": run.execution_id}


@handlers.operation("GetAutomationExecution", read_only=True)
def get_automation_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    execution_id = params["AutomationExecutionId"]
    ctx.authorize("ssm:GetAutomationExecution", _execution_arn(ctx, execution_id))
    run = executions.get_visible(ctx.session, ctx.account_id, execution_id)
    return {"AutomationExecution": executions.describe(ctx.session, run)}


@handlers.operation("DescribeAutomationExecutions", read_only=True)
def describe_automation_executions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm:DescribeAutomationExecutions", "*")
    query = execution_listing.executions_query(
        ctx.account_id, ctx.region, params.get("Filters") or []
    )
    page = paginate_query(
        ctx.session,
        query,
        order_by=(AutomationExecution.start_time, AutomationExecution.execution_id),
        descending=True,
        max_results=params.get("MaxResults", DEFAULT_MAX_RESULTS),
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm", ctx.operation, listing_filters(params)),
    )
    output: dict[str, Any] = {
        "AutomationExecutionMetadataList": [executions.describe_metadata(r) for r in page.items]
    }
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("DescribeAutomationStepExecutions", read_only=True)
def describe_automation_step_executions(
    ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    execution_id = params["AutomationExecutionId"]
    ctx.authorize("ssm:DescribeAutomationStepExecutions", _execution_arn(ctx, execution_id))
    run = executions.get_visible(ctx.session, ctx.account_id, execution_id)
    filters = params.get("Filters") or []
    rows = [
        row
        for row in executions.steps_of(ctx.session, run)
        if execution_listing.step_matches(row, filters)
    ]
    reverse = bool(params.get("ReverseOrder"))
    if reverse:
        rows.reverse()
    page = paginate(
        rows,
        key=(lambda row: (-row.position,)) if reverse else (lambda row: (row.position,)),
        max_results=params.get("MaxResults", DEFAULT_MAX_RESULTS),
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm", ctx.operation, listing_filters(params)),
    )
    document = executions.parse_document(run)
    output: dict[str, Any] = {
        "StepExecutions": [executions.describe_step(row, document) for row in page.items]
    }
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("StopAutomationExecution")
def stop_automation_execution(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    execution_id = params["AutomationExecutionId"]
    ctx.authorize("ssm:StopAutomationExecution", _execution_arn(ctx, execution_id))
    run = executions.get_visible(ctx.session, ctx.account_id, execution_id)
    signals.stop(ctx.session, ctx.clock, run, params.get("Type", "Cancel"))
    return {}


@handlers.operation("SendAutomationSignal")
def send_automation_signal(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    execution_id = params["AutomationExecutionId"]
    ctx.authorize("ssm:SendAutomationSignal", _execution_arn(ctx, execution_id))
    run = executions.get_visible(ctx.session, ctx.account_id, execution_id)
    signals.signal(
        ctx.session, ctx.clock, run, ctx.caller, params["SignalType"], params.get("Payload") or {}
    )
    return {}
