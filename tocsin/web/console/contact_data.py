"""Contacts and response plans as the console pages list them, read through ``invoke``.

The console's URLs carry the parts of an ARN:

- ``arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME`` is
  ``/console/response-plans/ACCOUNT/NAME``;
- ``arn:aws:ssm-contacts:REGION:ACCOUNT:contact/ALIAS`` is
  ``/console/contacts/ACCOUNT/ALIAS``, in the console's region.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from tocsin.web.console.auth import invoke

CONTACT_TYPES = ("PERSONAL", "ESCALATION", "ONCALL_SCHEDULE")
CONTACT_TYPE_NAMES = {
    "PERSONAL": "Contact",
    "ESCALATION": "Escalation plan",
    "ONCALL_SCHEDULE": "On-call schedule",
}
ACCOUNT_ID = re.compile(r"^\d{12}$")
PLAN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
CONTACT_ALIAS = re.compile(r"^[a-z0-9_-]{1,255}$")
PLAN_ARN = re.compile(r"^arn:aws[a-z-]*:ssm-incidents::(\d{12}):response-plan/([A-Za-z0-9_-]+)$")
CONTACT_ARN = re.compile(r"^arn:aws[a-z-]*:ssm-contacts:[a-z0-9-]+:(\d{12}):contact/([a-z0-9_-]+)$")
# The page size of the list calls; 100 is the maximum that ListResponsePlans accepts.
PAGE_SIZE = 100


def plan_arn(account_id: str, name: str) -> str | None:
    """Return the ARN of a response plan from its URL parts, or None when they are invalid."""
    if not ACCOUNT_ID.match(account_id) or not PLAN_NAME.match(name):
        return None
    return f"arn:aws:ssm-incidents::{account_id}:response-plan/{name}"


def plan_path(arn: str) -> str:
    match = PLAN_ARN.match(arn)
    if match is None:
        return "/console/response-plans"
    return f"/console/response-plans/{match.group(1)}/{match.group(2)}"


def contact_arn(region: str, account_id: str, alias: str) -> str | None:
    """Return the ARN of a contact from its URL parts, or None when they are invalid."""
    if not ACCOUNT_ID.match(account_id) or not CONTACT_ALIAS.match(alias):
        return None
    return f"arn:aws:ssm-contacts:{region}:{account_id}:contact/{alias}"


def contact_path(arn: str) -> str:
    match = CONTACT_ARN.match(arn)
    if match is None:
        return "/console/contacts"
    return f"/console/contacts/{match.group(1)}/{match.group(2)}"


def owner_of(arn: str) -> str:
    """Return the account id of an ARN, its fifth part."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


async def list_contacts(
    request: Request, account_id: str, contact_type: str | None = None
) -> list[dict[str, Any]]:
    """Return the contacts that the principal may see, shared ones included, own ones first."""
    found = []
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE}
    if contact_type:
        params["Type"] = contact_type
    while True:
        output = await invoke(request, "ssm-contacts", "ListContacts", params)
        for contact in output.get("Contacts", []):
            arn = contact["ContactArn"]
            owner = owner_of(arn)
            found.append(
                {
                    "arn": arn,
                    "alias": contact.get("Alias", ""),
                    "name": contact.get("DisplayName") or contact.get("Alias", ""),
                    "type": contact.get("Type", ""),
                    "typeName": CONTACT_TYPE_NAMES.get(contact.get("Type", ""), ""),
                    "owner": owner,
                    "shared": owner != account_id,
                    "path": contact_path(arn),
                }
            )
        token = output.get("NextToken")
        if not token:
            return sorted(found, key=lambda item: (item["shared"], item["owner"], item["alias"]))
        params = {**params, "NextToken": token}


async def list_plans(request: Request, account_id: str) -> list[dict[str, Any]]:
    """Return the response plans that the principal may see, shared ones after own ones."""
    plans = []
    params: dict[str, Any] = {"maxResults": PAGE_SIZE}
    while True:
        output = await invoke(request, "ssm-incidents", "ListResponsePlans", params)
        for summary in output.get("responsePlanSummaries", []):
            owner = owner_of(summary["arn"])
            plans.append(
                {
                    "arn": summary["arn"],
                    "name": summary.get("name", ""),
                    "displayName": summary.get("displayName", ""),
                    "owner": owner,
                    "shared": owner != account_id,
                    "path": plan_path(summary["arn"]),
                }
            )
        token = output.get("nextToken")
        if not token:
            return sorted(plans, key=lambda plan: (plan["shared"], plan["owner"], plan["name"]))
        params = {**params, "nextToken": token}


def contact_names(contacts: list[dict[str, Any]]) -> dict[str, str]:
    """Return a label per contact ARN, with the owner account of shared contacts."""
    labels = {}
    for contact in contacts:
        label = f"{contact['name']} ({contact['alias']})"
        if contact["shared"]:
            label += f", account {contact['owner']}"
        labels[contact["arn"]] = label
    return labels
