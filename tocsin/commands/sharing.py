"""``tocsin sharing audit`` and ``tocsin crossaccount setup``."""

from __future__ import annotations

import json
import sys

import click

from tocsin.cli_support import (
    account_option,
    check_account_id,
    check_account_ids,
    configure_logging,
    database_option,
    home_option,
    load_settings_or_exit,
    open_runtime,
)
from tocsin.printable import printable


@click.group("sharing")
def sharing_group() -> None:
    """Review how response plans and contacts are shared with other accounts."""


@sharing_group.command("audit")
@account_option(
    "12-digit id of the account to audit; default: every account that owns response "
    "plans, contacts or resource shares."
)
@click.option(
    "--inactive-days",
    type=click.IntRange(1, 3650),
    default=90,
    show_default=True,
    help="List account principals that used no shared plan or contact in this many days.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@database_option
@home_option
def sharing_audit(
    account_id: str | None,
    inactive_days: int,
    as_json: bool,
    database_url: str | None,
    home: str | None,
) -> None:
    """List unshared response plans and contacts, pending invitations and principals to review.

    Principals to review are accounts outside the owner's organization that a
    resource share gives access to, resource shares that allow external
    principals, and every principal that a resource policy names. The audit
    also lists accounts that left the organization but are still named in a
    share, and accounts that used no shared plan or contact in the last
    --inactive-days days.
    """
    from tocsin.sharing import audit

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            reports = audit.audit(
                session, runtime.clock.now(), account_id, inactive_days=inactive_days
            )
            text = (
                json.dumps(audit.as_json(reports), indent=2) + "\n"
                if as_json
                else audit.as_text(reports)
            )
    except audit.AuditError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(printable(text, keep_newlines=True), nl=False)


@click.group("crossaccount")
def crossaccount_group() -> None:
    """Set up and verify Incident Manager's cross-account access."""


@crossaccount_group.command("setup")
@click.option(
    "--management",
    required=True,
    callback=check_account_id,
    help="12-digit id of the account that owns the response plans and contacts.",
)
@click.option(
    "--application",
    "--applications",
    "applications",
    multiple=True,
    required=True,
    callback=check_account_ids,
    help="12-digit id of an application account; repeat the option, or separate ids with commas.",
)
@click.option(
    "--region", default="us-east-1", show_default=True, help="Region of the share and event bus."
)
@click.option("--check", is_flag=True, help="Change nothing; list each item as ok or missing.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the items.")
@database_option
@home_option
def crossaccount_setup(
    management: str,
    applications: list[str],
    region: str,
    check: bool,
    as_json: bool,
    database_url: str | None,
    home: str | None,
) -> None:
    """Share response plans and contacts, create the runbook roles and open the event bus.

    A second run changes nothing. With --check the command exits with status 1
    when an item is missing. docs/cross-account.md describes each item.
    """
    from tocsin.protocol.errors import ServiceError
    from tocsin.sharing import setup

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            items = setup.setup(
                session, runtime.clock, region, management, applications, check=check
            )
    except (setup.SetupError, ServiceError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    if as_json:
        click.echo(json.dumps([item.as_json() for item in items], indent=2))
    else:
        click.echo(printable(setup.as_text(items), keep_newlines=True), nl=False)
        click.echo(setup.summary(items, check=check))
    if check and not setup.complete(items):
        sys.exit(1)
