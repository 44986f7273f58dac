"""Shared fixtures: databases on both backends.

PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, trust
auth) and create a fresh database per test session. Without that server they
skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tocsin.store.database import Database
from tocsin.testing import RunningServer

POSTGRES_ADMIN_URL = os.environ.get(
    "TOCSIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not usable: {exc}"
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unavailable, or fail under CI=true."""
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


def _admin_execute(statement: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


def _database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """Name of a migrated PostgreSQL database that test databases are copied from.

    Copying a template is several times faster than migrating each database.
    """
    require_postgres()
    name = f"tocsin_template_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        template = Database(_database_url(name))
        template.migrate()
        template.dispose()
        yield name
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database file that test databases are copied from."""
    path = tmp_path_factory.mktemp("template") / "tocsin.db"
    template = Database(f"sqlite:///{path}")
    template.migrate()
    template.dispose()
    # Fold the write-ahead log into the main file, so that one file is the whole database.
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def fresh_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Return the URL of a new database on ``backend`` with the current schema and no rows."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tocsin.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:16]}"
    _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    request.addfinalizer(lambda: _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return _database_url(name)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database without rows, on each backend in turn."""
    url = fresh_database_url(request.param, tmp_path, request)
    db = Database(url)
    prepare_schema(db)
    yield db
    db.dispose()


def prepare_schema(db: Database) -> None:
    """Create the schema the way the server does at start."""
    db.migrate()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A running Tocsin server with a fake clock, on each backend in turn."""
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url) as running:
        yield running
