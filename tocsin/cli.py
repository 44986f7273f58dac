"""Command-line interface of Tocsin.

Commands: ``serve``, ``demo``, ``backup``, ``account create`` and ``account
list``, ``schedule check``, ``calendar``, ``outbox``, ``webhook``, ``user``,
``sharing audit`` and ``crossaccount setup``.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import func, select

from tocsin import __version__
from tocsin.cli_support import (
    check_port_free,
    configure_logging,
    database_option,
    echo_table,
    existing_database,
    home_option,
    load_settings_or_exit,
    open_runtime,
    utc_text,
)
from tocsin.commands import calendar, outbox, schedule, sharing, users, webhooks
from tocsin.config import Settings, settings_help

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)


@click.group()
@click.version_option(__version__, prog_name="tocsin")
def main() -> None:
    """Tocsin: a self-hosted incident manager that speaks the AWS Incident Manager APIs."""


@main.command(epilog="Settings, also read from the environment:\n\n" + settings_help())
@click.option("--host", default=None, help="Address to listen on (TOCSIN_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port to listen on (TOCSIN_PORT, 4590).")
@click.option(
    "--example",
    is_flag=True,
    help=(
        "On the first start of an empty database, create a ready example: an organization of "
        "three accounts with contacts, an on-call schedule and a shared response plan. "
        "Profiles for the AWS CLI and boto3 go to HOME/aws-config."
    ),
)
@database_option
@home_option
def serve(
    host: str | None, port: int | None, example: bool, database_url: str | None, home: str | None
) -> None:
    """Serve every AWS API, the health check and the metrics on one HTTP endpoint."""
    import uvicorn

    from tocsin.app import create_app
    from tocsin.iam.models import Account

    settings = load_settings_or_exit(host=host, port=port, database_url=database_url, home=home)
    configure_logging(settings, server=True)
    check_port_free(settings.host, settings.port)
    runtime = open_runtime(settings)
    with runtime.database.session() as session:
        accounts = session.scalar(select(func.count()).select_from(Account)) or 0
    url = f"http://{settings.host}:{settings.port}"
    database = runtime.database.url.render_as_string(hide_password=True)
    click.echo(f"Tocsin {__version__} serving at {url} (database: {database})", err=True)
    if example:
        _start_example(runtime, settings, accounts)
    elif accounts == 0:
        click.echo(
            "No accounts yet. Create one with `tocsin account create` (same --home or "
            "--database-url), then point boto3 or the AWS CLI at "
            f"endpoint_url={url} with the printed keys.",
            err=True,
        )
    app = create_app(runtime)
    # The objects loaded so far (service models, the app, the ORM mappings)
    # live as long as the server. Freezing them keeps the collector's full
    # passes short: on a fresh server one took 107 ms before, 2 ms after,
    # and a pass in the middle of a burst of stage starts delays every
    # stage behind it.
    gc.collect()
    gc.freeze()
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the
    # signal again under the handlers found at start. Ignoring it there lets
    # the process close the database and exit with status 0.
    for handled in (signal.SIGINT, signal.SIGTERM):
        signal.signal(handled, _ignore_signal)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    runtime.database.dispose()
    click.echo("Tocsin stopped", err=True)


def _start_example(runtime: Runtime, settings: Settings, accounts: int) -> None:
    """Create the example's accounts now and the rest from a thread once the server answers."""
    import threading

    from tocsin import example as example_module

    profiles = settings.home / example_module.PROFILE_FILE
    console = settings.home / example_module.CONSOLE_FILE
    marker = settings.home / example_module.MARKER_FILE
    if accounts > 0:
        if marker.exists():
            click.echo(_example_usage(profiles, console), err=True)
        else:
            click.echo("--example: the database has accounts already, so no example.", err=True)
        return
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    endpoint = f"http://{host}:{settings.port}"
    created = example_module.Example(
        endpoint, example_module.REGION, example_module.create_accounts(runtime)
    )

    def build() -> None:
        if not _wait_until_healthy(endpoint):
            click.echo(f"--example: the server did not answer at {endpoint}", err=True)
            return
        try:
            example_module.build(
                created,
                example_module.outbox_reader(runtime),
                example_module.cross_account_setup(runtime),
            )
        except example_module.ExampleError as exc:
            logger.error("the example is incomplete: %s", exc)
            click.echo(f"--example: {exc}", err=True)
            return
        example_module.write_profiles(profiles, created)
        example_module.write_console_sign_in(console, created)
        example_module.write_marker(marker, created)
        click.echo(_example_summary(created) + "\n" + _example_usage(profiles, console), err=True)

    threading.Thread(target=build, name="tocsin-example", daemon=True).start()


def _wait_until_healthy(endpoint: str, seconds: float = 30.0) -> bool:
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(endpoint + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _example_summary(created: Any) -> str:
    lines = ["Example ready:"]
    for account in created.accounts:
        lines.append(f"  {account.profile:18} {account.name:14} account {account.account_id}")
    lines.append(f"  response plan {created.resources['ResponsePlan']}")
    return "\n".join(lines)


def _example_usage(profiles: Path, console: Path) -> str:
    return (
        f"Use the example's accounts with: export AWS_CONFIG_FILE={profiles}\n"
        "  then for example: aws --profile tocsin-app1 ssm-incidents list-response-plans\n"
        f"Sign in to the console with an account id, Administrator and the password in {console}"
    )


def _ignore_signal(_signal: int, _frame: FrameType | None) -> None:
    return


@main.command("backup")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@home_option
def backup(destination: Path, home: str | None) -> None:
    """Copy the embedded database and the key file into the new folder DESTINATION.

    The copy is consistent while a server runs. To restore, stop the server
    and copy both files back into the home folder. A PostgreSQL database is
    backed up with pg_dump instead, together with the key.
    """
    from tocsin.iam.crypto import KEY_FILE_NAME
    from tocsin.store.backup import BackupError, back_up

    settings = load_settings_or_exit(home=home)
    if settings.database_url:
        raise click.ClickException(
            "TOCSIN_DATABASE_URL is set: back up that database with its own tools, such as "
            "pg_dump, and keep the secret key with it."
        )
    key = None if settings.secret_key else settings.home / KEY_FILE_NAME
    try:
        written = back_up(settings.embedded_database_path, key, destination)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Wrote {written.database}", err=True)
    if written.key is not None:
        click.echo(f"Wrote {written.key}", err=True)
    else:
        click.echo("The secret key comes from TOCSIN_SECRET_KEY: keep it with the copy.", err=True)


@main.command("demo")
@click.option(
    "--wait",
    type=click.FloatRange(1, 3600),
    default=120.0,
    show_default=True,
    help="Seconds to wait for each step before giving up.",
)
@database_option
@home_option
def demo(wait: float, database_url: str | None, home: str | None) -> None:
    """Run one cross-account incident of the ready example and narrate each step.

    Start the server with ./scripts/start.sh (or tocsin serve --example) first,
    with the same home. The demo reads page messages from the development
    outbox, so the server must run without TOCSIN_SMTP_URL.
    """
    from tocsin import demo as demo_module
    from tocsin.notify.outbox import list_outbox
    from tocsin.store.database import Database

    settings = load_settings_or_exit(database_url=database_url, home=home)
    try:
        setting = demo_module.load(settings.home)
    except demo_module.DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    database = Database(settings.effective_database_url)

    def outbox_message(account_id: str, page_id: str) -> str | None:
        with database.session() as session:
            for message in list_outbox(session, account_id=account_id, limit=50):
                if page_id in (message.key or ""):
                    return message.body
        return None

    click.echo(f"Demo on {setting.management.endpoint}; profiles in {setting.profiles_path}")
    try:
        arn = demo_module.run(setting, outbox_message, click.echo, wait_seconds=wait)
    except demo_module.DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        database.dispose()
    click.echo(f"\nDone: incident {arn} was opened, paged, acknowledged and resolved.")


@main.group()
def account() -> None:
    """Manage accounts."""


@account.command("create")
@click.option("--account-id", default=None, help="12-digit account id; random when absent.")
@click.option("--name", default=None, help="Account name, 1 to 128 characters.")
@database_option
@home_option
def account_create(
    account_id: str | None, name: str | None, database_url: str | None, home: str | None
) -> None:
    """Create an account and print its administrator's access key as JSON."""
    from tocsin.iam.accounts import AccountError, create_account

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings)
    try:
        with runtime.database.session() as session:
            created = create_account(
                session, runtime.clock, runtime.secrets, account_id=account_id, name=name
            )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(
        json.dumps(
            {
                "AccountId": created.account_id,
                "AccountName": created.name,
                "Arn": created.administrator_arn,
                "AccessKeyId": created.access_key_id,
                "SecretAccessKey": created.secret_access_key,
            },
            indent=2,
        )
    )


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@database_option
@home_option
def account_list(as_json: bool, database_url: str | None, home: str | None) -> None:
    """List the accounts: id, name, organization and creation time."""
    from tocsin.iam.models import Account

    with existing_database(database_url, home) as (session, _runtime):
        accounts = list(
            session.scalars(select(Account).order_by(Account.created_at, Account.account_id))
        )
    if as_json:
        rows = [
            {
                "AccountId": item.account_id,
                "Name": item.name,
                "Email": item.email,
                "OrganizationId": item.organization_id,
                "CreatedAt": utc_text(item.created_at),
            }
            for item in accounts
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not accounts:
        click.echo("No accounts.", err=True)
        return
    header = ("ACCOUNT", "NAME", "ORGANIZATION", "CREATED")
    echo_table(
        [
            header,
            *(
                (
                    item.account_id,
                    item.name,
                    item.organization_id or "-",
                    utc_text(item.created_at),
                )
                for item in accounts
            ),
        ]
    )


main.add_command(calendar.calendar_group)
main.add_command(outbox.outbox)
main.add_command(schedule.schedule)
main.add_command(sharing.sharing_group)
main.add_command(sharing.crossaccount_group)
main.add_command(webhooks.webhook_group)
main.add_command(users.user_group)
