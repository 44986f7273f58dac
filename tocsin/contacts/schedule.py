"""On-call schedules read straight from the database, for the ``tocsin schedule check`` command.

The checks work on a session without a request, so operators can run them
against a server's database from the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact, find_rotation
from tocsin.contacts.models import Contact
from tocsin.contacts.models import Rotation as RotationRow
from tocsin.contacts.plans import ONCALL_SCHEDULE
from tocsin.contacts.rotations import shift_rotation
from tocsin.contacts.shifts import CoverageReport, Interval, coverage_gaps_and_overlaps

_ACCOUNT_ID = re.compile(r"^\d{12}$")


class ScheduleError(ValueError):
    """An on-call schedule that cannot be found or checked, with a message for the operator."""


@dataclass(frozen=True)
class ScheduleCheck:
    """Result of checking one on-call schedule over [start, end)."""

    schedule: Contact
    rotations: tuple[RotationRow, ...]
    missing_rotation_ids: tuple[str, ...]
    start: datetime
    end: datetime
    report: CoverageReport

    @property
    def ok(self) -> bool:
        return not self.report.gaps and not self.report.overlaps


def find_schedule(session: Session, contact: str, account_id: str | None) -> Contact:
    """Return the on-call schedule that an ARN, or an alias in ``account_id``, names.

    An alias without ``account_id`` must be unique across accounts.
    """
    if account_id is not None and not _ACCOUNT_ID.match(account_id):
        raise ScheduleError(f"--account {account_id!r} is not a 12-digit account id.")
    if contact.startswith("arn:"):
        found = find_contact(session, contact)
        if found is not None and account_id is not None and found.account_id != account_id:
            raise ScheduleError(
                f"{contact} belongs to account {found.account_id}, not {account_id}."
            )
    else:
        query = select(Contact).where(Contact.alias == contact)
        if account_id is not None:
            query = query.where(Contact.account_id == account_id)
        matches = list(session.scalars(query.limit(2)))
        if len(matches) > 1:
            raise ScheduleError(
                f"Several accounts have a contact with alias {contact!r}; pass --account "
                "ACCOUNT_ID or the contact's ARN."
            )
        found = matches[0] if matches else None
    if found is None:
        raise ScheduleError(f"No contact {contact!r} exists in the database.")
    if found.type != ONCALL_SCHEDULE:
        raise ScheduleError(
            f"{found.arn} has type {found.type}; only an ONCALL_SCHEDULE contact has rotations."
        )
    return found


def check_schedule(
    session: Session, schedule: Contact, start: datetime, end: datetime
) -> ScheduleCheck:
    """Find where the schedule's rotations leave [start, end) uncovered or overlap.

    Overrides are not applied, because they change who is on call and not
    when. Rotation ids that name no rotation are reported and skipped.
    """
    rows: list[RotationRow] = []
    missing: list[str] = []
    for arn in schedule.plan.get("RotationIds") or []:
        row = find_rotation(session, arn)
        if row is None or row.account_id != schedule.account_id:
            missing.append(arn)
        else:
            rows.append(row)
    report = coverage_gaps_and_overlaps([shift_rotation(row) for row in rows], start, end)
    return ScheduleCheck(schedule, tuple(rows), tuple(missing), start, end, report)


def report_lines(check: ScheduleCheck) -> list[str]:
    """Describe each gap and overlap with its UTC times and the times in each rotation's zone."""
    zones = sorted({row.time_zone for row in check.rotations}) or ["UTC"]
    lines = [
        f"On-call schedule {check.schedule.arn}: "
        f"{len(check.rotations)} rotation(s), {_utc(check.start)} to {_utc(check.end)}"
    ]
    for row in check.rotations:
        lines.append(f"  rotation {row.arn} ({row.time_zone})")
    for arn in check.missing_rotation_ids:
        lines.append(f"  rotation {arn} does not exist and is skipped")
    for kind, intervals in (("gap", check.report.gaps), ("overlap", check.report.overlaps)):
        for interval in intervals:
            lines.append(_interval_line(kind, interval, zones))
    if check.ok:
        lines.append("No gaps and no overlaps.")
    else:
        lines.append(
            f"{len(check.report.gaps)} gap(s) and {len(check.report.overlaps)} overlap(s)."
        )
    return lines


def _interval_line(kind: str, interval: Interval, zones: list[str]) -> str:
    low, high = interval
    local = "; ".join(f"{zone} {_local(low, zone)} to {_local(high, zone)}" for zone in zones)
    return f"{kind}: {_utc(low)} to {_utc(high)} ({high - low}) | {local}"


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(instant: datetime, zone: str) -> str:
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
