"""Reads of the on-call schedule and rotation pages: listings, calendar weeks and months, checks.

Everything is read through ``invoke`` as the signed-in principal, except the
gap and overlap check. That check runs the ``tocsin schedule check``
computation on a read-only database session, and only after ``invoke`` of
GetContact and GetRotation has shown that the principal may read the
schedule and its rotations.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tocsin.contacts.schedule import ScheduleError, check_schedule, find_schedule
from tocsin.web.console.auth import ConsoleApiError, invoke, runtime_of
from tocsin.web.console.rotation_input import contact_label

ACCOUNT_ID = re.compile(r"^\d{12}$")
ROTATION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
CONTACT_ALIAS = re.compile(r"^[a-z0-9_-]{1,255}$")
CHECK_DAYS = 90
PERIODS = ("week", "month")
# Bounds the pages that one listing reads, so a page load stays quick.
MAX_LISTING_PAGES = 20


def rotation_arn(region: str, account_id: str, name: str) -> str | None:
    """Return the ARN of a rotation's URL parts, or None when they cannot name one."""
    if not ACCOUNT_ID.match(account_id) or not ROTATION_NAME.match(name):
        return None
    return f"arn:aws:ssm-contacts:{region}:{account_id}:rotation/{name}"


def schedule_arn(region: str, account_id: str, alias: str) -> str | None:
    """Return the ARN of a contact's URL parts, or None when they cannot name one."""
    if not ACCOUNT_ID.match(account_id) or not CONTACT_ALIAS.match(alias):
        return None
    return f"arn:aws:ssm-contacts:{region}:{account_id}:contact/{alias}"


def page_status(exc: ConsoleApiError) -> int:
    """Return the HTTP status of a page that failed to read its subject.

    ssm-contacts sends ResourceNotFoundException with status 400, but a page
    whose subject does not exist is a 404 to the browser.
    """
    return 404 if exc.code == "ResourceNotFoundException" else exc.status


def page_path(arn: str) -> str:
    """Return the console path of a rotation or contact ARN: ``/console/KIND/ACCOUNT/NAME``."""
    account = arn.split(":")[4]
    kind, _, name = arn.split(":", 5)[5].partition("/")
    section = "rotations" if kind == "rotation" else "schedules"
    return f"/console/{section}/{account}/{name}"


async def list_all(
    request: Request, operation: str, params: dict[str, Any], member: str
) -> list[dict[str, Any]]:
    """Return every item of a paginated ssm-contacts listing, up to MAX_LISTING_PAGES pages."""
    items: list[dict[str, Any]] = []
    for _ in range(MAX_LISTING_PAGES):
        output = await invoke(request, "ssm-contacts", operation, params)
        items.extend(output.get(member, []))
        token = output.get("NextToken")
        if not token:
            break
        params = {**params, "NextToken": token}
    return items


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def zone_text(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Window:
    """A calendar week (from Monday) or month in a rotation's time zone, and its UTC bounds."""

    period: str
    first_day: date
    end_day: date
    zone: ZoneInfo

    @classmethod
    def of(cls, period: str, day: date, zone: ZoneInfo) -> Window:
        if period == "month":
            first = day.replace(day=1)
            length = calendar.monthrange(first.year, first.month)[1]
            return cls(period, first, first + timedelta(days=length), zone)
        monday = day - timedelta(days=day.weekday())
        return cls("week", monday, monday + timedelta(days=7), zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.end_day, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def previous_day(self) -> date:
        return self.first_day - timedelta(days=1)

    @property
    def title(self) -> str:
        if self.period == "month":
            return self.first_day.strftime("%B %Y")
        last = self.end_day - timedelta(days=1)
        return f"Week of {self.first_day.isoformat()} to {last.isoformat()}"


def parse_window(query: dict[str, str], zone: ZoneInfo, now: datetime) -> Window:
    """Return the week or month that the query's ``period`` and ``date`` choose.

    Without them, the window is the current week.
    """
    period = query.get("period", "week")
    if period not in PERIODS:
        period = "week"
    try:
        day = date.fromisoformat(query.get("date", ""))
    except ValueError:
        day = now.astimezone(zone).date()
    return Window.of(period, day, zone)


def shift_days(
    shifts: list[dict[str, Any]], window: Window, account_id: str
) -> list[dict[str, Any]]:
    """Group shifts by the day in the window's zone when they start, one entry per day.

    A shift that began before the window is listed under the window's first day.
    """
    days: dict[date, list[dict[str, Any]]] = {}
    for shift in shifts:
        start: datetime = shift["StartTime"]
        end: datetime = shift["EndTime"]
        day = max(start.astimezone(window.zone).date(), window.first_day)
        overridden = (shift.get("ShiftDetails") or {}).get("OverriddenContactIds") or []
        days.setdefault(day, []).append(
            {
                "local": f"{zone_text(start, window.zone)} to {zone_text(end, window.zone)}",
                "utc": f"{utc_text(start)} to {utc_text(end)}",
                "contacts": [contact_label(arn, account_id) for arn in shift["ContactIds"]],
                "type": shift.get("Type", "REGULAR"),
                "overridden": [contact_label(arn, account_id) for arn in overridden],
            }
        )
    return [{"day": day.strftime("%A %Y-%m-%d"), "shifts": days[day]} for day in sorted(days)]


@dataclass(frozen=True)
class CoverageCheck:
    """A schedule's gaps and overlaps over the checked window, ready for the page."""

    start: str
    end: str
    rotations: list[str]
    missing: list[str]
    gaps: list[dict[str, str]]
    overlaps: list[dict[str, str]]

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.overlaps


def _check(request: Request, arn: str, now: datetime) -> CoverageCheck:
    """Run the ``tocsin schedule check`` computation on a read-only session."""
    runtime = runtime_of(request)
    with runtime.database.read() as connection, Session(bind=connection) as session:
        found = find_schedule(session, arn, None)
        check = check_schedule(session, found, now, now + timedelta(days=CHECK_DAYS))
        zones = sorted({row.time_zone for row in check.rotations}) or ["UTC"]

        def describe(low: datetime, high: datetime) -> dict[str, str]:
            local = "; ".join(
                f"{zone_text(low, ZoneInfo(zone))} to {zone_text(high, ZoneInfo(zone))}"
                for zone in zones
            )
            return {
                "utc": f"{utc_text(low)} to {utc_text(high)}",
                "local": local,
                "length": str(high - low),
            }

        return CoverageCheck(
            start=utc_text(check.start),
            end=utc_text(check.end),
            rotations=[row.arn for row in check.rotations],
            missing=list(check.missing_rotation_ids),
            gaps=[describe(low, high) for low, high in check.report.gaps],
            overlaps=[describe(low, high) for low, high in check.report.overlaps],
        )


async def coverage_check(request: Request, contact: dict[str, Any]) -> CoverageCheck:
    """Check the next CHECK_DAYS days of a schedule that GetContact returned as ``contact``.

    Each rotation is read with GetRotation first, so a principal who may read
    the schedule but not one of its rotations gets that AWS error instead of
    the report. A rotation that no longer exists is listed as missing.
    """
    for rotation_id in (contact.get("Plan") or {}).get("RotationIds") or []:
        try:
            await invoke(request, "ssm-contacts", "GetRotation", {"RotationId": rotation_id})
        except ConsoleApiError as exc:
            if exc.code != "ResourceNotFoundException":
                raise
    now = runtime_of(request).clock.now()
    try:
        return await run_in_threadpool(_check, request, contact["ContactArn"], now)
    except ScheduleError as exc:
        raise ConsoleApiError("ValidationException", str(exc), 400) from exc
