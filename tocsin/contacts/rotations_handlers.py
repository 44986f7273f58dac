"""ssm-contacts operations on rotations, their overrides and their shifts."""

from __future__ import annotations

from typing import Any

from tocsin.contacts import overrides, rotation_shifts, rotations
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.models import RotationOverride
from tocsin.contacts.shifts import Shift
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import Page

handlers = ServiceHandlers("ssm-contacts")


def _rotation(ctx: RequestContext, params: dict[str, Any]) -> RotationRow:
    return rotations.authorized_rotation(ctx, params["RotationId"], f"ssm-contacts:{ctx.operation}")


def _rotation_output(row: RotationRow) -> dict[str, Any]:
    return {
        "RotationArn": row.arn,
        "Name": row.name,
        "ContactIds": list(row.contact_ids),
        "StartTime": row.start_time,
        "TimeZoneId": row.time_zone,
        "Recurrence": row.recurrence,
    }


def _override_output(row: RotationOverride) -> dict[str, Any]:
    return {
        "RotationOverrideId": row.override_id,
        "NewContactIds": list(row.contact_ids),
        "StartTime": row.start_time,
        "EndTime": row.end_time,
        "CreateTime": row.created_at,
    }


def _shifts_output(page: Page[Shift]) -> dict[str, Any]:
    output: dict[str, Any] = {"RotationShifts": [shift.to_wire() for shift in page.items]}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("CreateRotation")
def create_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"RotationArn": rotations.create_rotation(ctx, params).arn}


@handlers.operation("GetRotation")
def get_rotation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _rotation_output(_rotation(ctx, params))


@handlers.operation("ListRotations")
def list_rotations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page = rotations.list_rotations(ctx, params)
    output: dict[str, Any] = {"Rotations": [_rotation_output(row) for row in page.items]}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("UpdateRotation")
def update_rotation(ctx: RequestContext, params: dict[str, Any]) -> None:
    rotations.update_rotation(ctx, _rotation(ctx, params), params)


@handlers.operation("DeleteRotation")
def delete_rotation(ctx: RequestContext, params: dict[str, Any]) -> None:
    rotations.delete_rotation(ctx, _rotation(ctx, params))


@handlers.operation("CreateRotationOverride")
def create_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = overrides.create_override(ctx, _rotation(ctx, params), params)
    return {"RotationOverrideId": row.override_id}


@handlers.operation("GetRotationOverride")
def get_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rotation = _rotation(ctx, params)
    row = overrides.find_override(ctx, rotation, params["RotationOverrideId"])
    return {**_override_output(row), "RotationArn": rotation.arn}


@handlers.operation("DeleteRotationOverride")
def delete_rotation_override(ctx: RequestContext, params: dict[str, Any]) -> None:
    rotation = _rotation(ctx, params)
    overrides.delete_override(
        ctx, overrides.find_override(ctx, rotation, params["RotationOverrideId"])
    )


@handlers.operation("ListRotationOverrides")
def list_rotation_overrides(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page = overrides.list_overrides(ctx, _rotation(ctx, params), params)
    output: dict[str, Any] = {"RotationOverrides": [_override_output(row) for row in page.items]}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("ListRotationShifts")
def list_rotation_shifts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _shifts_output(rotation_shifts.list_rotation_shifts(ctx, _rotation(ctx, params), params))


@handlers.operation("ListPreviewRotationShifts")
def list_preview_rotation_shifts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("ssm-contacts:ListPreviewRotationShifts", "*")
    return _shifts_output(rotation_shifts.list_preview_shifts(ctx, params))
