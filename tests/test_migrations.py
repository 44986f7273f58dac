"""The migrations build exactly the schema that the models declare."""

from __future__ import annotations

import stat
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import tocsin.store.models  # noqa: F401
from tocsin.store.base import Base
from tocsin.store.database import Database


def test_migrations_match_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrate_twice_is_harmless(database: Database) -> None:
    database.migrate()
    assert database.ping()


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tocsin.db"
    database = Database(f"sqlite:///{path}")
    try:
        database.migrate()
        with database.session() as session:
            session.execute(text("SELECT 1"))
    finally:
        database.engine.dispose()
    created = [path, *path.parent.glob("tocsin.db-*")]
    assert created[0].exists()
    assert {file.name: stat.S_IMODE(file.stat().st_mode) for file in created} == {
        file.name: 0o600 for file in created
    }


def test_sqlite_keeps_existing_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    Database(f"sqlite:///{path}").engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
