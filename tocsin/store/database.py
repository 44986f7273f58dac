"""Engine, sessions and schema migration for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

# Key of the PostgreSQL advisory lock that serialises migrations when several
# nodes start at once against one database.
MIGRATION_LOCK_KEY = 0x74_6F_63_73  # "tocs"

# Execution option that marks a connection's transactions as read-only.
READ_ONLY_OPTION = "tocsin_read_only"


def normalise_url(url: str) -> URL:
    """Parse a database URL, choosing the psycopg 3 driver for plain PostgreSQL URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r} in {url!r}; "
            "use a sqlite:/// or postgresql:// URL"
        )
    return parsed


def _configure_sqlite(engine: Engine) -> None:
    # The driver's own transaction handling opens transactions lazily, which lets
    # a reader try to upgrade to a writer and fail at once with "database is
    # locked". Tocsin opens every transaction itself with BEGIN IMMEDIATE, so
    # writers queue on the busy timeout instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only transactions (Database.read) take no write lock, so in WAL
        # mode they run beside a writer instead of queuing behind it.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: Path) -> None:
    """Create an empty database file that only its owner may read, unless it exists.

    The database contains incident data, hashed passwords and encrypted secrets.
    SQLite gives its -wal and -shm files the permissions of the database file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


class Database:
    """One engine and its session factory; ``session()`` is one transaction."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                _create_private_file(Path(database))
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=20)
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite lets one transaction write at a time, and a connection that
        # waits sleeps in SQLite's busy handler for up to 100 ms between
        # retries. So this process's writers (requests, webhooks and job
        # workers) queue on a lock, which wakes the next one as soon as the
        # previous one commits. Other processes still wait through the busy
        # handler. The lock is reentrant, so a nested session behaves as before.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session inside one transaction: commit on success, roll back on error.

        The database transaction starts at the session's first statement, so a
        session that runs none takes no lock.
        """
        with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection inside a read-only transaction that takes no write lock."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{READ_ONLY_OPTION: True})
            with connection.begin():
                yield connection

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            if self.is_postgresql:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
        logger.info("database schema is current: %s", self.url.render_as_string(hide_password=True))

    def ping(self) -> bool:
        """Return whether the database responds to a trivial query."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            logger.warning("database health check failed", exc_info=True)
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
