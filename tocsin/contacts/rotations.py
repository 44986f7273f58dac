"""Rotations of one account: create, read, list, update and delete.

A rotation's ARN ends in its name (``rotation/NAME``), and names are unique
in an account. A rotation is visible only to its own account: other accounts
get ResourceNotFoundException. Its contacts must be PERSONAL contacts of the
same account.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from tocsin.contacts import tags
from tocsin.contacts.access import find_contact, find_rotation, parse_arn, rotation_arn
from tocsin.contacts.errors import ROTATION, conflict, invalid, not_found
from tocsin.contacts.models import Contact, RotationOverride
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.plans import ONCALL_SCHEDULE, PERSONAL
from tocsin.contacts.shifts import InvalidRotationError, Recurrence, Rotation
from tocsin.protocol.handlers import RequestContext
from tocsin.protocol.pagination import Page, page_scope, paginate_query

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100

# RotationName of the service model without whitespace, because the name is
# the last part of the rotation's ARN and ARNs cannot contain whitespace.
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


def authorized_rotation(ctx: RequestContext, arn: str, action: str) -> RotationRow:
    """Return the caller's rotation ``arn`` after checking that it may perform ``action``.

    Raises ResourceNotFoundException for a rotation that does not exist or
    belongs to another account.
    """
    row = find_rotation(ctx.session, arn)
    if row is None or row.account_id != ctx.account_id:
        raise not_found(ROTATION, arn)
    ctx.authorize(action, row.arn)
    return row


def _tag_resolver(ctx: RequestContext, arn: str, action: str) -> str:
    return authorized_rotation(ctx, arn, action).arn


tags.register_resolver("rotation", _tag_resolver)


def shift_rotation(row: RotationRow) -> Rotation:
    """Return the stored rotation in the form that the shift computation takes."""
    return Rotation(
        contact_ids=tuple(row.contact_ids),
        start_time=row.start_time,
        time_zone=row.time_zone,
        recurrence=Recurrence.from_wire(row.recurrence),
    )


def parsed_rotation(shape: Mapping[str, Any], default_start_time: datetime) -> Rotation:
    """Parse a rotation definition, raising ValidationException that names the member."""
    try:
        return Rotation.from_wire(shape, default_start_time=default_start_time)
    except InvalidRotationError as exc:
        raise invalid(str(exc), exc.member) from exc


def checked_contacts(ctx: RequestContext, contact_ids: list[str], member: str) -> list[str]:
    """Return the ARNs of ``contact_ids`` after checking that each is a PERSONAL contact.

    Each contact must exist in the caller's account and appear once.
    """
    arns: list[str] = []
    for index, contact_id in enumerate(contact_ids):
        where = f"{member}[{index}]"
        parsed = parse_arn(contact_id)
        if parsed is None or parsed.kind != "contact":
            raise invalid(f"{where} {contact_id!r} is not a contact ARN.", where)
        if parsed.account_id != ctx.account_id:
            raise invalid(
                f"{where} {contact_id} belongs to account {parsed.account_id}; a rotation can "
                "only contain contacts of its own account.",
                where,
            )
        contact = find_contact(ctx.session, contact_id)
        if contact is None:
            raise invalid(f"{where} names the contact {contact_id}, which does not exist.", where)
        if contact.type != PERSONAL:
            raise invalid(
                f"{where} {contact_id} has type {contact.type}; rotations contain PERSONAL "
                "contacts only.",
                where,
            )
        if contact.arn in arns:
            raise invalid(f"{where} names the contact {contact_id} twice.", where)
        arns.append(contact.arn)
    return arns


def create_rotation(ctx: RequestContext, params: dict[str, Any]) -> RotationRow:
    name = params["Name"]
    if not _NAME.match(name):
        raise invalid(
            f"Name {name!r} is invalid: a rotation name becomes part of its ARN, so it may "
            "contain only letters, digits, '_', '-' and '.', and no whitespace.",
            "Name",
        )
    arn = rotation_arn(ctx.region, ctx.account_id, name)
    ctx.authorize("ssm-contacts:CreateRotation", arn)

    tag_values = tags.checked_tags(params.get("Tags", []))
    existing = find_rotation(ctx.session, arn)
    if existing is not None:
        raise conflict(
            f"A rotation named {name!r} already exists in account {ctx.account_id}: "
            f"{existing.arn}. Rotation names must be unique in an account.",
            ROTATION,
            existing.arn,
        )

    contact_ids = checked_contacts(ctx, params["ContactIds"], "ContactIds")
    now = ctx.clock.now()
    rotation = parsed_rotation({**params, "ContactIds": contact_ids}, now)
    row = RotationRow(
        arn=arn,
        account_id=ctx.account_id,
        name=name,
        contact_ids=contact_ids,
        start_time=rotation.start_time,
        time_zone=rotation.time_zone,
        recurrence=params["Recurrence"],
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(row)
    ctx.session.flush()

    if tag_values:
        tags.put_tags(ctx.session, ctx.account_id, arn, params["Tags"])
    logger.info("created rotation %s (request %s)", arn, ctx.request_id)
    return row


def list_rotations(ctx: RequestContext, params: dict[str, Any]) -> Page[RotationRow]:
    ctx.authorize("ssm-contacts:ListRotations", rotation_arn(ctx.region, ctx.account_id, "*"))
    prefix = params.get("RotationNamePrefix")
    query = select(RotationRow).where(RotationRow.account_id == ctx.account_id)
    if prefix:
        query = query.where(RotationRow.name.startswith(prefix, autoescape=True))
    return paginate_query(
        ctx.session,
        query,
        order_by=(RotationRow.name,),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-contacts", "ListRotations", {"Prefix": prefix}),
    )


def update_rotation(ctx: RequestContext, row: RotationRow, params: dict[str, Any]) -> None:
    """Replace the recurrence, and the contacts, start time and zone that ``params`` carries."""
    contact_ids = row.contact_ids
    if "ContactIds" in params:
        contact_ids = checked_contacts(ctx, params["ContactIds"], "ContactIds")
    shape = {
        "ContactIds": contact_ids,
        "StartTime": params.get("StartTime", row.start_time),
        "TimeZoneId": params.get("TimeZoneId", row.time_zone),
        "Recurrence": params["Recurrence"],
    }
    rotation = parsed_rotation(shape, row.start_time)
    row.contact_ids = list(contact_ids)
    row.start_time = rotation.start_time
    row.time_zone = rotation.time_zone
    row.recurrence = params["Recurrence"]
    row.updated_at = ctx.clock.now()
    logger.info("updated rotation %s (request %s)", row.arn, ctx.request_id)


def delete_rotation(ctx: RequestContext, row: RotationRow) -> None:
    """Delete a rotation, its overrides and tags, and remove it from every on-call schedule."""
    schedules = ctx.session.scalars(
        select(Contact).where(Contact.account_id == row.account_id, Contact.type == ONCALL_SCHEDULE)
    )
    for schedule in schedules:
        rotation_ids = schedule.plan.get("RotationIds") or []
        remaining = [arn for arn in rotation_ids if not _names_rotation(arn, row)]
        if len(remaining) != len(rotation_ids):
            # A new dict, because the ORM does not see changes inside a JSON value.
            schedule.plan = {**schedule.plan, "RotationIds": remaining}
            schedule.updated_at = ctx.clock.now()
            logger.info(
                "removed rotation %s from on-call schedule %s (request %s)",
                row.arn,
                schedule.arn,
                ctx.request_id,
            )
    ctx.session.execute(delete(RotationOverride).where(RotationOverride.rotation_arn == row.arn))
    tags.drop_all_tags(ctx.session, row.arn)
    ctx.session.delete(row)
    logger.info("deleted rotation %s (request %s)", row.arn, ctx.request_id)


def _names_rotation(arn: str, row: RotationRow) -> bool:
    parsed = parse_arn(arn)
    return (
        parsed is not None
        and parsed.kind == "rotation"
        and parsed.account_id == row.account_id
        and parsed.parts[0] == row.name
    )


def rotations_using_contact(ctx: RequestContext, contact: Contact) -> list[str]:
    """Return the ARNs of rotations that list ``contact`` or name it in an unfinished override."""
    rows = ctx.session.scalars(
        select(RotationRow)
        .where(RotationRow.account_id == contact.account_id)
        .order_by(RotationRow.name)
    )
    using = [row.arn for row in rows if contact.arn in row.contact_ids]
    overrides = ctx.session.scalars(
        select(RotationOverride).where(
            RotationOverride.account_id == contact.account_id,
            RotationOverride.end_time > ctx.clock.now(),
        )
    )
    for override in overrides:
        if contact.arn in override.contact_ids and override.rotation_arn not in using:
            using.append(override.rotation_arn)
    return using
