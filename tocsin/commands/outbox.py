"""``tocsin outbox``: the messages of the development outbox."""

from __future__ import annotations

import json
from datetime import datetime

import click

from tocsin.cli_support import (
    account_option,
    configure_logging,
    database_option,
    home_option,
    load_settings_or_exit,
    open_runtime,
)


@click.command("outbox")
@account_option("Only messages of this 12-digit account.")
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

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
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
