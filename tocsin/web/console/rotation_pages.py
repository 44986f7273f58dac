"""The console's rotation pages: shift calendar, overrides, create and edit forms, preview.

A rotation's page is ``/console/rotations/ACCOUNT/NAME``. Its calendar shows
one week or month of ListRotationShifts, in the rotation's time zone and in
UTC, as a list of days. The preview (``/console/rotations/preview``) reads
the rotation form with GET and shows ListPreviewRotationShifts without
storing anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tocsin.web.console.auth import (
    ConsoleApiError,
    ConsoleSession,
    invoke,
    require_session,
    runtime_of,
    verify_csrf,
)
from tocsin.web.console.form_support import (
    FormError,
    Outcome,
    field,
    form_route,
    page_with_flash,
    region_of,
    session_of,
    values,
)
from tocsin.web.console.rotation_input import (
    FREQUENCIES,
    contact_arn,
    contact_label,
    form_values,
    local_instant,
    local_text,
    recurrence_text,
    rotation_input,
    zone_of,
)
from tocsin.web.console.schedule_data import (
    Window,
    list_all,
    page_path,
    page_status,
    parse_window,
    rotation_arn,
    shift_days,
    utc_text,
    zone_text,
)

ROTATION_PATH = "/console/rotations/{account}/{name}"
FORM_FIELDS = (
    "name",
    "members",
    "time_zone",
    "start_time",
    "frequency",
    "multiplier",
    "on_calls",
    "handoffs",
    "coverages",
)
DEFAULT_VALUES = {
    "frequency": "WEEKLY",
    "multiplier": "1",
    "on_calls": "1",
    "time_zone": "UTC",
    "handoffs": "MON 09:00",
}
PREVIEW_DAYS = 14
MAX_PREVIEW_DAYS = 366


def _path_arn(request: Request) -> str | None:
    params = request.path_params
    return rotation_arn(region_of(request), params["account"], params["name"])


def _missing(request: Request, message: str, status: int) -> Response:
    return page_with_flash(
        request, "schedules_missing.html", {"message": message}, status_code=status
    )


async def _personal_contacts(request: Request) -> list[dict[str, str]]:
    """Return the account's PERSONAL contacts for the forms; empty when they cannot be listed."""
    session = session_of(request)
    try:
        found = await list_all(
            request, "ListContacts", {"Type": "PERSONAL", "MaxResults": 100}, "Contacts"
        )
    except ConsoleApiError:
        return []
    return [
        {
            "arn": contact["ContactArn"],
            "label": contact_label(contact["ContactArn"], session.account_id),
            "name": contact.get("DisplayName") or contact.get("Alias", ""),
        }
        for contact in found
    ]


def _form_context(values_: dict[str, str], contacts: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "values": {**DEFAULT_VALUES, **values_},
        "frequencies": list(FREQUENCIES),
        "contacts": contacts,
    }


async def _calendar(
    request: Request, arn: str, window: Window, account_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """Return the window's shifts by day, its overrides, and the AWS error of a failed read."""
    window_params = {"RotationId": arn, "StartTime": window.start, "EndTime": window.end}
    days: list[dict[str, Any]] = []
    overrides: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    try:
        shifts = await list_all(
            request, "ListRotationShifts", {**window_params, "MaxResults": 1024}, "RotationShifts"
        )
        days = shift_days(shifts, window, account_id)
    except ConsoleApiError as exc:
        errors["shifts"] = f"{exc.code}: {exc.message}"

    try:
        found = await list_all(
            request,
            "ListRotationOverrides",
            {**window_params, "MaxResults": 1024},
            "RotationOverrides",
        )
        overrides = [_override_row(item, arn, window.zone, account_id) for item in found]
    except ConsoleApiError as exc:
        errors["overrides"] = f"{exc.code}: {exc.message}"
    return days, overrides, errors


@require_session
async def rotation_details(request: Request) -> Response:
    session = session_of(request)
    arn = _path_arn(request)
    if arn is None:
        return _missing(request, "No such rotation.", 404)
    try:
        rotation = await invoke(request, "ssm-contacts", "GetRotation", {"RotationId": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))

    zone = zone_of(rotation["TimeZoneId"])
    now = runtime_of(request).clock.now()
    window = parse_window(dict(request.query_params.items()), zone, now)
    days, overrides, errors = await _calendar(request, arn, window, session.account_id)

    contacts = await _personal_contacts(request)
    if not contacts:
        contacts = [
            {"arn": member, "label": contact_label(member, session.account_id), "name": ""}
            for member in rotation["ContactIds"]
        ]
    # The override form suggests eight hours from the later of now and the window's start.
    override_start = max(window.start, now)
    first_start: datetime = rotation["StartTime"]
    path = page_path(arn)
    context = {
        "rotation": {
            "arn": arn,
            "name": rotation["Name"],
            "zone": rotation["TimeZoneId"],
            "start": f"{zone_text(first_start, zone)} ({utc_text(first_start)})",
            "members": [contact_label(item, session.account_id) for item in rotation["ContactIds"]],
            "recurrence": recurrence_text(rotation.get("Recurrence") or {}),
        },
        "path": path,
        "window": window,
        "previous_link": f"{path}?period={window.period}&date={window.previous_day.isoformat()}",
        "next_link": f"{path}?period={window.period}&date={window.end_day.isoformat()}",
        "days": days,
        "overrides": overrides,
        "errors": errors,
        "contacts": contacts,
        "override_start": local_text(override_start, zone),
        "override_end": local_text(override_start + timedelta(hours=8), zone),
    }
    return page_with_flash(request, "schedules_rotation.html", context)


def _override_row(
    item: dict[str, Any], arn: str, zone: ZoneInfo, account_id: str
) -> dict[str, Any]:
    start: datetime = item["StartTime"]
    end: datetime = item["EndTime"]
    return {
        "id": item["RotationOverrideId"],
        "contacts": [contact_label(contact, account_id) for contact in item["NewContactIds"]],
        "local": f"{zone_text(start, zone)} to {zone_text(end, zone)}",
        "utc": f"{utc_text(start)} to {utc_text(end)}",
        "delete_path": f"{page_path(arn)}/overrides/{item['RotationOverrideId']}/delete",
    }


@require_session
async def new_rotation(request: Request) -> Response:
    context = _form_context({}, await _personal_contacts(request))
    context.update({"action": "/console/rotations", "editing": False})
    return page_with_flash(request, "schedules_rotation_form.html", context)


@require_session
async def edit_rotation(request: Request) -> Response:
    session = session_of(request)
    arn = _path_arn(request)
    if arn is None:
        return _missing(request, "No such rotation.", 404)
    try:
        rotation = await invoke(request, "ssm-contacts", "GetRotation", {"RotationId": arn})
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    context = _form_context(
        form_values(rotation, session.account_id), await _personal_contacts(request)
    )
    context.update({"action": f"{page_path(arn)}/edit", "editing": True, "path": page_path(arn)})
    return page_with_flash(request, "schedules_rotation_form.html", context)


def _text_fields(form: FormData) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}


async def _create(request: Request, session: ConsoleSession, form: FormData) -> Outcome:
    fields = _text_fields(form)
    name = fields["name"]
    if not name:
        raise FormError("The rotation name is missing: enter a name.")
    params = rotation_input(fields, region_of(request), session.account_id)
    output = await invoke(
        request,
        "ssm-contacts",
        "CreateRotation",
        {"Name": name, **params, "IdempotencyToken": str(uuid.uuid4())},
    )
    arn = output["RotationArn"]
    return Outcome(page_path(arn), f"Rotation {name} was created.")


async def _update(request: Request, session: ConsoleSession, form: FormData) -> Outcome:
    arn = _path_arn(request)
    if arn is None:
        raise FormError(
            "The rotation in the address is invalid: open it from the on-call schedules page."
        )
    params = rotation_input(_text_fields(form), region_of(request), session.account_id)
    await invoke(request, "ssm-contacts", "UpdateRotation", {"RotationId": arn, **params})
    return Outcome(page_path(arn), "The rotation was updated.")


async def _create_override(request: Request, session: ConsoleSession, form: FormData) -> Outcome:
    arn = _path_arn(request)
    if arn is None:
        raise FormError(
            "The rotation in the address is invalid: open it from the on-call schedules page."
        )
    rotation = await invoke(request, "ssm-contacts", "GetRotation", {"RotationId": arn})
    zone = zone_of(rotation["TimeZoneId"])
    contacts = [
        contact_arn(value, region_of(request), session.account_id, "The contact")
        for value in values(form, "contact")
    ]
    if not contacts:
        raise FormError("The contacts of the override are missing: choose at least one.")
    start = local_instant(field(form, "start_time", "The start time"), zone, "The start time")
    end = local_instant(field(form, "end_time", "The end time"), zone, "The end time")
    await invoke(
        request,
        "ssm-contacts",
        "CreateRotationOverride",
        {
            "RotationId": arn,
            "NewContactIds": contacts,
            "StartTime": start,
            "EndTime": end,
            "IdempotencyToken": str(uuid.uuid4()),
        },
    )
    day = start.astimezone(zone).date().isoformat()
    return Outcome(
        f"{page_path(arn)}?period=week&date={day}",
        f"Override added from {utc_text(start)} to {utc_text(end)}.",
    )


@require_session
async def confirm_delete_override(request: Request) -> Response:
    session = session_of(request)
    arn = _path_arn(request)
    override_id = request.path_params["override"]
    if arn is None:
        return _missing(request, "No such rotation.", 404)
    try:
        rotation = await invoke(request, "ssm-contacts", "GetRotation", {"RotationId": arn})
        override = await invoke(
            request,
            "ssm-contacts",
            "GetRotationOverride",
            {"RotationId": arn, "RotationOverrideId": override_id},
        )
    except ConsoleApiError as exc:
        return _missing(request, f"{exc.code}: {exc.message}", page_status(exc))
    zone = zone_of(rotation["TimeZoneId"])
    context = {
        "rotation": {"name": rotation["Name"], "path": page_path(arn)},
        "override": _override_row(override, arn, zone, session.account_id),
    }
    return page_with_flash(request, "schedules_override_delete.html", context)


async def _delete_override(request: Request, _session: ConsoleSession, _form: FormData) -> Outcome:
    arn = _path_arn(request)
    if arn is None:
        raise FormError(
            "The rotation in the address is invalid: open it from the on-call schedules page."
        )
    override_id = request.path_params["override"]
    await invoke(
        request,
        "ssm-contacts",
        "DeleteRotationOverride",
        {"RotationId": arn, "RotationOverrideId": override_id},
    )
    return Outcome(page_path(arn), f"Override {override_id} was deleted.")


@require_session
async def preview(request: Request) -> Response:
    """Show the shifts of the rotation that the form defines, without storing it.

    The preview page's own form sends GET. The create and edit forms send
    POST with their CSRF token, so that the token stays out of the URL.
    """
    session = session_of(request)
    source: Mapping[str, Any] = request.query_params
    if request.method == "POST":
        source = await request.form()
        token = source.get("csrf_token")
        await verify_csrf(request, session, token if isinstance(token, str) else None)
    fields = {name: str(source.get(name, "")).strip() for name in FORM_FIELDS}
    submitted = any(fields[name] for name in ("members", "start_time", "handoffs"))
    context = _form_context(
        {name: value for name, value in fields.items() if value},
        await _personal_contacts(request),
    )
    preview_days = str(source.get("days") or PREVIEW_DAYS)
    context.update({"days": None, "error": None, "preview_days": preview_days})
    if submitted:
        try:
            context["days"] = await _preview_days(request, session, fields, preview_days)
        except FormError as exc:
            context["error"] = str(exc)
        except ConsoleApiError as exc:
            context["error"] = f"{exc.code}: {exc.message}"
    return page_with_flash(request, "schedules_preview.html", context)


async def _preview_days(
    request: Request, session: ConsoleSession, fields: dict[str, str], days_text: str
) -> list[dict[str, Any]]:
    if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_PREVIEW_DAYS:
        raise FormError(
            f"The number of days {days_text!r} is invalid: enter a whole number from 1 to "
            f"{MAX_PREVIEW_DAYS}."
        )
    params = rotation_input(fields, region_of(request), session.account_id)
    zone = zone_of(params["TimeZoneId"])
    start: datetime = params["StartTime"]
    end = start + timedelta(days=int(days_text))
    shifts = await list_all(
        request,
        "ListPreviewRotationShifts",
        {
            "RotationStartTime": start,
            "StartTime": start,
            "EndTime": end,
            "Members": params["ContactIds"],
            "TimeZoneId": params["TimeZoneId"],
            "Recurrence": params["Recurrence"],
            "MaxResults": 1024,
        },
        "RotationShifts",
    )
    local_start = start.astimezone(zone).date()
    window = Window("preview", local_start, (end.astimezone(zone)).date(), zone)
    return shift_days(shifts, window, session.account_id)


def _back(request: Request) -> str:
    arn = _path_arn(request)
    return page_path(arn) if arn is not None else "/console/schedules"


def _back_to_edit(request: Request) -> str:
    arn = _path_arn(request)
    return f"{page_path(arn)}/edit" if arn is not None else "/console/schedules"


def routes() -> list[BaseRoute]:
    """Return the routes of the rotation pages and their forms."""
    override_path = ROTATION_PATH + "/overrides/{override}/delete"
    return [
        Route("/console/rotations/new", new_rotation, methods=["GET"]),
        Route("/console/rotations/preview", preview, methods=["GET", "POST"]),
        form_route(
            "/console/rotations",
            _create,
            lambda _request: "/console/rotations/new",
            "rotation-create",
        ),
        Route(ROTATION_PATH, rotation_details, methods=["GET"]),
        Route(ROTATION_PATH + "/edit", edit_rotation, methods=["GET"]),
        form_route(ROTATION_PATH + "/edit", _update, _back_to_edit, "rotation-update"),
        form_route(ROTATION_PATH + "/overrides", _create_override, _back, "override-create"),
        Route(override_path, confirm_delete_override, methods=["GET"]),
        form_route(override_path, _delete_override, _back, "override-delete"),
    ]
