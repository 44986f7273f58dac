"""The sections of an incident's details page, read through ``invoke``.

``incident_view`` returns one JSON-ready dictionary per section: overview,
timeline, related items, engagements with their pages, and runbooks with
their steps. The details template renders them, and the incident's event
stream sends a section again whenever its dictionary changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from tocsin.sharing.setup import READ_ONLY_ROLE
from tocsin.web.console.auth import ConsoleApiError, invoke
from tocsin.web.console.incident_data import (
    EXECUTION_ARN,
    MAX_TIMELINE_EVENTS,
    IncidentKey,
    ViewCache,
    event_text,
    format_duration,
    format_time,
    impact_text,
    safe_link,
)

SECTIONS = ("overview", "timeline", "related", "engagements", "runbooks")


async def incident_view(
    request: Request, key: IncidentKey, account_id: str, cache: ViewCache
) -> dict[str, Any]:
    """Return every section of the incident's details, or raise ConsoleApiError.

    GetIncidentRecord runs first, so an incident that the principal may not
    see raises its ResourceNotFoundException before anything else is read.
    """
    record = (await invoke(request, "ssm-incidents", "GetIncidentRecord", {"arn": key.arn}))[
        "incidentRecord"
    ]
    related = await _related(request, key)
    return {
        "overview": _overview(record, key, account_id),
        "timeline": await _timeline(request, key, cache),
        "related": related,
        "engagements": await _engagements(request, key, account_id),
        "runbooks": await _runbooks(request, record, related, account_id),
    }


def _overview(record: dict[str, Any], key: IncidentKey, account_id: str) -> dict[str, Any]:
    source = record.get("incidentRecordSource") or {}
    trigger = [
        ("Source", source.get("source", "")),
        ("Created by", source.get("createdBy", "")),
        ("Invoked by", source.get("invokedBy", "")),
        ("Resource", source.get("resourceArn", "")),
    ]
    return {
        "arn": key.arn,
        "title": record.get("title", ""),
        "summary": record.get("summary", ""),
        "status": record.get("status", ""),
        "impact": record.get("impact"),
        "impactText": impact_text(record.get("impact")),
        "plan": key.plan,
        "planArn": key.plan_arn,
        "owner": key.account,
        "shared": key.account != account_id,
        "created": format_time(record.get("creationTime")),
        "resolved": format_time(record.get("resolvedTime")),
        "duration": format_duration(record.get("creationTime"), record.get("resolvedTime")),
        "lastModified": format_time(record.get("lastModifiedTime")),
        "lastModifiedBy": record.get("lastModifiedBy", ""),
        "trigger": [[name, value] for name, value in trigger if value],
    }


async def _timeline(request: Request, key: IncidentKey, cache: ViewCache) -> list[dict[str, Any]]:
    output = await invoke(
        request,
        "ssm-incidents",
        "ListTimelineEvents",
        {
            "incidentRecordArn": key.arn,
            "sortBy": "EVENT_TIME",
            "sortOrder": "DESCENDING",
            "maxResults": MAX_TIMELINE_EVENTS,
        },
    )
    events = []
    for summary in output.get("eventSummaries", []):
        # ListTimelineEvents leaves out eventData, so each new or updated event is read once.
        version = (summary["eventId"], format_time(summary.get("eventUpdatedTime")))
        text = cache.event_texts.get(version)
        if text is None:
            event = await invoke(
                request,
                "ssm-incidents",
                "GetTimelineEvent",
                {"incidentRecordArn": key.arn, "eventId": summary["eventId"]},
            )
            text = event_text(event["event"].get("eventData", ""))
            cache.event_texts[version] = text
        events.append(
            {
                "id": summary["eventId"],
                "time": format_time(summary.get("eventTime")),
                "type": summary.get("eventType", ""),
                "text": text,
            }
        )
    return events


async def _related(request: Request, key: IncidentKey) -> list[dict[str, Any]]:
    items = []
    params: dict[str, Any] = {"incidentRecordArn": key.arn, "maxResults": 100}
    output = await invoke(request, "ssm-incidents", "ListRelatedItems", params)
    for item in output.get("relatedItems", []):
        identifier = item.get("identifier") or {}
        value = identifier.get("value") or {}
        text = value.get("arn") or value.get("url") or ""
        if not text and value:
            text = json.dumps(value, default=str, sort_keys=True)
        items.append(
            {
                "title": item.get("title") or "",
                "type": identifier.get("type", ""),
                "value": text,
                "link": safe_link(value["url"]) if "url" in value else None,
            }
        )
    return items


async def _engagements(request: Request, key: IncidentKey, account_id: str) -> dict[str, Any]:
    """Return the incident's engagements with their pages, or the error that hid them.

    A principal without ssm-contacts permissions still reads the rest of the incident.
    """
    try:
        items = await _engagement_items(request, key, account_id)
    except ConsoleApiError as exc:
        return {"items": [], "error": f"{exc.code}: {exc.message}"}
    return {"items": items, "error": ""}


async def _engagement_items(
    request: Request, key: IncidentKey, account_id: str
) -> list[dict[str, Any]]:
    output = await invoke(
        request, "ssm-contacts", "ListEngagements", {"IncidentId": key.arn, "MaxResults": 100}
    )
    engagements = []
    for engagement in output.get("Engagements", []):
        arn = engagement["EngagementArn"]
        pages = await invoke(
            request,
            "ssm-contacts",
            "ListPagesByEngagement",
            {"EngagementId": arn, "MaxResults": 100},
        )
        engagements.append(
            {
                "arn": arn,
                "contact": engagement.get("ContactArn", "").rsplit("/", 1)[-1],
                "contactArn": engagement.get("ContactArn", ""),
                "sender": engagement.get("Sender", ""),
                "started": format_time(engagement.get("StartTime")),
                "stopped": format_time(engagement.get("StopTime")),
                "pages": [_page(page, account_id) for page in pages.get("Pages", [])],
            }
        )
    return sorted(engagements, key=lambda item: item["started"], reverse=True)


def _page(page: dict[str, Any], account_id: str) -> dict[str, Any]:
    arn = page["PageArn"]
    return {
        "arn": arn,
        "contact": page.get("ContactArn", "").rsplit("/", 1)[-1],
        "sent": format_time(page.get("SentTime")),
        "delivered": format_time(page.get("DeliveryTime")),
        "read": format_time(page.get("ReadTime")),
        # AcceptPage works only in the account that owns the page's contact.
        "canAccept": arn.split(":")[4] == account_id and not page.get("ReadTime"),
    }


def execution_arns(record: dict[str, Any], related: list[dict[str, Any]]) -> list[re.Match[str]]:
    """Return the incident's automation execution ARNs, parsed: plan runbooks, then related ones."""
    arns = [
        entry["ssmExecutionArn"]
        for entry in record.get("automationExecutions") or []
        if entry.get("ssmExecutionArn")
    ]
    for item in related:
        if item["type"] == "AUTOMATION" and item["value"] not in arns:
            arns.append(item["value"])
    return [found for found in map(EXECUTION_ARN.match, arns) if found is not None]


async def _runbooks(
    request: Request, record: dict[str, Any], related: list[dict[str, Any]], account_id: str
) -> list[dict[str, Any]]:
    runbooks = []
    for found in execution_arns(record, related):
        execution_id = found["execution"]
        runbook: dict[str, Any] = {
            "id": execution_id,
            "arn": found.string,
            "account": found["account"],
            "notice": "",
        }
        try:
            runbook.update(await _execution(request, execution_id))
        except ConsoleApiError as exc:
            runbook["status"] = ""
            runbook["steps"] = []
            runbook["error"] = f"{exc.code}: {exc.message}"
            # A runbook that runs in another account is visible only to that account,
            # unless the principal reads it through a role of that account.
            if exc.code == "AutomationExecutionNotFoundException" and (
                found["account"] != account_id
            ):
                runbook["error"] = ""
                runbook["notice"] = _other_account_notice(found["account"])
        runbooks.append(runbook)
    return runbooks


def _other_account_notice(account: str) -> str:
    # The set-up's read-only role may call the automation read operations only,
    # and this page also reads the incident, its timeline and related items.
    return (
        f"This runbook ran in account {account}, so only that account can read its "
        f"steps. To see them here, switch to a role of account {account} that may read "
        f"this incident and its automation executions. The {READ_ONLY_ROLE} role that "
        "`tocsin crossaccount setup` creates there may read automation executions, and "
        "needs the ssm-incidents Get* and List* actions as well."
    )


async def _execution(request: Request, execution_id: str) -> dict[str, Any]:
    params = {"AutomationExecutionId": execution_id}
    execution = (await invoke(request, "ssm", "GetAutomationExecution", params))[
        "AutomationExecution"
    ]
    steps = await invoke(request, "ssm", "DescribeAutomationStepExecutions", params)
    return {
        "document": execution.get("DocumentName", ""),
        "status": execution.get("AutomationExecutionStatus", ""),
        "started": format_time(execution.get("ExecutionStartTime")),
        "ended": format_time(execution.get("ExecutionEndTime")),
        "failure": execution.get("FailureMessage", ""),
        "error": "",
        "notice": "",
        "steps": [_step(step) for step in steps.get("StepExecutions", [])],
    }


def _pairs(values: dict[str, Any] | None) -> list[list[str]]:
    pairs = []
    for name, value in sorted((values or {}).items()):
        text = ", ".join(value) if isinstance(value, list) else str(value)
        pairs.append([name, text])
    return pairs


def _step(step: dict[str, Any]) -> dict[str, Any]:
    action = step.get("Action", "")
    status = step.get("StepStatus", "")
    return {
        "id": step.get("StepExecutionId", ""),
        "name": step.get("StepName", ""),
        "action": action,
        "status": status,
        "started": format_time(step.get("ExecutionStartTime")),
        "ended": format_time(step.get("ExecutionEndTime")),
        "inputs": _pairs(step.get("Inputs")),
        "outputs": _pairs(step.get("Outputs")),
        "failure": step.get("FailureMessage", ""),
        "awaitingApproval": action == "aws:approve" and status == "Waiting",
    }
