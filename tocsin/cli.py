"""Command-line interface: ``tocsin serve``, ``demo``, ``backup``, ``account``, ``schedule check``,
``calendar``, ``outbox``, ``webhook``, ``sharing audit`` and ``crossaccount setup``.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tocsin import __version__
from tocsin.config import Settings, SettingsError, load_settings, settings_help
from tocsin.iam.crypto import SecretKeyError

if TYPE_CHECKING:
    from tocsin.app import Runtime

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _runtime(settings: Settings, *, existing: bool = False) -> Runtime:
    """Build the runtime, turning the usual start-up failures into one-line errors.

    With ``existing``, an embedded database that does not exist yet is an
    error rather than created, so that a mistyped home does not look empty.
    """
    from tocsin.app import build_runtime

    embedded = settings.embedded_database_path
    if existing and settings.database_url is None and not embedded.exists():
        raise click.ClickException(
            f"no Tocsin database at {embedded}. Check --home (TOCSIN_HOME) or pass "
            "--database-url (TOCSIN_DATABASE_URL)."
        )

    try:
        return build_runtime(settings)
    except SecretKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    except OperationalError as exc:
        database = settings.effective_database_url
        raise click.ClickException(
            f"cannot open the database {database}: {exc.orig}. Check --database-url "
            "(TOCSIN_DATABASE_URL) and that the database server is running."
        ) from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _check_port_free(host: str, port: int) -> None:
    """Fail early, before anything starts, when the address is taken."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror}. Choose another port with "
            "--port (TOCSIN_PORT) or stop the process that uses it."
        ) from exc


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    # Alembic reports each migration step at INFO; Tocsin logs one line for the migration.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


database_option = click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL of the database (TOCSIN_DATABASE_URL); default: SQLite in the home.",
)
home_option = click.option(
    "--home",
    default=None,
    help="Data directory for the embedded database and the key file (TOCSIN_HOME).",
)


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

    settings = _settings(host=host, port=port, database_url=database_url, home=home)
    _configure_logging(settings)
    _check_port_free(settings.host, settings.port)
    runtime = _runtime(settings)
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
    marker = settings.home / example_module.MARKER_FILE
    if accounts > 0:
        if marker.exists():
            click.echo(_example_usage(profiles), err=True)
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
            example_module.build(created, example_module.outbox_reader(runtime))
        except example_module.ExampleError as exc:
            logger.error("the example is incomplete: %s", exc)
            click.echo(f"--example: {exc}", err=True)
            return
        example_module.write_profiles(profiles, created)
        example_module.write_marker(marker, created)
        click.echo(_example_summary(created) + "\n" + _example_usage(profiles), err=True)

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


def _example_usage(profiles: Path) -> str:
    return (
        f"Use the example's accounts with: export AWS_CONFIG_FILE={profiles}\n"
        "  then for example: aws --profile tocsin-app1 ssm-incidents list-response-plans"
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

    settings = _settings(home=home)
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

    settings = _settings(database_url=database_url, home=home)
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

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings)
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


# Exit status of `tocsin schedule check` when the check itself could not run,
# distinct from 1, which reports gaps or overlaps.
SCHEDULE_ERROR_EXIT = 2


class ScheduleCheckError(click.ClickException):
    exit_code = SCHEDULE_ERROR_EXIT


@main.group()
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
@click.option(
    "--account",
    "account_id",
    default=None,
    help="12-digit account id of the schedule, required when CONTACT is an alias that "
    "several accounts use.",
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

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
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
    click.echo("\n".join(lines))
    if not check.ok:
        sys.exit(1)


@main.group("calendar")
def calendar_group() -> None:
    """Manage iCalendar feeds of on-call shifts: secret URLs for calendar apps."""


def _calendar_account_id(_context: click.Context, _parameter: click.Parameter, value: str) -> str:
    if not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise click.BadParameter(f"{value!r} is not a 12-digit account id.")
    return value


calendar_account_option = click.option(
    "--account-id",
    required=True,
    callback=_calendar_account_id,
    help="12-digit id of the account that owns the feeds.",
)


@calendar_group.command("create")
@click.argument("arn")
@calendar_account_option
@click.option(
    "--base-url",
    default=None,
    help="Scheme, host and port of the printed URL, as calendar apps reach the server; "
    "default: TOCSIN_PUBLIC_URL, else http://TOCSIN_HOST:TOCSIN_PORT.",
)
@database_option
@home_option
def calendar_create(
    arn: str,
    account_id: str,
    base_url: str | None,
    database_url: str | None,
    home: str | None,
) -> None:
    """Create a feed of the rotation or contact ARN and print its URL.

    The URL contains the feed's secret token and is printed only this once:
    anyone who has it can read the shifts. A PERSONAL contact's feed shows
    every shift in which the contact is on call, and an ONCALL_SCHEDULE
    contact's feed shows the shifts of the rotations in its plan.
    """
    from urllib.parse import urlsplit

    from tocsin.contacts.calendar import CalendarFeedError, create_feed, feed_base_url, feed_url

    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(
                f"{base_url!r} is not an http:// or https:// URL with a host.",
                param_hint="--base-url",
            )
    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            created = create_feed(session, runtime.clock.now(), account_id, arn)
    except CalendarFeedError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    base = base_url or feed_base_url(settings)
    click.echo(feed_url(base, created.token))
    click.echo(
        f"Created calendar feed {created.feed.feed_id} of {created.feed.target_arn}. The URL "
        "is not shown again; if it leaks, revoke the feed with `tocsin calendar revoke` "
        "and create a new one.",
        err=True,
    )
    wildcard = settings.host in ("0.0.0.0", "::")
    if wildcard and base_url is None and getattr(settings, "public_url", None) is None:
        click.echo(
            f"The URL names the listen address {settings.host}; pass --base-url (or set "
            "TOCSIN_PUBLIC_URL) with the address that calendar apps reach.",
            err=True,
        )


@calendar_group.command("list")
@calendar_account_option
@database_option
@home_option
def calendar_list(account_id: str, database_url: str | None, home: str | None) -> None:
    """List an account's calendar feeds: id, target ARN, created and last fetched times.

    Tokens are stored only as digests, so the list cannot show feed URLs.
    """
    from tocsin.contacts.calendar import CalendarFeedError, list_feeds

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            listings = list_feeds(session, account_id)
    except CalendarFeedError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    if not listings:
        click.echo(f"No calendar feeds in account {account_id}.")
        return
    rows = [("FEED ID", "TARGET", "CREATED", "LAST FETCHED", "STATUS")]
    for listing in listings:
        feed = listing.feed
        rows.append(
            (
                feed.feed_id,
                feed.target_arn,
                _utc_text(feed.created_at),
                _utc_text(feed.last_fetched_at) if feed.last_fetched_at else "never",
                "active" if listing.target_exists else "target deleted",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@calendar_group.command("revoke")
@click.argument("feed_id")
@calendar_account_option
@database_option
@home_option
def calendar_revoke(
    feed_id: str, account_id: str, database_url: str | None, home: str | None
) -> None:
    """Delete the calendar feed FEED_ID, so that its URL returns 404 from now on."""
    from tocsin.contacts.calendar import CalendarFeedError, revoke_feed

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            revoked = revoke_feed(session, account_id, feed_id)
    except CalendarFeedError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(f"Revoked calendar feed {revoked.feed_id} of {revoked.target_arn}.")


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account_id(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> str | None:
    if value is not None and not (len(value) == 12 and value.isdigit()):
        raise click.BadParameter(f"{value!r} is not a 12-digit account id")
    return value


@main.command("outbox")
@click.option(
    "--account-id",
    default=None,
    callback=_account_id,
    help="Only messages of this 12-digit account.",
)
@click.option("--channel", default=None, help="Only messages to this contact channel ARN.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="Maximum number of messages to print.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of text.")
@database_option
@home_option
def outbox(
    account_id: str | None,
    channel: str | None,
    limit: int,
    as_json: bool,
    database_url: str | None,
    home: str | None,
) -> None:
    """List the messages in the development outbox, newest first.

    The outbox contains the pages and activation codes of every channel type
    that no provider is configured for (see TOCSIN_SMTP_URL, TOCSIN_SMS_URL and
    TOCSIN_VOICE_URL in `tocsin serve --help`). Bodies are printed in full,
    activation codes included.
    """
    from tocsin.notify.outbox import list_outbox

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            messages = [
                {
                    "CreatedAt": message.created_at.isoformat(),
                    "AccountId": message.account_id,
                    "ChannelType": message.channel_type,
                    "ChannelArn": message.channel_arn,
                    "Address": message.address,
                    "Subject": message.subject,
                    "Body": message.body,
                    "Key": message.key,
                }
                for message in list_outbox(
                    session, account_id=account_id, channel_arn=channel, limit=limit
                )
            ]
    finally:
        runtime.database.dispose()
    if as_json:
        click.echo(json.dumps(messages, indent=2, ensure_ascii=False))
        return
    if not messages:
        click.echo("The development outbox has no matching messages.", err=True)
        return
    click.echo("\n\n".join(_outbox_text(message) for message in messages))


def _outbox_text(message: dict[str, str]) -> str:
    created = datetime.fromisoformat(message["CreatedAt"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"{created}  account {message['AccountId']}  {message['ChannelType']} "
        f"to {message['Address']}\n"
        f"Channel: {message['ChannelArn']}\n"
        f"Subject: {message['Subject']}\n\n"
        f"{message['Body'].rstrip()}"
    )


@main.group("webhook")
def webhook_group() -> None:
    """Manage inbound alerting webhooks: secret URLs that turn alerts into events."""


webhook_account_option = click.option(
    "--account",
    "account_id",
    required=True,
    callback=_calendar_account_id,
    help="12-digit id of the account that owns the webhooks.",
)


@webhook_group.command("create")
@webhook_account_option
@click.option(
    "--format",
    "format_name",
    type=click.Choice(["alertmanager", "grafana", "generic"]),
    required=True,
    help="Payload format that the monitoring tool posts.",
)
@click.option("--bus", default="default", show_default=True, help="Event bus of the events.")
@database_option
@home_option
def webhook_create(
    account_id: str, format_name: str, bus: str, database_url: str | None, home: str | None
) -> None:
    """Create a webhook and print its URL, which contains its secret token.

    The URL is printed only this once. Every alert posted to it becomes an
    event on the bus, which rules route to response plans, buses or topics.
    """
    from tocsin.events.webhooks import WebhookError, create_webhook, webhook_url

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            created = create_webhook(session, runtime.clock.now(), account_id, format_name, bus)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(webhook_url(settings.effective_public_url, created.token))
    click.echo(
        f"Created {format_name} webhook {created.webhook.webhook_id} to event bus {bus}. The URL "
        "is not shown again; if it leaks, revoke the webhook with `tocsin webhook revoke` "
        "and create a new one.",
        err=True,
    )


@webhook_group.command("list")
@webhook_account_option
@database_option
@home_option
def webhook_list(account_id: str, database_url: str | None, home: str | None) -> None:
    """List an account's webhooks: id, format, bus, created and last used times, status.

    Tokens are stored only as digests, so the list cannot show webhook URLs.
    """
    from tocsin.events.webhooks import WebhookError, list_webhooks

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            webhooks = list_webhooks(session, account_id)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    if not webhooks:
        click.echo(f"No webhooks in account {account_id}.")
        return
    rows = [("WEBHOOK ID", "FORMAT", "BUS", "CREATED", "LAST USED", "STATUS")]
    for webhook in webhooks:
        status = f"revoked {_utc_text(webhook.revoked_at)}" if webhook.revoked_at else "active"
        last_used = _utc_text(webhook.last_used_at) if webhook.last_used_at else "never"
        created = _utc_text(webhook.created_at)
        rows.append(
            (webhook.webhook_id, webhook.format, webhook.bus_name, created, last_used, status)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@webhook_group.command("revoke")
@click.argument("webhook_id")
@webhook_account_option
@database_option
@home_option
def webhook_revoke(
    webhook_id: str, account_id: str, database_url: str | None, home: str | None
) -> None:
    """Revoke the webhook WEBHOOK_ID, so that its URL returns 404 from now on."""
    from tocsin.events.webhooks import WebhookError, revoke_webhook

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            revoked = revoke_webhook(session, runtime.clock.now(), account_id, webhook_id)
            revoked_id = revoked.webhook_id
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(f"Revoked webhook {revoked_id}.")


@main.group("sharing")
def sharing_group() -> None:
    """Review how response plans and contacts are shared with other accounts."""


@sharing_group.command("audit")
@click.option(
    "--account",
    "account_id",
    default=None,
    callback=_account_id,
    help="12-digit id of the account to audit; default: every account that owns response "
    "plans, contacts or resource shares.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@database_option
@home_option
def sharing_audit(
    account_id: str | None, as_json: bool, database_url: str | None, home: str | None
) -> None:
    """List unshared response plans and contacts, pending invitations and principals to review.

    Principals to review are accounts outside the owner's organization that a
    resource share gives access to, resource shares that allow external
    principals, and every principal that a resource policy names.
    """
    from tocsin.sharing import audit

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            reports = audit.audit(session, runtime.clock.now(), account_id)
            text = (
                json.dumps(audit.as_json(reports), indent=2) + "\n"
                if as_json
                else audit.as_text(reports)
            )
    except audit.AuditError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(text, nl=False)


def _account_ids(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> list[str]:
    return [checked for value in values if (checked := _account_id(context, parameter, value))]


@main.group("crossaccount")
def crossaccount_group() -> None:
    """Set up and verify Incident Manager's cross-account access."""


@crossaccount_group.command("setup")
@click.option(
    "--management",
    required=True,
    callback=_account_id,
    help="12-digit id of the account that owns the response plans and contacts.",
)
@click.option(
    "--application",
    "applications",
    multiple=True,
    required=True,
    callback=_account_ids,
    help="12-digit id of an application account; repeat the option for each account.",
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

    settings = _settings(database_url=database_url, home=home)
    _configure_logging(settings)
    runtime = _runtime(settings, existing=True)
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
        click.echo(setup.as_text(items), nl=False)
        click.echo(setup.summary(items, check=check))
    if check and not setup.complete(items):
        sys.exit(1)
