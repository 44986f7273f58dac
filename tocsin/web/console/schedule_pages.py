"""The console's on-call schedule pages: the list and one schedule with its coverage check.

An on-call schedule is an ONCALL_SCHEDULE contact whose plan names
rotations. Its page is ``/console/schedules/ACCOUNT/ALIAS``. The rotation
pages and forms are in ``rotation_pages``.

NOTE: the iCalendar feeds of ``tocsin calendar`` have no AWS operation, so
the console cannot check a principal's permission for them, and their URLs
are shown only once, when the command creates them. The pages leave them out.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console import rotation_pages
from tocsin.web.console.auth import ConsoleApiError, invoke, require_session
from tocsin.web.console.form_support import page_with_flash, region_of, session_of
from tocsin.web.console.rotation_input import contact_label, recurrence_text
from tocsin.web.console.schedule_data import (
    CHECK_DAYS,
    coverage_check,
    list_all,
    page_path,
    page_status,
    schedule_arn,
)

logger = logging.getLogger(__name__)


@require_session
async def schedule_list(request: Request) -> Response:
    session = session_of(request)
    schedules: list[dict[str, Any]] = []
    rotations: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    try:
        found = await list_all(
            request, "ListContacts", {"Type": "ONCALL_SCHEDULE", "MaxResults": 100}, "Contacts"
        )
        schedules = [
            {
                "arn": contact["ContactArn"],
                "alias": contact.get("Alias", ""),
                "name": contact.get("DisplayName") or contact.get("Alias", ""),
                "owner": contact["ContactArn"].split(":")[4],
                "path": page_path(contact["ContactArn"]),
            }
            for contact in found
        ]
    except ConsoleApiError as exc:
        errors["schedules"] = f"{exc.code}: {exc.message}"
    try:
        found = await list_all(request, "ListRotations", {"MaxResults": 100}, "Rotations")
        rotations = [
            {
                "arn": rotation["RotationArn"],
                "name": rotation["Name"],
                "zone": rotation["TimeZoneId"],
                "members": [
                    contact_label(arn, session.account_id) for arn in rotation["ContactIds"]
                ],
                "recurrence": recurrence_text(rotation.get("Recurrence") or {}),
                "path": page_path(rotation["RotationArn"]),
            }
            for rotation in found
        ]
    except ConsoleApiError as exc:
        errors["rotations"] = f"{exc.code}: {exc.message}"
    context = {"schedules": schedules, "rotations": rotations, "errors": errors}
    return page_with_flash(request, "schedules_list.html", context)


async def _rotation_rows(request: Request, rotation_ids: list[str]) -> list[dict[str, Any]]:
    rows = []
    for rotation_id in rotation_ids:
        row: dict[str, Any] = {
            "arn": rotation_id,
            "name": rotation_id.rsplit("/", 1)[-1],
            "path": page_path(rotation_id),
        }
        try:
            rotation = await invoke(
                request, "ssm-contacts", "GetRotation", {"RotationId": rotation_id}
            )
            row["zone"] = rotation["TimeZoneId"]
            row["recurrence"] = recurrence_text(rotation.get("Recurrence") or {})
        except ConsoleApiError as exc:
            row["error"] = f"{exc.code}: {exc.message}"
        rows.append(row)
    return rows


@require_session
async def schedule_details(request: Request) -> Response:
    params = request.path_params
    arn = schedule_arn(region_of(request), params["account"], params["alias"])
    if arn is None:
        context = {"message": "No such on-call schedule."}
        return page_with_flash(request, "schedules_missing.html", context, status_code=404)
    try:
        contact = await invoke(request, "ssm-contacts", "GetContact", {"ContactId": arn})
    except ConsoleApiError as exc:
        context = {"message": f"{exc.code}: {exc.message}"}
        return page_with_flash(
            request, "schedules_missing.html", context, status_code=page_status(exc)
        )
    if contact.get("Type") != "ONCALL_SCHEDULE":
        context = {"message": f"{arn} is a {contact.get('Type')} contact, not an on-call schedule."}
        return page_with_flash(request, "schedules_missing.html", context, status_code=404)
    rotation_ids = (contact.get("Plan") or {}).get("RotationIds") or []
    check = None
    check_error = None
    try:
        check = await coverage_check(request, contact)
    except ConsoleApiError as exc:
        check_error = f"{exc.code}: {exc.message}"
    details: dict[str, Any] = {
        "contact": {
            "arn": contact["ContactArn"],
            "alias": contact.get("Alias", ""),
            "name": contact.get("DisplayName") or contact.get("Alias", ""),
        },
        "rotations": await _rotation_rows(request, rotation_ids),
        "check": check,
        "check_error": check_error,
        "check_days": CHECK_DAYS,
    }
    return page_with_flash(request, "schedules_schedule.html", details)


def routes() -> list[BaseRoute]:
    """Return the routes of the schedule pages and of the rotation pages and forms."""
    return [
        Route("/console/schedules", schedule_list, methods=["GET"]),
        Route("/console/schedules/{account}/{alias}", schedule_details, methods=["GET"]),
        *rotation_pages.routes(),
    ]
