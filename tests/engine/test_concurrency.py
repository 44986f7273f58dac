"""Many workers on one database never run a job twice, and notifications wake them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.engine.conftest import record_run, run_count, run_rows, wait_for
from tocsin.engine.clock import FakeClock, SystemClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import enqueue
from tocsin.engine.worker import Engine, JobContext, JobRegistry
from tocsin.store.database import Database

REPOSITORY = Path(__file__).resolve().parents[2]


def enqueue_many(db: Database, clock: FakeClock | SystemClock, count: int) -> None:
    with db.session() as session:
        for number in range(count):
            enqueue(session, clock, "record", {"number": number}, key=f"bulk:{number}")


def assert_each_ran_once(db: Database, count: int) -> None:
    rows = run_rows(db)
    assert len(rows) == count
    assert len({row.job_id for row in rows}) == count
    with db.session() as session:
        rows_by_status = session.execute(select(Job.status, func.count()).group_by(Job.status))
        statuses = {status: number for status, number in rows_by_status}
        retried = session.scalar(select(func.count()).select_from(Job).where(Job.attempts != 1))
    assert statuses == {JobStatus.DONE.value: count}
    assert retried == 0


class SlowRecorder:
    """A sending job whose send step sleeps 20 ms with no transaction open.

    On SQLite the sleep holds no write lock, so the other engine, whose busy
    handler retries at intervals of up to 100 ms, has room to claim.
    """

    send_timeout_seconds = 5.0

    def __init__(self, runner: str) -> None:
        self.runner = runner

    def exclusive_key(self, intent: int) -> None:
        return None

    def prepare(self, context: JobContext) -> int:
        return context.job_id

    def send(self, intent: int) -> int:
        time.sleep(0.02)
        return intent

    def record(self, context: JobContext, intent: int | None, outcome: int | None) -> None:
        record_run(context, runner=self.runner)


def test_two_engines_run_each_job_once(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    count = 200
    engines = []
    for name in ("left", "right"):
        registry = JobRegistry()
        registry.register_sending("record", SlowRecorder(name))
        engines.append(make_engine(name=name, registry=registry, workers=2, poll_seconds=0.2))
    # Both engines are idle when the jobs arrive, so the commit wakes both, and
    # each send takes 20 ms, so one engine cannot drain the queue before the
    # other claims.
    for engine in engines:
        engine.start()
    enqueue_many(db, clock, count)

    assert wait_for(lambda: run_count(db) >= count, timeout=40, interval=0.05)
    for engine in engines:
        engine.stop()
    assert_each_ran_once(db, count)
    # Both engines must have competed, or the check above proves nothing.
    assert len({row.runner for row in run_rows(db)}) == 2


def test_two_processes_run_each_job_once(db: Database, make_engine: Callable[..., Engine]) -> None:
    if not db.is_postgresql:
        pytest.skip("the multi-process run is checked on PostgreSQL only")
    count = 400
    url = db.url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "tests.engine.worker_process", url, str(count)]
    processes = [
        subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        # The parent also runs an engine, so three processes compete for the jobs.
        registry = JobRegistry()
        registry.register("record", partial(record_run, runner="parent"))
        parent = make_engine(registry=registry, clock=SystemClock(), workers=2, poll_seconds=0.2)
        parent.start()
        enqueue_many(db, SystemClock(), count)
        for process in processes:
            assert process.wait(timeout=60) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    parent.stop()

    assert_each_ran_once(db, count)
    # At least two processes must have competed, or the check above proves nothing.
    assert len({row.runner for row in run_rows(db)}) >= 2


def test_notify_wakes_idle_worker(db: Database, make_engine: Callable[..., Engine]) -> None:
    if not db.is_postgresql:
        pytest.skip("NOTIFY exists only on PostgreSQL")
    engine = make_engine(clock=SystemClock(), workers=1, poll_seconds=60)
    engine.start()
    assert engine.listener is not None
    assert engine.listener.ready.wait(5)
    # Let the worker finish its first empty claim and go idle.
    time.sleep(0.2)

    # A separate connection pool, as another server process would use.
    other = Database(db.url.render_as_string(hide_password=False))
    try:
        started = time.monotonic()
        enqueue_many(other, SystemClock(), 1)
        assert wait_for(lambda: run_count(db) == 1, timeout=2, interval=0.01)
        elapsed = time.monotonic() - started
    finally:
        other.dispose()

    assert elapsed < 0.75
    assert engine.listener.received >= 1


def test_commit_hook_wakes_idle_worker(db: Database, make_engine: Callable[..., Engine]) -> None:
    if db.is_postgresql:
        pytest.skip("PostgreSQL workers are woken by NOTIFY")
    engine = make_engine(clock=SystemClock(), workers=1, poll_seconds=60)
    engine.start()
    time.sleep(0.2)

    started = time.monotonic()
    enqueue_many(db, SystemClock(), 1)
    assert wait_for(lambda: run_count(db) == 1, timeout=2, interval=0.01)

    assert time.monotonic() - started < 0.5
