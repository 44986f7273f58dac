"""Enqueue, cancel, claim and release jobs, and wake workers when new work commits.

``enqueue`` and ``cancel`` run inside the caller's transaction, so a timer is
written atomically with the state change that creates it. When that
transaction commits, idle workers are woken. On PostgreSQL, ``NOTIFY`` on
``NOTIFY_CHANNEL`` reaches every process listening on the same database.
SQLite has no notifications, so in-process wake-up hooks are called instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    and_,
    any_,
    bindparam,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock, SystemClock
from tocsin.engine.jobs import OPEN_STATUSES, Job, JobStatus
from tocsin.store.bulk import insert_many

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "tocsin_jobs"
JOBS = Job.metadata.tables[Job.__tablename__]

# Hooks called after a SQLite transaction that enqueued a job commits, by database URL.
_wake_hooks: dict[str, list[Callable[[], None]]] = {}
_wake_hooks_lock = threading.Lock()
_WAKE_PENDING = "tocsin.engine.wake_pending"


def add_wake_hook(url: URL, hook: Callable[[], None]) -> None:
    """Call ``hook`` after every committed enqueue into the SQLite database at ``url``."""
    with _wake_hooks_lock:
        _wake_hooks.setdefault(url.render_as_string(hide_password=True), []).append(hook)


def remove_wake_hook(url: URL, hook: Callable[[], None]) -> None:
    with _wake_hooks_lock:
        hooks = _wake_hooks.get(url.render_as_string(hide_password=True), [])
        if hook in hooks:
            hooks.remove(hook)


def _call_wake_hooks(url_key: str) -> None:
    with _wake_hooks_lock:
        hooks = list(_wake_hooks.get(url_key, ()))
    for hook in hooks:
        hook()


def request_wake(session: Session) -> None:
    """Arrange for workers to be woken when the session's transaction commits."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # PostgreSQL delivers the notification at commit and drops it on rollback.
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
        return
    if session.info.get(_WAKE_PENDING):
        return
    session.info[_WAKE_PENDING] = True
    url_key = bind.engine.url.render_as_string(hide_password=True)

    def after_commit(committed: Session) -> None:
        committed.info.pop(_WAKE_PENDING, None)
        _call_wake_hooks(url_key)

    # After a rollback the listener stays armed and fires on the next commit,
    # which costs one needless wake-up.
    event.listen(session, "after_commit", after_commit, once=True)


def column_in(
    session: Session, column: ColumnElement[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """Return the condition that ``column`` equals one of ``values``.

    PostgreSQL gets ``= ANY`` of one array parameter, so the SQL text stays the
    same for any number of values and the driver parses it once. SQLite gets
    ``IN`` with one parameter per value.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def enqueue(
    session: Session,
    clock: Clock,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    key: str | None = None,
    account_id: str | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Insert a job due at ``due_at`` (default now) in the caller's transaction and return it.

    When a job with the same ``key`` already exists, in any status, return that
    job unchanged. The insert uses ON CONFLICT DO NOTHING, so the duplicate
    leaves the caller's transaction usable on PostgreSQL. Keys are global, so
    callers include the account and the object id in them.
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    now = clock.now()
    values = {
        "kind": kind,
        "payload": payload,
        "account_id": account_id,
        "key": key,
        "status": JobStatus.PENDING.value,
        "due_at": due_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "fencing_token": 0,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Job).values(**values).on_conflict_do_nothing(index_elements=["key"])
    job_id = session.execute(statement.returning(Job.id)).scalar_one_or_none()
    if job_id is None:
        existing = session.scalars(select(Job).where(Job.key == key)).one()
        logger.debug("job key %s already enqueued as job %s", key, existing.id)
        return existing
    request_wake(session)
    job = session.get(Job, job_id)
    assert job is not None
    return job


@dataclass(frozen=True)
class NewJob:
    """One job for ``enqueue_many``: the arguments of ``enqueue`` other than session and clock."""

    kind: str
    payload: dict[str, Any]
    due_at: datetime
    key: str | None = None
    account_id: str | None = None
    max_attempts: int | None = None


def enqueue_many(session: Session, clock: Clock, jobs: Sequence[NewJob]) -> None:
    """Insert ``jobs`` with one statement (``insert_many``) in the caller's transaction.

    A job whose key already exists is skipped, as ``enqueue`` does. Nothing
    is loaded into the session, so this suits many jobs written at once.
    """
    if not jobs:
        return
    now = clock.now()
    rows = []
    for job in jobs:
        if job.max_attempts is not None and job.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {job.max_attempts}")
        rows.append(
            {
                "kind": job.kind,
                "payload": job.payload,
                "account_id": job.account_id,
                "key": job.key,
                "status": JobStatus.PENDING.value,
                "due_at": job.due_at,
                "attempts": 0,
                "max_attempts": job.max_attempts,
                "fencing_token": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    insert_many(session, JOBS, rows, skip_conflicts_on="key")
    request_wake(session)


def cancel(session: Session, key: str, *, clock: Clock | None = None) -> bool:
    """Cancel the pending or running job with ``key`` and return whether one was cancelled.

    A handler that is already running commits nothing afterwards, because its
    completion is fenced on the running status.
    """
    now = (clock or SystemClock()).now()
    result = session.execute(
        update(Job)
        .where(Job.key == key, Job.status.in_(OPEN_STATUSES))
        .values(
            status=JobStatus.CANCELLED.value,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class ClaimedJob:
    """A job leased to one worker, as it was when claimed."""

    id: int
    kind: str
    payload: dict[str, Any]
    account_id: str | None
    attempts: int
    max_attempts: int | None
    fencing_token: int
    due_at: datetime
    claimed_at: datetime
    owner: str


def claim_due(
    session: Session,
    clock: Clock,
    owner: str,
    *,
    lease_seconds: float,
    limit: int,
    kinds: Sequence[str] | None = None,
    ids: Collection[int] | None = None,
) -> list[ClaimedJob]:
    """Lease up to ``limit`` due jobs to ``owner``, oldest due time first.

    A job is due when it is pending with ``due_at`` reached, or running with an
    expired lease. When ``kinds`` is given, only jobs of those kinds are
    claimed, so a node leaves the kinds it cannot run to nodes that can. Jobs
    of a kind that no node runs stay pending, and the auditor reports them
    once they are overdue. When ``ids`` is given, only those jobs are claimed.
    Each claim increments ``attempts`` and ``fencing_token``. PostgreSQL skips
    rows that other workers have locked; SQLite serialises claims through the
    write lock that BEGIN IMMEDIATE takes. One UPDATE selects, leases and
    returns the jobs, so a claim is one round trip.
    """
    now = clock.now()
    jobs = JOBS.c
    due = or_(
        and_(jobs.status == JobStatus.PENDING.value, jobs.due_at <= now),
        and_(jobs.status == JobStatus.RUNNING.value, jobs.lease_expires_at <= now),
    )
    chosen = select(jobs.id).where(due).order_by(jobs.due_at, jobs.id).limit(limit)
    if kinds is not None:
        chosen = chosen.where(jobs.kind.in_(kinds))
    if ids is not None:
        chosen = chosen.where(column_in(session, jobs.id, ids))
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    rows = session.execute(
        update(JOBS)
        .where(jobs.id.in_(chosen))
        .values(
            status=JobStatus.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            fencing_token=jobs.fencing_token + 1,
            attempts=jobs.attempts + 1,
            updated_at=now,
        )
        .returning(
            jobs.id,
            jobs.kind,
            jobs.payload,
            jobs.account_id,
            jobs.attempts,
            jobs.max_attempts,
            jobs.fencing_token,
            jobs.due_at,
        )
    ).all()
    claims = [
        ClaimedJob(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            account_id=row.account_id,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            fencing_token=row.fencing_token,
            due_at=row.due_at,
            claimed_at=now,
            owner=owner,
        )
        for row in rows
    ]
    claims.sort(key=lambda claim: (claim.due_at, claim.id))
    return claims


def lock_due(
    session: Session, clock: Clock, owner: str, *, kind: str, limit: int
) -> list[ClaimedJob]:
    """Lock up to ``limit`` pending due jobs of ``kind`` for the caller's transaction.

    Jobs come oldest due time first. They stay pending and get no lease: the
    caller runs them and marks them done with ``finish_locked`` in the same
    transaction, so a rollback or a crash leaves them pending for the next
    claim. PostgreSQL skips rows that other transactions have locked; SQLite's
    BEGIN IMMEDIATE write lock excludes other writers. Each returned job
    carries the attempt that this run makes.
    """
    now = clock.now()
    jobs = JOBS.c
    query = (
        select(
            jobs.id,
            jobs.payload,
            jobs.account_id,
            jobs.attempts,
            jobs.max_attempts,
            jobs.fencing_token,
            jobs.due_at,
        )
        .where(jobs.kind == kind, jobs.status == JobStatus.PENDING.value, jobs.due_at <= now)
        .order_by(jobs.due_at, jobs.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        ClaimedJob(
            id=row.id,
            kind=kind,
            payload=row.payload,
            account_id=row.account_id,
            attempts=row.attempts + 1,
            max_attempts=row.max_attempts,
            fencing_token=row.fencing_token,
            due_at=row.due_at,
            claimed_at=now,
            owner=owner,
        )
        for row in session.execute(query)
    ]


def finish_locked(session: Session, clock: Clock, locked: Sequence[ClaimedJob]) -> None:
    """Mark the jobs that ``lock_due`` returned as done and count their attempt.

    Raises StaleClaimError when a job is no longer pending, for example
    because the batch's own writes cancelled it. Nothing of the transaction
    may commit then.
    """
    if not locked:
        return
    now = clock.now()
    jobs = JOBS.c
    result = session.execute(
        update(JOBS)
        .where(
            column_in(session, jobs.id, [job.id for job in locked]),
            jobs.status == JobStatus.PENDING.value,
        )
        .values(
            status=JobStatus.DONE.value,
            attempts=jobs.attempts + 1,
            finished_at=now,
            updated_at=now,
        )
    )
    if getattr(result, "rowcount", 0) != len(locked):
        raise StaleClaimError([job.id for job in locked])


def release_claims(session: Session, clock: Clock, claims: Sequence[ClaimedJob]) -> int:
    """Put claimed jobs that never started back to pending and return how many were released.

    The attempt taken at claim time is given back. The fencing token keeps its
    new value, so the released claims stay unusable.
    """
    released = 0
    now = clock.now()
    for claim in claims:
        result = session.execute(
            update(Job)
            .where(
                Job.id == claim.id,
                Job.status == JobStatus.RUNNING.value,
                Job.lease_owner == claim.owner,
                Job.fencing_token == claim.fencing_token,
            )
            .values(
                status=JobStatus.PENDING.value,
                lease_owner=None,
                lease_expires_at=None,
                attempts=Job.attempts - 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        released += getattr(result, "rowcount", 0)
    return released


class StaleClaimError(Exception):
    """The job row no longer carries this worker's status, owner or fencing token."""


def lock_if_owned(session: Session, claim: ClaimedJob) -> bool:
    """Lock the job row and return whether it still belongs to ``claim``.

    SQLite renders no FOR UPDATE, because its BEGIN IMMEDIATE write lock excludes other writers.
    """
    return _check_owned(session, claim, lock=True)


def is_owned(session: Session, claim: ClaimedJob) -> bool:
    """Return whether the job row still belongs to ``claim``, without locking it.

    This is the check for read-only transactions, which may not lock rows.
    """
    return _check_owned(session, claim, lock=False)


def _check_owned(session: Session, claim: ClaimedJob, *, lock: bool) -> bool:
    query = select(Job.status, Job.lease_owner, Job.fencing_token).where(Job.id == claim.id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    return (
        row is not None
        and row.status == JobStatus.RUNNING.value
        and row.lease_owner == claim.owner
        and row.fencing_token == claim.fencing_token
    )


def finish_if_owned(session: Session, claim: ClaimedJob, **values: Any) -> None:
    """Update the job row only if it still belongs to ``claim``, else raise StaleClaimError."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == claim.id,
            Job.status == JobStatus.RUNNING.value,
            Job.lease_owner == claim.owner,
            Job.fencing_token == claim.fencing_token,
        )
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise StaleClaimError(claim.id)


def extend_lease_if_owned(session: Session, claim: ClaimedJob, expires_at: datetime) -> None:
    """Move the lease's expiry to ``expires_at`` if the job still belongs to ``claim``.

    Raises StaleClaimError when it does not.
    """
    result = session.execute(
        update(Job)
        .where(
            Job.id == claim.id,
            Job.status == JobStatus.RUNNING.value,
            Job.lease_owner == claim.owner,
            Job.fencing_token == claim.fencing_token,
        )
        .values(lease_expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise StaleClaimError(claim.id)


def next_due_at(session: Session, kinds: Sequence[str] | None = None) -> datetime | None:
    """Return the earliest moment at which a job of ``kinds`` becomes claimable, or None."""
    pending_query = select(func.min(Job.due_at)).where(Job.status == JobStatus.PENDING.value)
    leased_query = select(func.min(Job.lease_expires_at)).where(
        Job.status == JobStatus.RUNNING.value
    )
    if kinds is not None:
        pending_query = pending_query.where(Job.kind.in_(kinds))
        leased_query = leased_query.where(Job.kind.in_(kinds))
    pending = session.scalar(pending_query)
    leased = session.scalar(leased_query)
    moments = [moment for moment in (pending, leased) if moment is not None]
    return min(moments) if moments else None


class NotificationListener:
    """A thread that LISTENs on ``NOTIFY_CHANNEL`` and calls ``on_notify`` for each message.

    It uses its own autocommit psycopg connection and reconnects with
    exponential backoff when the connection fails. After each (re)connect it
    calls ``on_notify`` once, because messages sent while disconnected are lost.
    """

    def __init__(
        self, url: URL, on_notify: Callable[[], None], *, max_backoff_seconds: float = 30.0
    ) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._safe_url = url.render_as_string(hide_password=True)
        self._on_notify = on_notify
        self._max_backoff = max_backoff_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.received = 0

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tocsin-job-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    logger.info("listening for job notifications on %s", self._safe_url)
                    self.ready.set()
                    backoff = 0.5
                    self._on_notify()
                    while not self._stop.is_set():
                        # A short timeout lets stop() end the thread promptly.
                        for _notify in conn.notifies(timeout=0.1):
                            self.received += 1
                            self._on_notify()
            except psycopg.Error as exc:
                self.ready.clear()
                logger.warning(
                    "job notification listener on %s failed, reconnecting in %.1f s: %s",
                    self._safe_url,
                    backoff,
                    exc,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
        self.ready.clear()
