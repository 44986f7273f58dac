"""Enqueue, duplicate keys, cancellation and due times, on both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.engine.conftest import run_count, run_rows
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import cancel, enqueue
from tocsin.engine.worker import Engine, JobContext, JobRegistry
from tocsin.iam.models import Account
from tocsin.store.database import Database


def job_row(db: Database, job_id: int) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_enqueue_and_run(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    seen: list[JobContext] = []
    registry = JobRegistry()
    registry.register("remember", seen.append)
    engine = make_engine(registry=registry)
    with db.session() as session:
        job = enqueue(session, clock, "remember", {"incident": "abc"}, account_id="111122223333")

    assert engine.run_due() == 1

    assert len(seen) == 1
    assert seen[0].job_id == job.id
    assert seen[0].payload == {"incident": "abc"}
    assert seen[0].account_id == "111122223333"
    assert seen[0].attempt == 1
    assert seen[0].fencing_token == 1
    assert seen[0].idempotency_key == f"tocsin-job-{job.id}"
    done = job_row(db, job.id)
    assert done.status == JobStatus.DONE
    assert done.finished_at == clock.now()
    assert done.lease_owner is None
    assert engine.run_due() == 0


def test_future_job_waits_for_clock(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine()
    with db.session() as session:
        enqueue(session, clock, "record", {}, due_at=clock.now() + timedelta(minutes=5))

    assert engine.run_due() == 0
    clock.advance(minutes=4, seconds=59)
    assert engine.run_due() == 0
    assert run_count(db) == 0
    clock.advance(seconds=1)
    assert engine.run_due() == 1
    assert run_count(db) == 1


def test_due_order_is_oldest_first(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(batch_size=1)
    with db.session() as session:
        later = enqueue(session, clock, "record", {}, due_at=clock.now() - timedelta(seconds=1))
        earlier = enqueue(session, clock, "record", {}, due_at=clock.now() - timedelta(seconds=9))

    assert engine.run_due(limit=1) == 1
    assert [row.job_id for row in run_rows(db)] == [earlier.id]
    assert engine.run_due() == 1
    assert [row.job_id for row in run_rows(db)] == sorted([earlier.id, later.id])


def test_duplicate_key_returns_first_job(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    with db.session() as session:
        first = enqueue(session, clock, "record", {"n": 1}, key="stage:1")
    clock.advance(seconds=5)
    with db.session() as session:
        second = enqueue(session, clock, "record", {"n": 2}, key="stage:1")
        # The caller's transaction stays usable after the duplicate.
        session.add(Account(account_id="111122223333", name="ops", created_at=clock.now()))
        third = enqueue(session, clock, "record", {"n": 3}, key="stage:2")

    assert second.id == first.id
    assert second.payload == {"n": 1}
    assert third.id != first.id
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2
        assert session.get(Account, "111122223333") is not None
    assert make_engine().run_due() == 2


def test_duplicate_key_in_same_transaction(db: Database, clock: FakeClock) -> None:
    with db.session() as session:
        first = enqueue(session, clock, "record", {}, key="same")
        second = enqueue(session, clock, "record", {}, key="same")
        assert second is first


def test_enqueue_rolls_back_with_caller(db: Database, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        enqueue(session, clock, "record", {}, key="lost")
        raise RuntimeError("caller failed")

    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_enqueue_rejects_zero_max_attempts(db: Database, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_attempts"), db.session() as session:
        enqueue(session, clock, "record", {}, max_attempts=0)


def test_cancel_pending_job(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine()
    with db.session() as session:
        job = enqueue(session, clock, "record", {}, key="page:7", due_at=clock.now())
    with db.session() as session:
        assert cancel(session, "page:7", clock=clock) is True
    with db.session() as session:
        assert cancel(session, "page:7", clock=clock) is False
        assert cancel(session, "no-such-key", clock=clock) is False

    assert engine.run_due() == 0
    assert run_count(db) == 0
    cancelled = job_row(db, job.id)
    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.finished_at == clock.now()


def test_cancel_after_claim_stops_handler(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine()
    with db.session() as session:
        enqueue(session, clock, "record", {}, key="page:8")
    [claim] = engine.claim(5)
    with db.session() as session:
        assert cancel(session, "page:8", clock=clock) is True

    assert engine.execute(claim) == "stale"
    assert run_count(db) == 0
    assert job_row(db, claim.id).status == JobStatus.CANCELLED


def test_cancel_finished_job_is_noop(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    with db.session() as session:
        job = enqueue(session, clock, "record", {}, key="done-already")
    make_engine().run_due()
    with db.session() as session:
        assert cancel(session, "done-already", clock=clock) is False
    assert job_row(db, job.id).status == JobStatus.DONE
