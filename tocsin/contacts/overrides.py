"""Overrides of a rotation: contacts that replace its on-call contacts for a while."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.errors import ROTATION_OVERRIDE, invalid, not_found
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.models import RotationOverride
from tocsin.contacts.rotations import checked_contacts
from tocsin.contacts.shifts import InvalidRotationError, Override
from tocsin.protocol.handlers import RequestContext
from tocsin.protocol.pagination import Page, page_scope, paginate_query

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100


def parsed_override(shape: dict[str, Any], member: str = "") -> Override:
    """Parse an override, raising ValidationException that names the member.

    ``member`` prefixes the member name, for an override inside a list.
    """
    try:
        return Override.from_wire(shape)
    except InvalidRotationError as exc:
        raise invalid(str(exc), member + exc.member) from exc


def create_override(
    ctx: RequestContext, rotation: RotationRow, params: dict[str, Any]
) -> RotationOverride:
    """Store an override that has not ended yet.

    NewContactIds may name any PERSONAL contacts of the account, members of the rotation or not.
    """
    contact_ids = checked_contacts(ctx, params["NewContactIds"], "NewContactIds")
    override = parsed_override({**params, "NewContactIds": contact_ids})
    now = ctx.clock.now()
    if override.end <= now:
        raise invalid(
            f"EndTime {override.end.isoformat()} is not after the current time "
            f"{now.isoformat()}; an override cannot change past shifts.",
            "EndTime",
        )
    row = RotationOverride(
        override_id=str(uuid.uuid4()),
        rotation_arn=rotation.arn,
        account_id=rotation.account_id,
        contact_ids=contact_ids,
        start_time=override.start,
        end_time=override.end,
        created_at=now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    logger.info(
        "created override %s of rotation %s (request %s)",
        row.override_id,
        rotation.arn,
        ctx.request_id,
    )
    return row


def find_override(ctx: RequestContext, rotation: RotationRow, override_id: str) -> RotationOverride:
    row = ctx.session.scalar(
        select(RotationOverride).where(
            RotationOverride.override_id == override_id.lower(),
            RotationOverride.rotation_arn == rotation.arn,
        )
    )
    if row is None:
        raise not_found(ROTATION_OVERRIDE, override_id)
    return row


def delete_override(ctx: RequestContext, row: RotationOverride) -> None:
    ctx.session.delete(row)
    logger.info(
        "deleted override %s of rotation %s (request %s)",
        row.override_id,
        row.rotation_arn,
        ctx.request_id,
    )


def list_overrides(
    ctx: RequestContext, rotation: RotationRow, params: dict[str, Any]
) -> Page[RotationOverride]:
    """List the overrides that overlap [StartTime, EndTime), by start time."""
    start, end = params["StartTime"], params["EndTime"]
    if end <= start:
        raise invalid("EndTime must be after StartTime.", "EndTime")
    query = select(RotationOverride).where(
        RotationOverride.rotation_arn == rotation.arn,
        RotationOverride.start_time < end,
        RotationOverride.end_time > start,
    )
    filters = {"RotationId": rotation.arn, "StartTime": start, "EndTime": end}
    return paginate_query(
        ctx.session,
        query,
        order_by=(RotationOverride.start_time, RotationOverride.override_id),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-contacts", "ListRotationOverrides", filters),
    )


def overrides_between(
    session: Session, rotation: RotationRow, start: datetime, end: datetime
) -> list[Override]:
    """Return the overrides that overlap [start, end) in creation order, so the newest wins."""
    rows = session.scalars(
        select(RotationOverride)
        .where(
            RotationOverride.rotation_arn == rotation.arn,
            RotationOverride.start_time < end,
            RotationOverride.end_time > start,
        )
        .order_by(RotationOverride.created_at, RotationOverride.override_id)
    )
    return [Override(row.start_time, row.end_time, tuple(row.contact_ids)) for row in rows]
