"""``tocsin webhook``: inbound alerting webhooks at secret URLs."""

from __future__ import annotations

import click

from tocsin.cli_support import (
    account_option,
    base_url_option,
    configure_logging,
    database_option,
    echo_table,
    existing_database,
    home_option,
    load_settings_or_exit,
    open_runtime,
    utc_text,
    warn_about_base_url,
)


@click.group("webhook")
def webhook_group() -> None:
    """Manage inbound alerting webhooks: secret URLs that turn alerts into events."""


webhook_account_option = account_option(
    "12-digit id of the account that owns the webhooks.", required=True
)


@webhook_group.command("create")
@webhook_account_option
@click.option(
    "--format",
    "format_name",
    type=click.Choice(["alertmanager", "grafana", "generic", "sns"]),
    required=True,
    help="Payload format that the monitoring tool posts.",
)
@click.option("--bus", default="default", show_default=True, help="Event bus of the events.")
@click.option(
    "--resolve",
    is_flag=True,
    help=(
        "Resolve an alert group's open incidents when every alert of the group has resolved "
        "(alertmanager and grafana formats). Without it, resolutions are only recorded on the "
        "incident timelines."
    ),
)
@click.option(
    "--max-per-minute",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help=(
        "Maximum posts per minute to this webhook; posts over it get HTTP 429. "
        "Default: the server's TOCSIN_WEBHOOK_MAX_PER_MINUTE."
    ),
)
@base_url_option("monitoring tools")
@database_option
@home_option
def webhook_create(
    account_id: str,
    format_name: str,
    bus: str,
    resolve: bool,
    max_per_minute: int | None,
    base_url: str | None,
    database_url: str | None,
    home: str | None,
) -> None:
    """Create a webhook and print its URL, which contains its secret token.

    The URL is printed only this once. Every alert posted to it becomes an
    event on the bus, which rules route to response plans, buses or topics.
    """
    from tocsin.events.webhooks import WebhookError, create_webhook, webhook_url

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            created = create_webhook(
                session,
                runtime.clock.now(),
                account_id,
                format_name,
                bus,
                resolve_incidents=resolve,
                max_per_minute=max_per_minute,
            )
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()
    click.echo(webhook_url(base_url or settings.effective_public_url, created.token))
    click.echo(
        f"Created {format_name} webhook {created.webhook.webhook_id} to event bus {bus}. The URL "
        "is not shown again; if it leaks, revoke the webhook with `tocsin webhook revoke` "
        "and create a new one.",
        err=True,
    )
    warn_about_base_url(settings, base_url, "monitoring tools")


@webhook_group.command("list")
@webhook_account_option
@database_option
@home_option
def webhook_list(account_id: str, database_url: str | None, home: str | None) -> None:
    """List an account's webhooks.

    Columns: id, format, bus, whether resolved groups resolve incidents,
    maximum posts per minute, created and last used times, status. Tokens
    are stored only as digests, so the list cannot show webhook URLs.
    """
    from tocsin.events.webhooks import WebhookError, list_webhooks

    with existing_database(database_url, home, (WebhookError,)) as (session, runtime):
        webhooks = list_webhooks(session, account_id)
        default_limit = runtime.settings.webhook_max_per_minute
    if not webhooks:
        click.echo(f"No webhooks in account {account_id}.")
        return
    rows = [("WEBHOOK ID", "FORMAT", "BUS", "RESOLVE", "MAX/MIN", "CREATED", "LAST USED", "STATUS")]
    for webhook in webhooks:
        status = f"revoked {utc_text(webhook.revoked_at)}" if webhook.revoked_at else "active"
        last_used = utc_text(webhook.last_used_at) if webhook.last_used_at else "never"
        created = utc_text(webhook.created_at)
        resolve = "yes" if webhook.resolve_incidents else "no"
        # A default limit is marked, because it follows TOCSIN_WEBHOOK_MAX_PER_MINUTE.
        limit = str(webhook.max_per_minute) if webhook.max_per_minute else f"{default_limit}*"
        rows.append(
            (
                webhook.webhook_id,
                webhook.format,
                webhook.bus_name,
                resolve,
                limit,
                created,
                last_used,
                status,
            )
        )
    echo_table(rows)
    if any(not webhook.max_per_minute for webhook in webhooks):
        click.echo(
            "* the default, TOCSIN_WEBHOOK_MAX_PER_MINUTE as this command reads it; "
            "each server applies its own value"
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

    with existing_database(database_url, home, (WebhookError,)) as (session, runtime):
        revoked = revoke_webhook(session, runtime.clock.now(), account_id, webhook_id)
        revoked_id = revoked.webhook_id
    click.echo(f"Revoked webhook {revoked_id}.")
