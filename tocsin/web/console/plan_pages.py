"""The console's response plan pages: list, details, create, edit and delete.

Every read and write goes through ``invoke`` as the signed-in principal, so
IAM policies and resource shares apply as they do for the API. Plans that
another account shares are listed with their owner account and are read-only
here, because only the owner may change them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console.auth import ConsoleApiError, ConsoleSession, invoke, require_session
from tocsin.web.console.contact_data import (
    contact_names,
    contact_path,
    list_contacts,
    list_plans,
    owner_of,
    plan_arn,
    plan_path,
)
from tocsin.web.console.form_support import (
    FailureLocation,
    FormError,
    Outcome,
    field,
    form_route,
    lines,
    page_status,
    page_with_flash,
    session_of,
    values,
)
from tocsin.web.console.incident_data import IMPACTS
from tocsin.web.console.incident_forms import parse_parameters

logger = logging.getLogger(__name__)

LIST_PATH = "/console/response-plans"
NEW_PATH = "/console/response-plans/new"
PLAN_PATH = "/console/response-plans/{account}/{name}"
TARGET_ACCOUNTS = ("RESPONSE_PLAN_OWNER_ACCOUNT", "IMPACTED_ACCOUNT")
# CreateResponsePlan and UpdateResponsePlan accept at most this many engagements.
MAX_ENGAGEMENTS = 5


def _arn_of(request: Request) -> str | None:
    return plan_arn(request.path_params["account"], request.path_params["name"])


def _missing(request: Request, message: str, status: int) -> Response:
    context = {"title": "Response plan not found", "message": message, "back": LIST_PATH}
    return page_with_flash(request, "plans_missing.html", context, status_code=status)


async def _contact_options(request: Request, session: ConsoleSession) -> tuple[list[Any], str]:
    """Return the contacts that a plan may engage, or an empty list and the AWS error."""
    try:
        return await list_contacts(request, session.account_id), ""
    except ConsoleApiError as exc:
        return [], f"{exc.code}: {exc.message}"


@require_session
async def plan_list(request: Request) -> Response:
    session = session_of(request)
    error = ""
    plans: list[dict[str, Any]] = []
    try:
        plans = await list_plans(request, session.account_id)
    except ConsoleApiError as exc:
        error = f"{exc.code}: {exc.message}"
    return page_with_flash(request, "plans_list.html", {"plans": plans, "error": error})


def _automation(plan: dict[str, Any]) -> dict[str, Any]:
    """Return the plan's SSM automation action, or an empty dictionary."""
    for action in plan.get("actions", []):
        if "ssmAutomation" in action:
            automation: dict[str, Any] = action["ssmAutomation"]
            return automation
    return {}


async def _optional_read(
    request: Request, service: str, operation: str, params: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """Run a read whose failure the page shows in its own section."""
    try:
        return await invoke(request, service, operation, params), ""
    except ConsoleApiError as exc:
        return {}, f"{exc.code}: {exc.message}"


@require_session
async def plan_details(request: Request) -> Response:
    session = session_of(request)
    arn = _arn_of(request)
    if arn is None:
        return _missing(request, "No such response plan.", 404)
    try:
        plan = await invoke(request, "ssm-incidents", "GetResponsePlan", {"arn": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    owned = owner_of(arn) == session.account_id

    contacts, contacts_error = await _contact_options(request, session)
    if contacts_error:
        logger.info("contacts of %s not listed: %s", session.principal_arn, contacts_error)
    names = contact_names(contacts)
    engagements = [
        {"arn": item, "label": names.get(item, item), "path": contact_path(item)}
        for item in plan.get("engagements", [])
    ]

    tags, tags_error = await _optional_read(
        request, "ssm-incidents", "ListTagsForResource", {"resourceArn": arn}
    )
    policies: list[dict[str, Any]] = []
    policies_error = ""
    if owned:
        output, policies_error = await _optional_read(
            request, "ssm-incidents", "GetResourcePolicies", {"resourceArn": arn}
        )
        policies = [_readable_policy(policy) for policy in output.get("resourcePolicies", [])]

    context = {
        "plan": plan,
        "arn": arn,
        "path": plan_path(arn),
        "owner": owner_of(arn),
        "owned": owned,
        "template": plan.get("incidentTemplate", {}),
        "impacts": IMPACTS,
        "engagements": engagements,
        "automation": _automation(plan),
        "tags": sorted(tags.get("tags", {}).items()),
        "tags_error": tags_error,
        "policies": policies,
        "policies_error": policies_error,
    }
    return page_with_flash(request, "plans_details.html", context)


def _readable_policy(policy: dict[str, Any]) -> dict[str, Any]:
    text = policy.get("policyDocument", "")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2)
    return {"id": policy.get("policyId", ""), "document": text}


def _form_values(plan: dict[str, Any]) -> dict[str, Any]:
    """Return the values that the plan form shows for an existing plan."""
    template = plan.get("incidentTemplate", {})
    automation = _automation(plan)
    parameters = [
        f"{name}={value}"
        for name, items in automation.get("parameters", {}).items()
        for value in items
    ]
    return {
        "name": plan.get("name", ""),
        "displayName": plan.get("displayName", ""),
        "title": template.get("title", ""),
        "impact": template.get("impact", 3),
        "summary": template.get("summary", ""),
        "dedupeString": template.get("dedupeString", ""),
        "notificationTargets": "\n".join(
            target.get("snsTopicArn", "") for target in template.get("notificationTargets", [])
        ),
        "chatChannel": "\n".join(plan.get("chatChannel", {}).get("chatbotSns", [])),
        "engagements": list(plan.get("engagements", [])),
        "documentName": automation.get("documentName", ""),
        "roleArn": automation.get("roleArn", ""),
        "documentVersion": automation.get("documentVersion", ""),
        "targetAccount": automation.get("targetAccount", TARGET_ACCOUNTS[0]),
        "parameters": "\n".join(parameters),
        "dynamicParameters": sorted(automation.get("dynamicParameters", {})),
    }


async def _render_form(request: Request, plan: dict[str, Any] | None, arn: str | None) -> Response:
    session = session_of(request)
    contacts, contacts_error = await _contact_options(request, session)
    current = _form_values(plan or {})
    listed = {contact["arn"] for contact in contacts}
    # Engagements that ListContacts did not return stay selectable, so that saving keeps them.
    unlisted = [item for item in current["engagements"] if item not in listed]
    context = {
        "editing": plan is not None,
        "action": f"{plan_path(arn)}/edit" if arn else LIST_PATH,
        "cancel": plan_path(arn) if arn else LIST_PATH,
        "values": current,
        "contacts": contacts,
        "unlisted": unlisted,
        "contacts_error": contacts_error,
        "impacts": IMPACTS,
        "target_accounts": TARGET_ACCOUNTS,
        "max_engagements": MAX_ENGAGEMENTS,
    }
    return page_with_flash(request, "plans_form.html", context)


@require_session
async def new_plan_form(request: Request) -> Response:
    return await _render_form(request, None, None)


@require_session
async def edit_plan_form(request: Request) -> Response:
    arn = _arn_of(request)
    if arn is None:
        return _missing(request, "No such response plan.", 404)
    try:
        plan = await invoke(request, "ssm-incidents", "GetResponsePlan", {"arn": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    return await _render_form(request, plan, arn)


def _impact(form: FormData) -> int:
    impact = field(form, "impact", "The impact")
    if not impact.isdigit() or int(impact) not in IMPACTS:
        raise FormError(f"The impact {impact!r} is invalid: choose a value from 1 to 5.")
    return int(impact)


def _actions(form: FormData, dynamic_parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the plan's actions: one SSM automation when any runbook field is filled."""
    names = ("documentName", "roleArn", "documentVersion")
    filled = {name: field(form, name, name, required=False) for name in names}
    parameters = parse_parameters(field(form, "parameters", "Parameters", required=False))
    if not any(filled.values()) and not parameters:
        return []
    automation: dict[str, Any] = {
        # The API rejects an empty document name or role ARN with a message that names it.
        "documentName": filled["documentName"],
        "roleArn": filled["roleArn"],
    }
    if filled["documentVersion"]:
        automation["documentVersion"] = filled["documentVersion"]
    target = field(form, "targetAccount", "The target account", required=False)
    if target:
        if target not in TARGET_ACCOUNTS:
            raise FormError(
                f"The target account {target!r} is invalid: choose {' or '.join(TARGET_ACCOUNTS)}."
            )
        automation["targetAccount"] = target
    if parameters:
        automation["parameters"] = parameters
    if dynamic_parameters:
        automation["dynamicParameters"] = dynamic_parameters
    return [{"ssmAutomation": automation}]


def _plan_members(form: FormData, dynamic_parameters: dict[str, Any]) -> dict[str, Any]:
    """Return the members that the create and edit forms set, named as CreateResponsePlan's."""
    engagements = values(form, "engagements")
    if len(engagements) > MAX_ENGAGEMENTS:
        raise FormError(
            f"{len(engagements)} engagements are selected, but a response plan engages at most "
            f"{MAX_ENGAGEMENTS} contacts: clear some of them."
        )
    chat_topics = lines(form, "chatChannel")
    template: dict[str, Any] = {
        "title": field(form, "title", "The incident title"),
        "impact": _impact(form),
        "summary": field(form, "summary", "The summary", required=False),
        "dedupeString": field(form, "dedupeString", "The deduplication string", required=False),
        "notificationTargets": [
            {"snsTopicArn": topic} for topic in lines(form, "notificationTargets")
        ],
    }
    return {
        "displayName": field(form, "displayName", "The display name", required=False),
        "incidentTemplate": template,
        "chatChannel": {"chatbotSns": chat_topics} if chat_topics else {"empty": {}},
        "engagements": engagements,
        "actions": _actions(form, dynamic_parameters),
    }


def _tags(form: FormData) -> dict[str, str]:
    tags = {}
    for number, line in enumerate(lines(form, "tags"), start=1):
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            raise FormError(
                f"Tags line {number} ({line[:60]!r}) is invalid: write key=value, one tag per line."
            )
        tags[key.strip()] = value.strip()
    return tags


async def _create(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    name = field(form, "name", "The name")
    members = _plan_members(form, {})
    template = {key: value for key, value in members["incidentTemplate"].items() if value}
    params: dict[str, Any] = {
        "name": name,
        "incidentTemplate": template,
        "clientToken": str(uuid.uuid4()),
    }
    if members["displayName"]:
        params["displayName"] = members["displayName"]
    if "chatbotSns" in members["chatChannel"]:
        params["chatChannel"] = members["chatChannel"]
    for member in ("engagements", "actions"):
        if members[member]:
            params[member] = members[member]
    tags = _tags(form)
    if tags:
        params["tags"] = tags
    output = await invoke(request, "ssm-incidents", "CreateResponsePlan", params)
    return Outcome(plan_path(output["arn"]), f"Response plan {name} was created.")


async def _update(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = _arn_of(request)
    if arn is None:
        raise FormError("No such response plan: the URL names no valid account and plan name.")
    current = await invoke(request, "ssm-incidents", "GetResponsePlan", {"arn": arn})
    # The form does not edit dynamic parameters, so the plan keeps the ones it has.
    dynamic_parameters = _automation(current).get("dynamicParameters", {})
    members = _plan_members(form, dynamic_parameters)
    template = members["incidentTemplate"]
    await invoke(
        request,
        "ssm-incidents",
        "UpdateResponsePlan",
        {
            "arn": arn,
            "clientToken": str(uuid.uuid4()),
            "displayName": members["displayName"],
            "incidentTemplateTitle": template["title"],
            "incidentTemplateImpact": template["impact"],
            "incidentTemplateSummary": template["summary"],
            "incidentTemplateDedupeString": template["dedupeString"],
            "incidentTemplateNotificationTargets": template["notificationTargets"],
            "chatChannel": members["chatChannel"],
            "engagements": members["engagements"],
            "actions": members["actions"],
        },
    )
    return Outcome(plan_path(arn), f"Response plan {current.get('name', arn)} was saved.")


@require_session
async def delete_plan_form(request: Request) -> Response:
    arn = _arn_of(request)
    if arn is None:
        return _missing(request, "No such response plan.", 404)
    try:
        plan = await invoke(request, "ssm-incidents", "GetResponsePlan", {"arn": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    context = {"plan": plan, "arn": arn, "path": plan_path(arn)}
    return page_with_flash(request, "plans_delete.html", context)


async def _delete(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = _arn_of(request)
    if arn is None:
        raise FormError("No such response plan: the URL names no valid account and plan name.")
    name = request.path_params["name"]
    typed = field(form, "confirm", "The confirmation", required=False)
    if typed != name:
        raise FormError(
            f"The confirmation {typed!r} does not match: type the plan's name, {name}, "
            "to delete it."
        )
    await invoke(request, "ssm-incidents", "DeleteResponsePlan", {"arn": arn})
    return Outcome(LIST_PATH, f"Response plan {name} was deleted.")


def _back_to(suffix: str) -> FailureLocation:
    def location(request: Request) -> str:
        arn = _arn_of(request)
        return plan_path(arn) + suffix if arn else LIST_PATH

    return location


@require_session
async def _escalation_redirect(_request: Request) -> Response:
    return RedirectResponse("/console/contacts?type=ESCALATION", status_code=303)


def routes() -> list[BaseRoute]:
    """Return the routes of the response plan pages and their forms."""
    return [
        Route(LIST_PATH, plan_list, methods=["GET"]),
        form_route(LIST_PATH, _create, lambda _request: NEW_PATH, "create-response-plan"),
        Route(NEW_PATH, new_plan_form, methods=["GET"]),
        Route(PLAN_PATH, plan_details, methods=["GET"]),
        Route(PLAN_PATH + "/edit", edit_plan_form, methods=["GET"]),
        form_route(PLAN_PATH + "/edit", _update, _back_to("/edit"), "update-response-plan"),
        Route(PLAN_PATH + "/delete", delete_plan_form, methods=["GET"]),
        form_route(PLAN_PATH + "/delete", _delete, _back_to("/delete"), "delete-response-plan"),
        Route("/console/escalation-plans", _escalation_redirect, methods=["GET"]),
    ]
