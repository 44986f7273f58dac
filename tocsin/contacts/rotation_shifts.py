"""Shifts of a stored rotation and of a rotation preview, one page at a time.

ListRotationShifts and ListPreviewRotationShifts run the same computation, so
a preview of a stored rotation's definition returns the same shifts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from tocsin.contacts.errors import invalid
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.overrides import overrides_between, parsed_override
from tocsin.contacts.rotations import parsed_rotation, shift_rotation
from tocsin.contacts.shifts import InvalidRotationError, Override, Rotation, Shift, shifts_between
from tocsin.protocol.handlers import RequestContext
from tocsin.protocol.pagination import Page, listing_filters, page_scope, paginate

DEFAULT_PAGE_SIZE = 100
# NOTE: AWS documents no maximum window. Tocsin takes one year (366 days) to
# bound the work of one request, so longer spans need several requests.
MAX_WINDOW = timedelta(days=366)


def requested_window(ctx: RequestContext, params: dict[str, Any]) -> tuple[datetime, datetime]:
    """Return [StartTime, EndTime) of a shift listing; StartTime defaults to now."""
    start: datetime = params.get("StartTime") or ctx.clock.now()
    end: datetime = params["EndTime"]
    if end <= start:
        raise invalid(
            f"EndTime {end.isoformat()} must be after StartTime {start.isoformat()}.", "EndTime"
        )
    if end - start > MAX_WINDOW:
        raise invalid(
            f"The window from StartTime to EndTime lasts {end - start}, longer than the "
            f"maximum of {MAX_WINDOW.days} days; request shorter windows one after another.",
            "EndTime",
        )
    return start, end


def list_rotation_shifts(
    ctx: RequestContext, row: RotationRow, params: dict[str, Any]
) -> Page[Shift]:
    start, end = requested_window(ctx, params)
    overrides = overrides_between(ctx.session, row, start, end)
    rotation = shift_rotation(row)
    operation = "ListRotationShifts"
    return _page(ctx, operation, rotation, overrides, (start, end), params)


def list_preview_shifts(ctx: RequestContext, params: dict[str, Any]) -> Page[Shift]:
    """Compute the shifts of the rotation that the request defines, without storing it."""
    start, end = requested_window(ctx, params)
    rotation = parsed_rotation(params, ctx.clock.now())
    overrides = [
        parsed_override(item, f"Overrides[{index}].")
        for index, item in enumerate(params.get("Overrides") or [])
    ]
    operation = "ListPreviewRotationShifts"
    return _page(ctx, operation, rotation, overrides, (start, end), params)


def _page(
    ctx: RequestContext,
    operation: str,
    rotation: Rotation,
    overrides: Sequence[Override],
    window: tuple[datetime, datetime],
    params: dict[str, Any],
) -> Page[Shift]:
    start, end = window
    try:
        shifts = shifts_between(rotation, start, end, overrides)
    except InvalidRotationError as exc:
        raise invalid(str(exc), exc.member) from exc
    except ValueError as exc:
        raise invalid(f"The window has too many shifts: {exc}.", "EndTime") from exc
    # Shifts of one rotation never overlap, so their start times are a unique key.
    # The scope holds the request as sent. NOTE: when StartTime or
    # RotationStartTime is omitted, each page recomputes it from the current
    # time, and the next page continues after the last start time returned.
    scope = page_scope(ctx.account_id, "ssm-contacts", operation, listing_filters(params))
    return paginate(
        shifts,
        key=lambda shift: (shift.start,),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=scope,
    )
