"""The console's contact pages: contacts, escalation plans and their engagement plans.

The list shows PERSONAL contacts, ESCALATION contacts (escalation plans) and
ONCALL_SCHEDULE contacts of the account and those that other accounts share
with it, which are read-only here. A contact's page shows its channels and
its stages, and the stage editor changes them with ``UpdateContact``. The
channel forms are in ``channel_forms``.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console import channel_forms
from tocsin.web.console.auth import ConsoleApiError, ConsoleSession, invoke, require_session
from tocsin.web.console.contact_data import (
    CONTACT_TYPE_NAMES,
    CONTACT_TYPES,
    contact_arn,
    contact_names,
    contact_path,
    list_contacts,
    owner_of,
)
from tocsin.web.console.contact_stages import stage_rows, stages_from_form
from tocsin.web.console.form_support import (
    FailureLocation,
    FormError,
    Outcome,
    field,
    form_route,
    page_status,
    page_with_flash,
    region_of,
    session_of,
)

logger = logging.getLogger(__name__)

LIST_PATH = "/console/contacts"
NEW_PATH = "/console/contacts/new"
CONTACT_PATH = "/console/contacts/{account}/{alias}"
# The console creates PERSONAL contacts and escalation plans. On-call
# schedules have their own pages, because they need rotations first.
CREATABLE_TYPES = ("PERSONAL", "ESCALATION")
# An escalation plan engages these contact types, never another escalation plan.
ESCALATION_TARGET_TYPES = ("PERSONAL", "ONCALL_SCHEDULE")
TYPE_FILTERS = {
    "PERSONAL": "Personal contacts",
    "ESCALATION": "Escalation plans",
    "ONCALL_SCHEDULE": "On-call schedules",
}
# The create form of an escalation plan offers this many empty stages.
NEW_ESCALATION_STAGES = 2


def arn_of(request: Request) -> str | None:
    params = request.path_params
    return contact_arn(region_of(request), params["account"], params["alias"])


def _missing(request: Request, message: str, status: int) -> Response:
    context = {"title": "Contact not found", "message": message, "back": LIST_PATH}
    return page_with_flash(request, "plans_missing.html", context, status_code=status)


def _type_filter(request: Request) -> str:
    chosen = request.query_params.get("type", "")
    return chosen if chosen in CONTACT_TYPES else ""


@require_session
async def contact_list(request: Request) -> Response:
    session = session_of(request)
    chosen = _type_filter(request)
    error = ""
    contacts: list[dict[str, Any]] = []
    try:
        contacts = await list_contacts(request, session.account_id, chosen or None)
    except ConsoleApiError as exc:
        error = f"{exc.code}: {exc.message}"
    context = {
        "contacts": contacts,
        "error": error,
        "chosen": chosen,
        "types": TYPE_FILTERS,
    }
    return page_with_flash(request, "contacts_list.html", context)


async def _channels(request: Request, arn: str) -> tuple[list[dict[str, Any]], str]:
    """Return the contact's channels, or an empty list and the AWS error."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"ContactId": arn, "MaxResults": 100}
    try:
        while True:
            output = await invoke(request, "ssm-contacts", "ListContactChannels", params)
            for channel in output.get("ContactChannels", []):
                found.append(
                    {
                        "arn": channel["ContactChannelArn"],
                        "name": channel.get("Name", ""),
                        "type": channel.get("Type", ""),
                        "address": channel.get("DeliveryAddress", {}).get("SimpleAddress", ""),
                        "status": channel.get("ActivationStatus", ""),
                    }
                )
            token = output.get("NextToken")
            if not token:
                return found, ""
            params = {**params, "NextToken": token}
    except ConsoleApiError as exc:
        return found, f"{exc.code}: {exc.message}"


async def _target_options(
    request: Request, session: ConsoleSession, contact: dict[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """Return what the contact's stages may target: its channels or other contacts."""
    if contact["Type"] == "PERSONAL":
        channels, error = await _channels(request, contact["ContactArn"])
        options = [
            {
                "arn": channel["arn"],
                "label": f"{channel['name']} ({channel['type']} {channel['address']})",
                "note": "" if channel["status"] == "ACTIVATED" else "not activated",
            }
            for channel in channels
        ]
        return options, error
    try:
        contacts = await list_contacts(request, session.account_id)
    except ConsoleApiError as exc:
        return [], f"{exc.code}: {exc.message}"
    labels = contact_names(contacts)
    options = [
        {
            "arn": item["arn"],
            "label": labels[item["arn"]],
            "note": "shared" if item["shared"] else item["typeName"],
        }
        for item in contacts
        if item["type"] in ESCALATION_TARGET_TYPES and item["arn"] != contact["ContactArn"]
    ]
    return options, ""


@require_session
async def contact_details(request: Request) -> Response:
    session = session_of(request)
    arn = arn_of(request)
    if arn is None:
        return _missing(request, "No such contact.", 404)
    try:
        contact = await invoke(request, "ssm-contacts", "GetContact", {"ContactId": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    owned = owner_of(arn) == session.account_id

    channels: list[dict[str, Any]] = []
    channels_error = ""
    if contact["Type"] == "PERSONAL":
        channels, channels_error = await _channels(request, arn)
    labels = {channel["arn"]: f"{channel['name']} ({channel['type']})" for channel in channels}
    if contact["Type"] == "ESCALATION":
        try:
            labels.update(contact_names(await list_contacts(request, session.account_id)))
        except ConsoleApiError as exc:
            logger.info("contacts of %s not listed: %s", session.principal_arn, exc)

    context = {
        "contact": contact,
        "arn": arn,
        "path": contact_path(arn),
        "owner": owner_of(arn),
        "owned": owned,
        "type_name": CONTACT_TYPE_NAMES.get(contact["Type"], contact["Type"]),
        "channels": channels,
        "channels_error": channels_error,
        "channel_types": channel_forms.CHANNEL_TYPES,
        "stages": stage_rows(contact.get("Plan", {}), labels, empty_stages=0),
    }
    return page_with_flash(request, "contacts_details.html", context)


@require_session
async def new_contact_form(request: Request) -> Response:
    session = session_of(request)
    chosen = request.query_params.get("type", "PERSONAL")
    contact_type = chosen if chosen in CREATABLE_TYPES else "PERSONAL"
    options: list[dict[str, Any]] = []
    options_error = ""
    if contact_type == "ESCALATION":
        placeholder = {"Type": "ESCALATION", "ContactArn": ""}
        options, options_error = await _target_options(request, session, placeholder)
    context = {
        "contact_type": contact_type,
        "type_name": CONTACT_TYPE_NAMES[contact_type],
        "creatable": {name: CONTACT_TYPE_NAMES[name] for name in CREATABLE_TYPES},
        "options": options,
        "options_error": options_error,
        "stages": stage_rows({}, {}, empty_stages=NEW_ESCALATION_STAGES),
    }
    return page_with_flash(request, "contacts_new.html", context)


async def _create(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    alias = field(form, "alias", "The alias")
    contact_type = field(form, "type", "The contact type")
    if contact_type not in CREATABLE_TYPES:
        raise FormError(
            f"The contact type {contact_type!r} is invalid: choose "
            f"{' or '.join(CREATABLE_TYPES)}. Create on-call schedules on the schedules page."
        )
    stages = stages_from_form(form, contact_type) if contact_type == "ESCALATION" else []
    params: dict[str, Any] = {"Alias": alias, "Type": contact_type, "Plan": {"Stages": stages}}
    display_name = field(form, "displayName", "The display name", required=False)
    if display_name:
        params["DisplayName"] = display_name
    output = await invoke(request, "ssm-contacts", "CreateContact", params)
    type_name = CONTACT_TYPE_NAMES[contact_type]
    return Outcome(contact_path(output["ContactArn"]), f"{type_name} {alias} was created.")


def _new_form_location(request: Request) -> str:
    # The create form posts its contact type in the query string, so that a
    # failure leads back to the form of that type.
    chosen = request.query_params.get("type")
    if chosen in CREATABLE_TYPES:
        return f"{NEW_PATH}?type={chosen}"
    return NEW_PATH


@require_session
async def edit_plan_form(request: Request) -> Response:
    session = session_of(request)
    arn = arn_of(request)
    if arn is None:
        return _missing(request, "No such contact.", 404)
    try:
        contact = await invoke(request, "ssm-contacts", "GetContact", {"ContactId": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    if contact["Type"] not in CREATABLE_TYPES:
        message = "On-call schedules are changed on the On-call schedules pages."
        return _missing(request, message, 400)

    options, options_error = await _target_options(request, session, contact)
    plan = contact.get("Plan", {})
    listed = {option["arn"] for option in options}
    labels = {option["arn"]: option["label"] for option in options}
    stages = stage_rows(plan, labels)
    # Targets that are no longer listed stay choosable, so that saving keeps them.
    for stage in stages:
        for target in stage["targets"]:
            if target["arn"] not in listed:
                listed.add(target["arn"])
                options.append({"arn": target["arn"], "label": target["arn"], "note": "not listed"})

    context = {
        "contact": contact,
        "path": contact_path(arn),
        "type_name": CONTACT_TYPE_NAMES[contact["Type"]],
        "options": options,
        "options_error": options_error,
        "stages": stages,
    }
    return page_with_flash(request, "contacts_plan.html", context)


async def _update_plan(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = arn_of(request)
    if arn is None:
        raise FormError("No such contact: the URL names no valid account and alias.")
    contact = await invoke(request, "ssm-contacts", "GetContact", {"ContactId": arn})
    stages = stages_from_form(form, contact["Type"])
    await invoke(
        request, "ssm-contacts", "UpdateContact", {"ContactId": arn, "Plan": {"Stages": stages}}
    )
    noun = "escalation plan" if contact["Type"] == "ESCALATION" else "engagement plan"
    return Outcome(contact_path(arn), f"The {noun} of {contact['Alias']} was saved.")


@require_session
async def delete_contact_form(request: Request) -> Response:
    arn = arn_of(request)
    if arn is None:
        return _missing(request, "No such contact.", 404)
    try:
        contact = await invoke(request, "ssm-contacts", "GetContact", {"ContactId": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    context = {
        "contact": contact,
        "path": contact_path(arn),
        "type_name": CONTACT_TYPE_NAMES.get(contact["Type"], contact["Type"]),
    }
    return page_with_flash(request, "contacts_delete.html", context)


async def _delete(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = arn_of(request)
    alias = request.path_params["alias"]
    if arn is None:
        raise FormError("No such contact: the URL names no valid account and alias.")
    typed = field(form, "confirm", "The confirmation", required=False)
    if typed != alias:
        raise FormError(
            f"The confirmation {typed!r} does not match: type the alias, {alias}, to delete it."
        )
    await invoke(request, "ssm-contacts", "DeleteContact", {"ContactId": arn})
    return Outcome(LIST_PATH, f"Contact {alias} was deleted.")


def back_to(suffix: str) -> FailureLocation:
    def location(request: Request) -> str:
        arn = arn_of(request)
        return contact_path(arn) + suffix if arn else LIST_PATH

    return location


def routes() -> list[BaseRoute]:
    """Return the routes of the contact pages and their forms."""
    return [
        Route(LIST_PATH, contact_list, methods=["GET"]),
        form_route(LIST_PATH, _create, _new_form_location, "create-contact"),
        Route(NEW_PATH, new_contact_form, methods=["GET"]),
        Route(CONTACT_PATH, contact_details, methods=["GET"]),
        Route(CONTACT_PATH + "/plan", edit_plan_form, methods=["GET"]),
        form_route(CONTACT_PATH + "/plan", _update_plan, back_to("/plan"), "update-contact-plan"),
        Route(CONTACT_PATH + "/delete", delete_contact_form, methods=["GET"]),
        form_route(CONTACT_PATH + "/delete", _delete, back_to("/delete"), "delete-contact"),
        *channel_forms.routes(CONTACT_PATH, arn_of, back_to("")),
    ]
