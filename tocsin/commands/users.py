"""``tocsin user``: IAM users' console passwords, for the first sign-in to the console."""

from __future__ import annotations

import sys

import click

from tocsin.cli_support import (
    account_option,
    configure_logging,
    database_option,
    home_option,
    load_settings_or_exit,
    open_runtime,
)


@click.group("user")
def user_group() -> None:
    """Manage IAM users from the command line."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("--password-stdin: standard input has no password line")
        return password
    typed: str = click.prompt(
        "New console password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return typed


@user_group.command("set-password")
@account_option("12-digit id of the account that the user belongs to.", required=True)
@click.argument("user_name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@click.option(
    "--reset-required",
    is_flag=True,
    help="Make the user choose a new password at the next sign-in (PasswordResetRequired).",
)
@database_option
@home_option
def set_password(
    account_id: str,
    user_name: str,
    password_stdin: bool,
    reset_required: bool,
    database_url: str | None,
    home: str | None,
) -> None:
    """Set the console password of USER_NAME, creating its login profile if it has none.

    `tocsin account create` makes the user Administrator. Give it a password
    with this command and sign in at /console/signin. Manage the passwords of
    other users with the IAM login-profile operations.
    """
    from tocsin.iam import login_profiles, users
    from tocsin.protocol.errors import ServiceError

    password = _read_password(password_stdin)
    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            user = users.get_user(session, account_id, user_name)
            if login_profiles.find_login_profile(session, user) is None:
                login_profiles.create_login_profile(
                    session, runtime.clock, user, password, password_reset_required=reset_required
                )
                action = "Created"
            else:
                login_profiles.update_login_profile(
                    session,
                    runtime.clock,
                    user,
                    password=password,
                    password_reset_required=reset_required,
                )
                action = "Changed"
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        runtime.database.dispose()
    click.echo(f"{action} the console password of {user_name} in account {account_id}.", err=True)
