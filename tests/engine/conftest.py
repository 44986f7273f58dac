"""Fixtures for the job engine tests: a fake clock, an effects table and engine factories."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from tocsin.engine.clock import FakeClock
from tocsin.engine.worker import Engine, JobContext, JobRegistry
from tocsin.store.database import Database

# Effects written by test handlers. The unique job_id turns a second run of the
# same job into an IntegrityError, so a double run cannot pass unnoticed.
test_metadata = MetaData()
runs = Table(
    "engine_test_runs",
    test_metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, nullable=False, unique=True),
    Column("token", Integer, nullable=False),
    Column("runner", String(64), nullable=False),
)


def record_run(context: JobContext, runner: str = "test") -> None:
    """Insert one effect row for the job, in the handler's transaction."""
    context.session.execute(
        insert(runs).values(job_id=context.job_id, token=context.fencing_token, runner=runner)
    )


def run_rows(database: Database) -> list[Any]:
    with database.session() as session:
        return list(session.execute(select(runs).order_by(runs.c.job_id)))


def run_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(runs)) or 0


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass, then return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def db(database: Database) -> Database:
    """The ``database`` fixture with the effects table added."""
    test_metadata.create_all(database.engine)
    return database


@pytest.fixture
def registry() -> JobRegistry:
    registry = JobRegistry()
    registry.register("record", record_run)
    return registry


@pytest.fixture
def make_engine(
    db: Database, clock: FakeClock, registry: JobRegistry
) -> Iterator[Callable[..., Engine]]:
    """Build engines on the test database; any that were started are stopped at teardown."""
    engines: list[Engine] = []

    def build(**options: Any) -> Engine:
        options.setdefault("database", db)
        options.setdefault("clock", clock)
        options.setdefault("registry", registry)
        engine = Engine(
            options.pop("database"), options.pop("clock"), options.pop("registry"), **options
        )
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.stop(timeout=10)
