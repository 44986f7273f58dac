"""Retries, dead letters, leases, fencing and stopping, on both backends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.engine.conftest import record_run, run_count, run_rows, wait_for
from tocsin.config import Settings
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import enqueue
from tocsin.engine.worker import Engine, JobContext, JobRegistry, retry_delay
from tocsin.store.database import Database


def job_row(db: Database, job_id: int) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def failing(context: JobContext) -> None:
    raise RuntimeError(f"provider rejected message {context.payload['message']}")


def test_retry_delay_grows_and_caps() -> None:
    for attempt in range(1, 12):
        delay = retry_delay(attempt, base_seconds=2, max_seconds=300)
        ceiling = min(300.0, 2.0 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(10_000, base_seconds=2, max_seconds=300) <= 300


def test_failing_job_backs_off_then_dies(
    db: Database,
    clock: FakeClock,
    make_engine: Callable[..., Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = JobRegistry()
    registry.register("deliver", failing)
    engine = make_engine(registry=registry, retry_base_seconds=10, retry_max_seconds=3600)
    with db.session() as session:
        job = enqueue(session, clock, "deliver", {"message": "m-1"}, max_attempts=4)

    delays: list[float] = []
    with caplog.at_level(logging.WARNING, logger="tocsin.engine"):
        for attempt in range(1, 4):
            assert engine.run_due() == 1
            retried = job_row(db, job.id)
            assert retried.status == JobStatus.PENDING
            assert retried.attempts == attempt
            assert retried.lease_owner is None
            assert retried.last_error == "RuntimeError: provider rejected message m-1"
            delay = (retried.due_at - clock.now()).total_seconds()
            delays.append(delay)
            # Nothing runs before the backoff has passed.
            clock.advance(seconds=delay - 1)
            assert engine.run_due() == 0
            clock.advance(seconds=1)
        assert engine.run_due() == 1

    assert delays == sorted(delays)
    assert delays[2] > delays[0]
    dead = job_row(db, job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.attempts == 4
    assert dead.finished_at == clock.now()
    assert "m-1" in (dead.last_error or "")
    failures = [record for record in caplog.records if f"job {job.id} (deliver)" in record.message]
    assert len(failures) == 4
    assert failures[-1].levelno == logging.ERROR
    clock.advance(hours=10)
    assert engine.run_due() == 0


def test_engine_max_attempts_applies_by_default(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    registry = JobRegistry()
    registry.register("deliver", failing)
    engine = make_engine(registry=registry, max_attempts=2, retry_max_seconds=1)
    with db.session() as session:
        job = enqueue(session, clock, "deliver", {"message": "m-2"})

    assert engine.run_due() == 1
    clock.advance(seconds=2)
    assert engine.run_due() == 1
    assert job_row(db, job.id).status == JobStatus.DEAD


def test_unknown_kind_stays_pending(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    # A node leaves kinds it has no handler for to nodes that have one, for
    # example during a rolling upgrade, instead of failing them.
    engine = make_engine()
    with db.session() as session:
        job = enqueue(session, clock, "no-such-kind", {})
        known = enqueue(session, clock, "record", {})

    assert engine.run_due() == 1

    waiting = job_row(db, job.id)
    assert waiting.status == JobStatus.PENDING
    assert waiting.attempts == 0
    assert job_row(db, known.id).status == JobStatus.DONE


def test_handler_error_rolls_back_its_writes(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    def record_then_fail(context: JobContext) -> None:
        record_run(context)
        raise RuntimeError("late failure")

    registry = JobRegistry()
    registry.register("flaky", record_then_fail)
    engine = make_engine(registry=registry)
    with db.session() as session:
        enqueue(session, clock, "flaky", {})

    assert engine.run_due() == 1
    assert run_count(db) == 0


def test_expired_lease_is_taken_over_and_fenced(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    first = make_engine(name="first", lease_seconds=30)
    second = make_engine(name="second", lease_seconds=30)
    with db.session() as session:
        job = enqueue(session, clock, "record", {})
    [stale] = first.claim(5)

    clock.advance(seconds=29)
    assert second.run_due() == 0
    clock.advance(seconds=2)
    assert second.run_due() == 1

    # The first worker wakes up late. Its claim is rejected, so nothing runs again.
    assert first.execute(stale) == "stale"
    [row] = run_rows(db)
    assert row.job_id == job.id
    assert row.token == 2
    done = job_row(db, job.id)
    assert done.status == JobStatus.DONE
    assert done.fencing_token == 2
    assert done.attempts == 2


def test_token_fences_same_owner_reclaim(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(lease_seconds=30)
    with db.session() as session:
        enqueue(session, clock, "record", {})
    [old] = engine.claim(5)
    clock.advance(seconds=31)
    [new] = engine.claim(5)
    assert new.owner == old.owner

    assert engine.execute(old) == "stale"
    assert engine.execute(new) == "done"
    [row] = run_rows(db)
    assert row.token == new.fencing_token


def test_late_completion_rolls_back_effects(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    def record_then_lose_lease(context: JobContext) -> None:
        record_run(context)
        # Another worker retakes the job before this handler's transaction commits.
        context.session.execute(
            update(Job)
            .where(Job.id == context.job_id)
            .values(lease_owner="other", fencing_token=Job.fencing_token + 1)
        )

    registry = JobRegistry()
    registry.register("slow", record_then_lose_lease)
    engine = make_engine(registry=registry)
    with db.session() as session:
        job = enqueue(session, clock, "slow", {})

    assert engine.run_due() == 1

    assert run_count(db) == 0
    rolled_back = job_row(db, job.id)
    assert rolled_back.status == JobStatus.RUNNING
    assert rolled_back.fencing_token == 1


def test_crash_after_claim_loses_nothing(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    crashed = make_engine(name="crashed", lease_seconds=60)
    survivor = make_engine(name="survivor", lease_seconds=60)
    with db.session() as session:
        job = enqueue(session, clock, "record", {})
    assert len(crashed.claim(5)) == 1
    # The claiming worker dies here: no execute, no release.

    assert survivor.run_due() == 0
    clock.advance(seconds=61)
    assert survivor.run_due() == 1
    assert survivor.run_due() == 0
    clock.advance(minutes=10)
    assert survivor.run_due() == 0

    [row] = run_rows(db)
    assert row.job_id == job.id
    assert job_row(db, job.id).status == JobStatus.DONE


def test_job_lost_too_often_is_dead(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(lease_seconds=30)
    with db.session() as session:
        job = enqueue(session, clock, "record", {}, max_attempts=2)
    for _ in range(2):
        assert len(engine.claim(5)) == 1
        clock.advance(seconds=31)

    assert engine.run_due() == 1

    assert run_count(db) == 0
    dead = job_row(db, job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.last_error == "claimed 2 times without finishing"


def test_engine_from_settings(tmp_path: Path) -> None:
    settings = Settings(workers=3, job_lease_seconds=12, job_poll_seconds=0.5, job_max_attempts=4)
    database = Database(f"sqlite:///{tmp_path / 'settings.db'}")
    engine = Engine.from_settings(database, FakeClock(), JobRegistry(), settings)
    assert engine.workers == 3
    assert engine.lease_seconds == 12
    assert engine.poll_seconds == 0.5
    assert engine.max_attempts == 4
    overridden = Engine(database, FakeClock(), JobRegistry(), settings, poll_seconds=7)
    assert overridden.poll_seconds == 7
    assert overridden.lease_seconds == 12


def test_stop_releases_unstarted_claims(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    started = threading.Event()
    proceed = threading.Event()

    def blocking(context: JobContext) -> None:
        started.set()
        assert proceed.wait(10)
        record_run(context)

    registry = JobRegistry()
    registry.register("blocking", blocking)
    registry.register("record", record_run)
    engine = make_engine(registry=registry, workers=1, batch_size=3, poll_seconds=30)
    with db.session() as session:
        first = enqueue(session, clock, "blocking", {}, due_at=clock.now() - timedelta(seconds=3))
        others = [enqueue(session, clock, "record", {}) for _ in range(2)]

    engine.start()
    assert started.wait(5)
    stopper = threading.Thread(target=engine.stop)
    stopper.start()
    assert wait_for(lambda: engine.stopping, timeout=5)
    proceed.set()
    stopper.join(10)
    assert not stopper.is_alive()

    # The running handler finished, and the two jobs claimed with it went back to pending.
    assert job_row(db, first.id).status == JobStatus.DONE
    for job in others:
        released = job_row(db, job.id)
        assert released.status == JobStatus.PENDING
        assert released.lease_owner is None
        assert released.lease_expires_at is None
        assert released.attempts == 0
    assert make_engine().run_due() == 2


def test_started_engine_runs_on_clock_advance(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(workers=2, poll_seconds=30)
    engine.start()
    with db.session() as session:
        job = enqueue(session, clock, "record", {}, due_at=clock.now() + timedelta(seconds=10))

    assert not wait_for(lambda: run_count(db) > 0, timeout=0.3)
    clock.advance(seconds=10)
    assert wait_for(lambda: run_count(db) == 1, timeout=2)
    assert wait_for(lambda: job_row(db, job.id).status == JobStatus.DONE, timeout=2)
