"""``tocsin schedule check``: gaps and overlaps of an on-call schedule."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import click

from tocsin.cli_support import (
    account_option,
    configure_logging,
    database_option,
    home_option,
    load_settings_or_exit,
    open_runtime,
)
from tocsin.printable import printable

# Exit status of `tocsin schedule check` when the check itself could not run,
# distinct from 1, which reports gaps or overlaps.
SCHEDULE_ERROR_EXIT = 2


class ScheduleCheckError(click.ClickException):
    exit_code = SCHEDULE_ERROR_EXIT


@click.group()
def schedule() -> None:
    """Inspect on-call schedules."""


@schedule.command("check")
@click.argument("contact")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=90,
    show_default=True,
    help="Length of the checked window in days.",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    default=None,
    help="Start of the window, in UTC unless it carries an offset; default: now.",
)
@account_option(
    "12-digit account id of the schedule, required when CONTACT is an alias that "
    "several accounts use."
)
@database_option
@home_option
def schedule_check(
    contact: str,
    days: int,
    start: datetime | None,
    account_id: str | None,
    database_url: str | None,
    home: str | None,
) -> None:
    """Report gaps and overlaps of the on-call schedule CONTACT (an alias or an ARN).

    Reads the schedule's rotations from the database and lists every interval
    of the window when no rotation is on call (gap) or two or more are
    (overlap), in UTC and in each rotation's time zone. Overrides are not
    applied. Exits 0 when there is none, 1 when there are some, and 2 when the
    check cannot run.
    """
    from tocsin.contacts.schedule import ScheduleError, check_schedule, find_schedule, report_lines

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    if start is None:
        window_start = runtime.clock.now()
    elif start.tzinfo is None:
        window_start = start.replace(tzinfo=UTC)
    else:
        window_start = start.astimezone(UTC)
    try:
        with runtime.database.session() as session:
            found = find_schedule(session, contact, account_id)
            check = check_schedule(
                session, found, window_start, window_start + timedelta(days=days)
            )
            lines = report_lines(check)
    except ScheduleError as exc:
        raise ScheduleCheckError(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(printable("\n".join(lines), keep_newlines=True))
    if not check.ok:
        sys.exit(1)
