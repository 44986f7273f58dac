"""Raw durable-insert ceilings of this machine: one row per committed transaction.

These numbers are the anchors for the server benchmarks. They show how many
durable commits per second the storage and database can do before any HTTP,
SigV4 or ORM work, measured in the same run so that they share its machine
state.

Run alone with ``.venv/bin/python -m bench.ceiling``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.harness import DEFAULT_POSTGRESQL_URL, libpq_conninfo, scratch_postgresql_database

DEFAULT_SECONDS = 3.0
# Upper bound on committed rows per measurement, whatever the duration.
MAX_ROWS = 1_000_000
PAYLOAD = "x" * 64
TABLE_DDL = "CREATE TABLE bench_insert (id {id_type} PRIMARY KEY, payload TEXT, created REAL)"


@dataclass(frozen=True)
class Ceiling:
    """One measured insert rate."""

    name: str
    database: str
    connections: int
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_second": self.rows_per_second}


def sqlite_ceiling(synchronous: str, seconds: float, directory: str | None = None) -> Ceiling:
    """Measure single-connection SQLite inserts in WAL mode with the given synchronous level."""
    with tempfile.TemporaryDirectory(prefix="tocsin-ceiling-", dir=directory) as folder:
        connection = sqlite3.connect(os.path.join(folder, "ceiling.db"), isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={synchronous}")
            connection.execute(TABLE_DDL.format(id_type="INTEGER"))
            rows = 0
            started = time.perf_counter()
            deadline = started + seconds
            while rows < MAX_ROWS and time.perf_counter() < deadline:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "INSERT INTO bench_insert (payload, created) VALUES (?, ?)",
                    (PAYLOAD, time.time()),
                )
                connection.execute("COMMIT")
                rows += 1
            elapsed = time.perf_counter() - started
        finally:
            connection.close()
    return Ceiling(f"SQLite WAL synchronous={synchronous}", "sqlite", 1, rows, elapsed)


def _postgresql_inserter(
    conninfo: str, deadline: float, max_rows: int, counts: list[int], index: int
) -> None:
    rows = 0
    with psycopg.connect(conninfo, autocommit=True) as connection:
        while rows < max_rows and time.perf_counter() < deadline:
            connection.execute(
                "INSERT INTO bench_insert (payload, created) VALUES (%s, %s)",
                (PAYLOAD, time.time()),
            )
            rows += 1
    counts[index] = rows


def postgresql_ceiling(conninfo: str, connections: int, seconds: float) -> Ceiling:
    """Measure PostgreSQL inserts, each its own autocommit transaction, on N threads."""
    counts = [0] * connections
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(
            target=_postgresql_inserter,
            args=(conninfo, deadline, MAX_ROWS // connections, counts, index),
        )
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - started
    name = f"PostgreSQL, {connections} connection{'s' if connections > 1 else ''}"
    return Ceiling(name, "postgresql", connections, sum(counts), elapsed)


def postgresql_settings(conninfo: str) -> dict[str, str]:
    """Return the server settings that decide whether a commit waits for the disk."""
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        return {name: str(connection.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]


def measure_postgresql(
    maintenance_url: str, seconds: float
) -> tuple[list[Ceiling], dict[str, str]]:
    """Measure the 1- and 16-connection ceilings in a scratch database, then drop it."""
    with scratch_postgresql_database(maintenance_url, "tocsin_ceiling") as url:
        conninfo = libpq_conninfo(url)
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(TABLE_DDL.format(id_type="BIGSERIAL"))
        settings = postgresql_settings(conninfo)
        ceilings = [postgresql_ceiling(conninfo, count, seconds) for count in (1, 16)]
    return ceilings, settings


def measure_sqlite(seconds: float) -> list[Ceiling]:
    return [sqlite_ceiling(level, seconds) for level in ("FULL", "NORMAL")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_POSTGRESQL_URL,
        help="Maintenance database on the local PostgreSQL server, used to create and "
        f"drop a scratch database (default {DEFAULT_POSTGRESQL_URL}).",
    )
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="Duration of each measurement."
    )
    parser.add_argument("--skip-postgresql", action="store_true", help="Measure SQLite only.")
    arguments = parser.parse_args(argv)
    ceilings = measure_sqlite(arguments.seconds)
    settings: dict[str, str] = {}
    if not arguments.skip_postgresql:
        postgresql, settings = measure_postgresql(arguments.database_url, arguments.seconds)
        ceilings += postgresql
    for ceiling in ceilings:
        print(f"{ceiling.name}: {ceiling.rows_per_second:,.0f} rows/s ({ceiling.rows} rows)")
    if settings:
        print("PostgreSQL settings:", json.dumps(settings), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
