"""The console's sharing page, /console/sharing: RAM resource shares, invitations and the audit.

The page lists the account's own resource shares and those that other
accounts share with it (GetResourceShares with resourceOwner SELF and
OTHER-ACCOUNTS), each with its resources and principals, and the pending
invitations with Accept and Reject buttons. A form shares a response plan or
contact. The sharing audit of ``tocsin sharing audit`` runs on a read-only
database session for the signed-in account, and only after GetResourceShares
has succeeded as the signed-in principal.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tocsin.sharing import audit
from tocsin.web.console.auth import (
    ConsoleApiError,
    ConsoleSession,
    invoke,
    require_session,
    runtime_of,
)
from tocsin.web.console.form_support import (
    FormError,
    Outcome,
    field,
    form_route,
    lines,
    page_with_flash,
    session_of,
)
from tocsin.web.console.schedule_data import list_all

logger = logging.getLogger(__name__)

SHARING_PATH = "/console/sharing"
OWNERS = {"SELF": "Shared by this account", "OTHER-ACCOUNTS": "Shared with this account"}
# Bounds the pages that one listing reads, so a page load stays quick.
MAX_LISTING_PAGES = 20
ACCOUNT_ID_LENGTH = 12


async def _list_ram(
    request: Request, operation: str, params: dict[str, Any], member: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(MAX_LISTING_PAGES):
        output = await invoke(request, "ram", operation, params)
        items.extend(output.get(member, []))
        token = output.get("nextToken")
        if not token:
            break
        params = {**params, "nextToken": token}
    return items


async def _shares(request: Request, owner: str) -> list[dict[str, Any]]:
    """Return the active shares of ``owner`` with their resources and principals."""
    shares = await _list_ram(
        request,
        "GetResourceShares",
        {"resourceOwner": owner, "resourceShareStatus": "ACTIVE"},
        "resourceShares",
    )
    rows = []
    for share in shares:
        arn = share["resourceShareArn"]
        row: dict[str, Any] = {
            "arn": arn,
            "name": share["name"],
            "owner": share["owningAccountId"],
            "external": share.get("allowExternalPrincipals", False),
            "resources": [],
            "principals": [],
        }
        scope = {"resourceOwner": owner, "resourceShareArns": [arn]}
        try:
            resources = await _list_ram(request, "ListResources", scope, "resources")
            row["resources"] = [item["arn"] for item in resources]
            if owner == "SELF":
                principals = await _list_ram(request, "ListPrincipals", scope, "principals")
                row["principals"] = [item["id"] for item in principals]
        except ConsoleApiError as exc:
            row["error"] = f"{exc.code}: {exc.message}"
        rows.append(row)
    return rows


async def _shareable(request: Request, account_id: str) -> list[dict[str, str]]:
    """Return the account's own response plans and contacts, for the create-share form."""
    choices: list[dict[str, str]] = []
    try:
        params: dict[str, Any] = {"maxResults": 100}
        for _ in range(MAX_LISTING_PAGES):
            output = await invoke(request, "ssm-incidents", "ListResponsePlans", params)
            for plan in output.get("responsePlanSummaries", []):
                label = plan.get("displayName") or plan["name"]
                choices.append({"arn": plan["arn"], "label": f"Response plan {label}"})
            if not output.get("nextToken"):
                break
            params = {**params, "nextToken": output["nextToken"]}
    except ConsoleApiError as exc:
        logger.info("response plans not listed for the sharing form: %s", exc.code)
    try:
        contacts = await list_all(request, "ListContacts", {"MaxResults": 100}, "Contacts")
    except ConsoleApiError as exc:
        logger.info("contacts not listed for the sharing form: %s", exc.code)
        contacts = []
    for contact in contacts:
        # ListContacts includes contacts that other accounts share; only the owner can share.
        if contact["ContactArn"].split(":")[4] == account_id:
            choices.append({"arn": contact["ContactArn"], "label": f"Contact {contact['Alias']}"})
    return choices


def _audit(request: Request, account_id: str) -> dict[str, Any]:
    """Run the ``tocsin sharing audit`` report of one account on a read-only session."""
    runtime = runtime_of(request)
    with runtime.database.read() as connection, Session(bind=connection) as session:
        reports = audit.audit(session, runtime.clock.now(), account_id)
    return {"text": audit.as_text(reports), "findings": sum(item.findings for item in reports)}


@require_session
async def sharing(request: Request) -> Response:
    session = session_of(request)
    errors: dict[str, str] = {}
    groups = []
    for owner, title in OWNERS.items():
        try:
            groups.append({"owner": owner, "title": title, "shares": await _shares(request, owner)})
        except ConsoleApiError as exc:
            groups.append({"owner": owner, "title": title, "shares": []})
            errors[owner] = f"{exc.code}: {exc.message}"

    invitations: list[dict[str, Any]] = []
    try:
        received = await _list_ram(
            request, "GetResourceShareInvitations", {}, "resourceShareInvitations"
        )
        invitations = [item for item in received if item.get("status") == "PENDING"]
    except ConsoleApiError as exc:
        errors["invitations"] = f"{exc.code}: {exc.message}"

    report = None
    # The audit reads the database directly, so it runs only for a principal
    # that the API lets read the account's resource shares.
    if "SELF" not in errors:
        try:
            report = await run_in_threadpool(_audit, request, session.account_id)
        except audit.AuditError as exc:
            errors["audit"] = f"The sharing audit failed: {exc}"
    else:
        errors["audit"] = errors["SELF"]

    context = {
        "groups": groups,
        "invitations": invitations,
        "errors": errors,
        "report": report,
        "shareable": await _shareable(request, session.account_id),
    }
    return page_with_flash(request, "sharing.html", context)


def _invitation(form: FormData) -> str:
    arn = field(form, "invitation", "The invitation")
    if not arn.startswith("arn:aws:ram:"):
        raise FormError(f"The invitation {arn!r} is invalid: expected a RAM invitation ARN.")
    return arn


async def _accept(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = _invitation(form)
    output = await invoke(
        request,
        "ram",
        "AcceptResourceShareInvitation",
        {"resourceShareInvitationArn": arn, "clientToken": str(uuid.uuid4())},
    )
    name = output.get("resourceShareInvitation", {}).get("resourceShareName", "")
    return Outcome(SHARING_PATH, f"Accepted the invitation to resource share {name}.")


async def _reject(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    arn = _invitation(form)
    output = await invoke(
        request,
        "ram",
        "RejectResourceShareInvitation",
        {"resourceShareInvitationArn": arn, "clientToken": str(uuid.uuid4())},
    )
    name = output.get("resourceShareInvitation", {}).get("resourceShareName", "")
    return Outcome(SHARING_PATH, f"Rejected the invitation to resource share {name}.")


def _principals(form: FormData) -> list[str]:
    principals = []
    for number, line in enumerate(lines(form, "principals"), start=1):
        if not ((line.isdigit() and len(line) == ACCOUNT_ID_LENGTH) or line.startswith("arn:aws:")):
            raise FormError(
                f"Principal line {number} {line!r} is invalid: enter a 12-digit account ID, "
                "or the ARN of an organization, organizational unit, role or user."
            )
        principals.append(line)
    if not principals:
        raise FormError("The principals are missing: enter at least one account ID or ARN.")
    return principals


async def _create_share(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
    name = field(form, "name", "The share name")
    resources = [
        value.strip()
        for value in form.getlist("resource")
        if isinstance(value, str) and value.strip()
    ]
    if not resources:
        raise FormError("The resources are missing: choose a response plan or contact to share.")
    output = await invoke(
        request,
        "ram",
        "CreateResourceShare",
        {
            "name": name,
            "resourceArns": resources,
            "principals": _principals(form),
            "allowExternalPrincipals": form.get("allow_external") == "on",
            "clientToken": str(uuid.uuid4()),
        },
    )
    arn = output["resourceShare"]["resourceShareArn"]
    return Outcome(SHARING_PATH, f"Resource share {name} was created: {arn}.")


def routes() -> list[BaseRoute]:
    """Return the routes of the sharing page and its forms."""

    def back(_request: Request) -> str:
        return SHARING_PATH

    return [
        Route(SHARING_PATH, sharing, methods=["GET"]),
        form_route(f"{SHARING_PATH}/invitations/accept", _accept, back, "invitation-accept"),
        form_route(f"{SHARING_PATH}/invitations/reject", _reject, back, "invitation-reject"),
        form_route(f"{SHARING_PATH}/shares", _create_share, back, "share-create"),
    ]
