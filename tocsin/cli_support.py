"""Settings, the runtime and options that the command-line interface's commands share."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tocsin.config import Settings, SettingsError, load_settings
from tocsin.iam.crypto import SecretKeyError
from tocsin.printable import printable

if TYPE_CHECKING:
    from tocsin.app import Runtime

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def load_settings_or_exit(**overrides: Any) -> Settings:
    """Return the settings, or stop with a usage error that names the invalid setting."""
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def open_runtime(settings: Settings, *, existing: bool = False) -> Runtime:
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


def check_port_free(host: str, port: int) -> None:
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


def configure_logging(settings: Settings, *, server: bool = False) -> None:
    """Send log records to standard error, one line each.

    The server logs at the level of the settings. Other commands log only
    warnings and errors unless TOCSIN_LOG_LEVEL sets a level, so that their
    output is not buried under start-up messages.
    """
    level = settings.log_level
    if not server and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
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


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_account_id(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> str | None:
    """Reject a value that is not a 12-digit account id; None passes."""
    if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise click.BadParameter(f"{value!r} is not a 12-digit account id.")
    return value


def check_account_ids(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> list[str]:
    """Return the account ids of a repeated option, each value one id or several with commas."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return [checked for value in ids if (checked := check_account_id(context, parameter, value))]


def account_option(
    help_text: str, *, required: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the option of an account id, spelled --account or --account-id."""
    return click.option(
        "--account",
        "--account-id",
        "account_id",
        required=required,
        default=None,
        callback=check_account_id,
        help=help_text,
    )


def check_base_url(
    _context: click.Context, _parameter: click.Parameter, value: str | None
) -> str | None:
    """Reject a base URL that is not http:// or https:// with a host; None passes."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL with a host.")
    return value.rstrip("/")


def base_url_option(readers: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return the --base-url option of a command that prints a URL of the server."""
    return click.option(
        "--base-url",
        default=None,
        callback=check_base_url,
        help=f"Scheme, host and port of the printed URL, as {readers} reach the server; "
        "default: TOCSIN_PUBLIC_URL, else http://TOCSIN_HOST:TOCSIN_PORT.",
    )


def warn_about_base_url(settings: Settings, base_url: str | None, readers: str) -> None:
    """Warn when a printed URL may not reach the server: no base URL was given or configured."""
    if base_url is not None or settings.public_url is not None:
        return
    click.echo(
        f"The URL assumes the server listens at {settings.host}:{settings.port}. If {readers} "
        "reach it elsewhere, pass --base-url or set TOCSIN_PUBLIC_URL.",
        err=True,
    )


@contextmanager
def existing_database(
    database_url: str | None,
    home: str | None,
    errors: tuple[type[Exception], ...] = (),
) -> Iterator[tuple[Session, Runtime]]:
    """Yield a session of the existing database, in one transaction, and the runtime.

    An exception of ``errors`` becomes a one-line error of the command.
    """
    settings = load_settings_or_exit(database_url=database_url, home=home)
    configure_logging(settings)
    runtime = open_runtime(settings, existing=True)
    try:
        with runtime.database.session() as session:
            yield session, runtime
    except errors as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.database.dispose()


def echo_table(rows: Sequence[tuple[str, ...]]) -> None:
    """Print rows in left-aligned columns; the first row is the header.

    Control characters in the cells are printed as ``\\xNN`` escapes.
    """
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
