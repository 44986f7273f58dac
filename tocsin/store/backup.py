"""Online copies of the embedded SQLite database and its key file.

SQLite's backup API copies a consistent snapshot while a server keeps
writing, which a plain file copy of a database in WAL mode does not.
PostgreSQL databases are backed up with PostgreSQL's own tools.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tocsin.iam.crypto import KEY_FILE_NAME

logger = logging.getLogger(__name__)

DATABASE_FILE = "tocsin.db"


class BackupError(Exception):
    """A backup cannot be made. The message gives the reason and the next step."""


@dataclass(frozen=True)
class Backup:
    """The files that one backup wrote."""

    database: Path
    key: Path | None


def back_up(database: Path, key: Path | None, destination: Path) -> Backup:
    """Copy ``database`` and the key file ``key`` into the new folder ``destination``.

    ``key`` is None when the secret key comes from a setting rather than a
    file, and then only the database is copied.
    """
    if not database.is_file():
        raise BackupError(f"no Tocsin database at {database}")
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty: choose a new or empty folder")
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / DATABASE_FILE
    # The source is opened read-only, so a mistyped path never creates a database.
    with (
        closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    copied_key = None
    if key is not None and key.is_file():
        copied_key = destination / KEY_FILE_NAME
        shutil.copyfile(key, copied_key)
        copied_key.chmod(0o600)
    logger.info(
        "backed up %s to %s (key file copied: %s)", database, target, copied_key is not None
    )
    return Backup(target, copied_key)
