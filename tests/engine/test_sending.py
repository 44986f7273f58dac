"""Sending handlers: the send runs with no transaction open, and the claim fences the record."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from tests.engine.conftest import record_run, run_count, run_rows, runs
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import ClaimedJob, enqueue
from tocsin.engine.worker import Engine, JobContext, JobRegistry
from tocsin.store.database import Database

# How long a blocked send waits before it gives up waiting and returns.
BLOCKED_SEND_SECONDS = 2.0
# An API write that waits on the database write lock takes about BLOCKED_SEND_SECONDS.
MAX_WRITE_SECONDS = 0.5


@dataclass
class RecordingSender:
    """A sending handler that records each send and runs an optional hook inside it."""

    runner: str = "sender"
    send_timeout_seconds: float = 5.0
    during_send: Callable[[], None] | None = None
    sent_keys: list[str] = field(default_factory=list)
    prepared_read_only: list[bool] = field(default_factory=list)
    recorded: list[tuple[Any, Any]] = field(default_factory=list)

    def prepare(self, context: JobContext) -> str | None:
        self.prepared_read_only.append(context.read_only)
        if context.payload.get("skip"):
            return None
        return context.idempotency_key

    def exclusive_key(self, key: str) -> str | None:
        return None

    def send(self, key: str) -> str:
        self.sent_keys.append(key)
        if self.during_send is not None:
            self.during_send()
        return f"sent {key}"

    def record(self, context: JobContext, intent: str | None, outcome: str | None) -> None:
        self.recorded.append((intent, outcome))
        record_run(context, runner=self.runner)


@dataclass
class WritingPrepare(RecordingSender):
    """A sending handler whose prepare step tries to write, which must fail."""

    def prepare(self, context: JobContext) -> str | None:
        context.session.execute(insert(runs).values(job_id=-1, token=0, runner="prepare"))
        context.session.flush()
        return context.idempotency_key


@dataclass
class GroupSender(RecordingSender):
    """A sending handler whose jobs share one exclusive key and send one message between them.

    The first prepare step of each job waits at ``barrier``, so both jobs have
    decided to send before either sends.
    """

    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2))
    first_prepares: set[int] = field(default_factory=set)

    def prepare(self, context: JobContext) -> str | None:
        if context.job_id not in self.first_prepares:
            self.first_prepares.add(context.job_id)
            self.barrier.wait(5)
        if context.session.scalar(select(func.count()).select_from(runs)):
            return None
        return context.idempotency_key

    def exclusive_key(self, key: str) -> str | None:
        return "group"


def enqueue_one(db: Database, clock: FakeClock, kind: str = "send", **payload: Any) -> int:
    with db.session() as session:
        return enqueue(session, clock, kind, payload).id


def job_row(db: Database, job_id: int) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def sending_engine(
    make_engine: Callable[..., Engine], sender: RecordingSender, name: str = "engine"
) -> Engine:
    registry = JobRegistry()
    registry.register_sending("send", sender)
    return make_engine(registry=registry, name=name, lease_seconds=30)


def test_write_proceeds_during_send(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sending = threading.Event()
    release = threading.Event()

    def block() -> None:
        sending.set()
        release.wait(BLOCKED_SEND_SECONDS)

    sender = RecordingSender(during_send=block)
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock)
    worker = threading.Thread(target=engine.run_due, daemon=True)
    worker.start()
    assert sending.wait(5)

    started = time.monotonic()
    with db.session() as session:
        session.execute(insert(runs).values(job_id=-1, token=0, runner="api"))
    elapsed = time.monotonic() - started
    release.set()
    worker.join(10)

    assert elapsed < MAX_WRITE_SECONDS
    assert not worker.is_alive()
    assert sender.sent_keys == [f"tocsin-job-{job_id}"]
    assert sender.recorded == [(f"tocsin-job-{job_id}", f"sent tocsin-job-{job_id}")]
    assert [row.job_id for row in run_rows(db)] == [-1, job_id]
    assert job_row(db, job_id).status == JobStatus.DONE.value


def test_prepare_runs_read_only(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sender = RecordingSender()
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock)

    assert engine.run_due() == 1

    assert sender.prepared_read_only == [True]
    assert job_row(db, job_id).status == JobStatus.DONE.value


def test_prepare_write_is_rejected(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sender = WritingPrepare()
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock)

    engine.run_due()

    job = job_row(db, job_id)
    assert job.status == JobStatus.PENDING.value
    assert job.last_error is not None
    assert sender.sent_keys == []
    assert run_count(db) == 0
    # The connection that ran the prepare step accepts writes again.
    for _ in range(3):
        with db.session() as session:
            session.execute(insert(runs).values(job_id=-2, token=0, runner="api"))
            session.rollback()


def test_nothing_to_send_still_records(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sender = RecordingSender()
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock, skip=True)

    assert engine.run_due() == 1

    assert sender.sent_keys == []
    assert sender.recorded == [(None, None)]
    assert job_row(db, job_id).status == JobStatus.DONE.value


def test_send_error_retries_job(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    def fail() -> None:
        raise ConnectionError("receiver closed the connection")

    sender = RecordingSender(during_send=fail)
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock)

    engine.run_due()

    job = job_row(db, job_id)
    assert job.status == JobStatus.PENDING.value
    assert job.last_error == "ConnectionError: receiver closed the connection"
    assert sender.recorded == []
    assert run_count(db) == 0


def test_claim_lost_after_send(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    takeovers: list[ClaimedJob] = []
    other = make_engine(name="other", lease_seconds=30)

    def take_over() -> None:
        # Runs inside the first send, with no transaction open, so the other
        # engine can claim on SQLite too.
        if takeovers:
            return
        clock.advance(timedelta(seconds=60))
        takeovers.extend(other.claim(1))

    sender = RecordingSender(during_send=take_over)
    first = sending_engine(make_engine, sender, name="first")
    other.registry.register_sending("send", sender)
    job_id = enqueue_one(db, clock)
    [claim] = first.claim(1)

    assert first.execute(claim) == "stale"
    assert len(takeovers) == 1
    assert run_count(db) == 0
    job = job_row(db, job_id)
    assert job.status == JobStatus.RUNNING.value
    assert job.lease_owner == takeovers[0].owner

    assert other.execute(takeovers[0]) == "done"
    assert sender.sent_keys == [f"tocsin-job-{job_id}", f"tocsin-job-{job_id}"]
    rows = run_rows(db)
    assert [row.job_id for row in rows] == [job_id]
    assert rows[0].token == takeovers[0].fencing_token
    assert job_row(db, job_id).status == JobStatus.DONE.value


def test_lease_extended_for_send(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    expiries: list[Any] = []

    def read_lease() -> None:
        expiries.append(job_row(db, job_id).lease_expires_at)

    sender = RecordingSender(during_send=read_lease, send_timeout_seconds=90.0)
    engine = sending_engine(make_engine, sender)
    job_id = enqueue_one(db, clock)

    assert engine.run_due() == 1

    assert expiries == [clock.now() + timedelta(seconds=30 + 90)]


def test_exclusive_key_sends_once(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sender = GroupSender(during_send=lambda: time.sleep(0.3))
    engine = sending_engine(make_engine, sender)
    enqueue_one(db, clock)
    enqueue_one(db, clock)
    claims = engine.claim(2)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda claim=claim: outcomes.append(engine.execute(claim)))
        for claim in claims
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes == ["done", "done"]
    assert len(sender.sent_keys) == 1
    assert sorted(intent is None for intent, _outcome in sender.recorded) == [False, True]
    assert run_count(db) == 2


def test_claim_lost_before_send(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    sender = RecordingSender()
    first = sending_engine(make_engine, sender, name="first")
    other = make_engine(name="other", lease_seconds=30)
    other.registry.register_sending("send", sender)
    enqueue_one(db, clock)
    [claim] = first.claim(1)
    clock.advance(timedelta(seconds=60))
    [takeover] = other.claim(1)

    assert first.execute(claim) == "stale"
    assert sender.sent_keys == []

    assert other.execute(takeover) == "done"
    assert len(sender.sent_keys) == 1
    assert run_count(db) == 1
