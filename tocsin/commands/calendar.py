"""``tocsin calendar``: iCalendar feeds of on-call shifts at secret URLs."""

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


@click.group("calendar")
def calendar_group() -> None:
    """Manage iCalendar feeds of on-call shifts: secret URLs for calendar apps."""


calendar_account_option = account_option(
    "12-digit id of the account that owns the feeds.", required=True
)


@calendar_group.command("create")
@click.argument("arn")
@calendar_account_option
@base_url_option("calendar apps")
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
    from tocsin.contacts.calendar import CalendarFeedError, create_feed, feed_base_url, feed_url

    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
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
    warn_about_base_url(settings, base_url, "calendar apps")


@calendar_group.command("list")
@calendar_account_option
@database_option
@home_option
def calendar_list(account_id: str, database_url: str | None, home: str | None) -> None:
    """List an account's calendar feeds: id, target ARN, created and last fetched times.

    Tokens are stored only as digests, so the list cannot show feed URLs.
    """
    from tocsin.contacts.calendar import CalendarFeedError, list_feeds

    with existing_database(database_url, home, (CalendarFeedError,)) as (session, _runtime):
        listings = list_feeds(session, account_id)
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
                utc_text(feed.created_at),
                utc_text(feed.last_fetched_at) if feed.last_fetched_at else "never",
                "active" if listing.target_exists else "target deleted",
            )
        )
    echo_table(rows)


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

    with existing_database(database_url, home, (CalendarFeedError,)) as (session, _runtime):
        revoked = revoke_feed(session, account_id, feed_id)
    click.echo(f"Revoked calendar feed {revoked.feed_id} of {revoked.target_arn}.")
