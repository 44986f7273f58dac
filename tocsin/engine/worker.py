"""Worker threads that claim due jobs and run their handlers under a fencing token.

Each worker loops: claim a small batch of due jobs in one short transaction,
then run each job's handler in its own transaction. That transaction first
locks the job row and checks that status, lease owner and fencing token are
still the ones from the claim, runs the handler, and marks the job done only
through an UPDATE fenced on the same values. A worker whose lease was taken
over therefore commits nothing: its handler's writes roll back with the
transaction.

A ``BatchHandler`` is a single-step handler that can also run many due jobs
of its kind in one transaction. Each worker loop first runs, for every batch
kind, up to ``batch_size`` due jobs in one transaction that locks their rows,
runs the handler and marks them done. Such jobs need no lease or fencing
token, because the row locks keep other workers away until the commit, and a
crash rolls everything back and leaves them pending. When the batch fails,
each of its jobs is claimed with a lease and runs on its own, so one bad job
fails alone.

A ``SendingHandler`` runs in three steps instead, so that no transaction is
open while it waits on a mail server or webhook: a read-only prepare step
that also checks the claim, the send with no transaction, and a record step
in the fenced write transaction described above.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from tocsin.engine import metrics
from tocsin.engine.audit import Auditor
from tocsin.engine.clock import Clock, FakeClock
from tocsin.engine.jobs import Handler, JobContext, JobRegistry, JobStatus, SendingHandler
from tocsin.engine.queue import (
    ClaimedJob,
    NotificationListener,
    StaleClaimError,
    add_wake_hook,
    claim_due,
    extend_lease_if_owned,
    finish_if_owned,
    finish_locked,
    is_owned,
    lock_due,
    lock_if_owned,
    next_due_at,
    release_claims,
    remove_wake_hook,
)
from tocsin.engine.send_locks import SendLocks
from tocsin.store.database import Database

if TYPE_CHECKING:
    from tocsin.config import Settings

__all__ = [
    "BatchHandler",
    "Engine",
    "Handler",
    "JobContext",
    "JobRegistry",
    "SendingHandler",
    "retry_delay",
]

logger = logging.getLogger(__name__)

# Maximum length of the error text stored in ``Job.last_error``.
MAX_ERROR_LENGTH = 2000
# Full batches of one batch kind that a worker runs before it claims other jobs.
MAX_BATCH_ROUNDS = 10


def retry_delay(attempt: int, *, base_seconds: float, max_seconds: float) -> float:
    """Return the wait before retrying after failed attempt ``attempt`` (1-based).

    The delay doubles with each attempt up to ``max_seconds``, and is then scaled
    by a random factor in [0.5, 1] so that jobs failing together spread out.
    """
    ceiling = min(max_seconds, base_seconds * 2.0 ** min(attempt - 1, 62))
    return ceiling * random.uniform(0.5, 1.0)


@runtime_checkable
class BatchHandler(Protocol):
    """A single-step handler that can also run up to ``batch_size`` jobs of its kind at once.

    Register it with ``JobRegistry.register``. The engine calls it with one
    job like any handler, and calls ``run_batch`` with the contexts of many
    claimed jobs, which share one session and one write transaction. The
    batch's writes commit together with every job's completion, or not at
    all.
    """

    batch_size: int

    def __call__(self, context: JobContext) -> None: ...

    def run_batch(self, contexts: Sequence[JobContext]) -> None: ...


class Engine:
    """Job runner that claims and runs due jobs on ``workers`` threads of this process.

    ``start()`` launches the workers, the audit thread and, on PostgreSQL, the
    notification listener. ``run_due()`` runs due jobs synchronously instead,
    for tests and the scenario harness.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock,
        registry: JobRegistry,
        settings: Settings | None = None,
        *,
        workers: int | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float | None = None,
        max_attempts: int | None = None,
        overdue_seconds: float | None = None,
        batch_size: int = 5,
        audit_interval_seconds: float = 10.0,
        retry_base_seconds: float = 2.0,
        retry_max_seconds: float = 900.0,
        name: str | None = None,
    ) -> None:
        """Configure the engine from keyword arguments, then ``settings``, then defaults.

        The defaults equal those of ``tocsin.config.Settings``.
        """
        self.database = database
        self.clock = clock
        self.registry = registry
        if settings is not None:
            workers = settings.workers if workers is None else workers
            lease_seconds = lease_seconds or settings.job_lease_seconds
            poll_seconds = poll_seconds or settings.job_poll_seconds
            max_attempts = max_attempts or settings.job_max_attempts
            overdue_seconds = overdue_seconds or settings.job_overdue_seconds
        self.workers = 2 if workers is None else workers
        self.lease_seconds = lease_seconds or 30.0
        self.poll_seconds = poll_seconds or 1.0
        self.max_attempts = max_attempts or 10
        self.batch_size = batch_size
        self.audit_interval_seconds = audit_interval_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        default_name = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.name = name or default_name
        self.auditor = Auditor(database, clock, overdue_seconds=overdue_seconds or 60.0)
        self.send_locks = SendLocks(database)
        self.listener: NotificationListener | None = None
        self._stopping = threading.Event()
        self._wakeups: list[threading.Event] = []
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_settings(
        cls, database: Database, clock: Clock, registry: JobRegistry, settings: Settings
    ) -> Engine:
        return cls(database, clock, registry, settings)

    # Claiming and running single jobs.

    def claim(self, limit: int, *, owner: str | None = None) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs in one transaction and return them."""
        with self.database.session() as session:
            claims = claim_due(
                session,
                self.clock,
                owner or f"{self.name}:sync",
                lease_seconds=self.lease_seconds,
                limit=limit,
                kinds=self.registry.kinds(),
            )
        for claim in claims:
            lag = (claim.claimed_at - claim.due_at).total_seconds()
            metrics.JOB_LAG.labels(claim.kind).observe(max(0.0, lag))
        return claims

    def release(self, claims: list[ClaimedJob]) -> int:
        """Put claimed jobs that never started back to pending and return how many."""
        if not claims:
            return 0
        with self.database.session() as session:
            released = release_claims(session, self.clock, claims)
        logger.info("released %d unstarted jobs: %s", released, [claim.id for claim in claims])
        return released

    def execute(self, claim: ClaimedJob) -> str:
        """Run one claimed job and return its outcome: done, retry, dead or stale."""
        handler = self.registry.get(claim.kind)
        max_attempts = claim.max_attempts or self.max_attempts
        try:
            if handler is None:
                error = f"no handler is registered for job kind {claim.kind!r}"
                outcome = self._record_failure(claim, error, give_up=True)
            elif claim.attempts > max_attempts:
                # Earlier claims ended without recording a result, for example
                # because the handler crashed its process every time.
                error = f"claimed {claim.attempts - 1} times without finishing"
                outcome = self._record_failure(claim, error, give_up=True)
            elif callable(handler):
                self._run_handler(claim, handler)
                outcome = "done"
            else:
                self._run_sending_handler(claim, handler)
                outcome = "done"
        except StaleClaimError:
            logger.info(
                "job %s (%s) was taken over or cancelled after its claim by %s with token %s, "
                "so its effects were rolled back",
                claim.id,
                claim.kind,
                claim.owner,
                claim.fencing_token,
            )
            outcome = "stale"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
            outcome = self._record_failure(claim, error, exc=exc)
        metrics.JOBS_FINISHED.labels(claim.kind, outcome).inc()
        return outcome

    def batch_kinds(self) -> dict[str, BatchHandler]:
        """Return the registered kinds whose handler runs batches, with their handlers."""
        found = {}
        for kind in self.registry.kinds():
            handler = self.registry.get(kind)
            if isinstance(handler, BatchHandler):
                found[kind] = handler
        return found

    def run_batch_due(self, kind: str, handler: BatchHandler, limit: int, owner: str) -> int:
        """Run up to ``limit`` due jobs of ``kind`` in one transaction; return how many ran.

        The transaction locks the jobs' rows, runs ``handler.run_batch`` and
        marks the jobs done (``lock_due`` and ``finish_locked``). When the
        batch raises, its writes roll back and each of its jobs is claimed
        with a lease and runs through ``execute`` on its own.

        NOTE: a process that dies during the batch leaves no attempt on its
        jobs, so a job that kills its process every time is retried without
        end. Batch handlers therefore do database work only.
        """
        locked: list[ClaimedJob] = []
        try:
            with self.database.session() as session:
                locked = lock_due(session, self.clock, owner, kind=kind, limit=limit)
                if not locked:
                    return 0
                handler.run_batch([self._context(session, job, read_only=False) for job in locked])
                finish_locked(session, self.clock, locked)
        except Exception as exc:
            if not locked:
                raise
            logger.warning(
                "a batch of %d %s jobs failed, so each runs on its own: %s: %s",
                len(locked),
                kind,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, StaleClaimError),
            )
            with self.database.session() as session:
                claims = claim_due(
                    session,
                    self.clock,
                    owner,
                    lease_seconds=self.lease_seconds,
                    limit=len(locked),
                    ids=[job.id for job in locked],
                )
            for claim in claims:
                self.execute(claim)
            return len(locked)

        lag_histogram = metrics.JOB_LAG.labels(kind)
        for job in locked:
            lag_histogram.observe(max(0.0, (job.claimed_at - job.due_at).total_seconds()))
        metrics.JOBS_FINISHED.labels(kind, "done").inc(len(locked))
        return len(locked)

    def _run_batches(self, owner: str | None, limit: int | None = None) -> int:
        """Claim and run batches of every batch kind that has due jobs; return how many ran.

        A kind whose batch came back full is claimed again, up to
        ``MAX_BATCH_ROUNDS`` batches, before the worker turns to other jobs.
        Batch jobs are cheap and usually create the other jobs (a stage start
        enqueues its page sends), so they go first, but a steady stream of
        them cannot starve the other kinds.
        """
        count = 0
        for kind, handler in self.batch_kinds().items():
            for _round in range(MAX_BATCH_ROUNDS):
                size = handler.batch_size
                if limit is not None:
                    size = min(size, limit - count)
                if size < 1:
                    return count
                ran = self.run_batch_due(kind, handler, size, owner or f"{self.name}:sync")
                count += ran
                if ran < size:
                    break
        return count

    def _context(self, session: Session, claim: ClaimedJob, *, read_only: bool) -> JobContext:
        return JobContext(
            session=session,
            job_id=claim.id,
            kind=claim.kind,
            payload=claim.payload,
            account_id=claim.account_id,
            attempt=claim.attempts,
            fencing_token=claim.fencing_token,
            clock=self.clock,
            read_only=read_only,
        )

    def _run_handler(self, claim: ClaimedJob, handler: Handler) -> None:
        """Run the handler and mark the job done in one transaction fenced by the claim."""
        with self.database.session() as session:
            if not lock_if_owned(session, claim):
                raise StaleClaimError(claim.id)
            handler(self._context(session, claim, read_only=False))
            self._finish(session, claim)

    def _run_sending_handler(self, claim: ClaimedJob, handler: SendingHandler[Any, Any]) -> None:
        """Prepare in a read-only transaction, send with none open, then record fenced.

        Raises StaleClaimError when the claim is lost before the send or before
        the record step.
        """
        intent = self._prepare(claim, handler)
        exclusive_key = None if intent is None else handler.exclusive_key(intent)
        if exclusive_key is None:
            self._send_and_record(claim, handler, intent)
            return
        with self.send_locks.hold(exclusive_key):
            # Another job with the same key may have sent and recorded while
            # this one waited, so the decision is made again under the lock.
            intent = self._prepare(claim, handler)
            self._send_and_record(claim, handler, intent)

    def _prepare(self, claim: ClaimedJob, handler: SendingHandler[Any, Any]) -> Any:
        with self._read_only_session() as session:
            if not is_owned(session, claim):
                raise StaleClaimError(claim.id)
            return handler.prepare(self._context(session, claim, read_only=True))

    def _send_and_record(
        self, claim: ClaimedJob, handler: SendingHandler[Any, Any], intent: Any
    ) -> None:
        outcome = None
        if intent is not None:
            # A short write transaction, so the lease outlasts the send.
            seconds = self.lease_seconds + handler.send_timeout_seconds
            with self.database.session() as session:
                extend_lease_if_owned(session, claim, self.clock.now() + timedelta(seconds=seconds))
            outcome = handler.send(intent)
        with self.database.session() as session:
            if not lock_if_owned(session, claim):
                if intent is not None:
                    logger.info(
                        "job %s (%s) sent its message, but its claim was taken over before "
                        "the send was recorded, so the new owner sends it again with the "
                        "same idempotency key",
                        claim.id,
                        claim.kind,
                    )
                raise StaleClaimError(claim.id)
            handler.record(self._context(session, claim, read_only=False), intent, outcome)
            self._finish(session, claim)

    def _finish(self, session: Session, claim: ClaimedJob) -> None:
        now = self.clock.now()
        finish_if_owned(
            session, claim, status=JobStatus.DONE.value, finished_at=now, updated_at=now
        )

    @contextmanager
    def _read_only_session(self) -> Iterator[Session]:
        """Yield a session whose transaction takes no write lock and rejects writes.

        SQLite runs it as BEGIN DEFERRED with ``query_only`` set on the
        connection for its duration, PostgreSQL as a READ ONLY transaction.
        """
        with self.database.read() as connection:
            if self.database.is_postgresql:
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                with Session(bind=connection) as session:
                    yield session
                return
            connection.exec_driver_sql("PRAGMA query_only = ON")
            try:
                with Session(bind=connection) as session:
                    yield session
            finally:
                try:
                    connection.exec_driver_sql("PRAGMA query_only = OFF")
                except Exception:
                    # A pooled connection must never stay read-only.
                    connection.invalidate()
                    raise

    def _record_failure(
        self,
        claim: ClaimedJob,
        error: str,
        *,
        exc: BaseException | None = None,
        give_up: bool = False,
    ) -> str:
        """Schedule a retry of a failed job, or mark it dead after its last attempt.

        The update is fenced by the claim like the handler's own transaction.
        """
        max_attempts = claim.max_attempts or self.max_attempts
        dead = give_up or claim.attempts >= max_attempts
        now = self.clock.now()
        delay = 0.0
        if dead:
            values: dict[str, Any] = {"status": JobStatus.DEAD.value, "finished_at": now}
        else:
            delay = retry_delay(
                claim.attempts,
                base_seconds=self.retry_base_seconds,
                max_seconds=self.retry_max_seconds,
            )
            values = {"status": JobStatus.PENDING.value, "due_at": now + timedelta(seconds=delay)}
        try:
            with self.database.session() as session:
                finish_if_owned(session, claim, last_error=error, updated_at=now, **values)
        except StaleClaimError:
            logger.warning(
                "job %s (%s) failed on attempt %d after its claim was taken over: %s",
                claim.id,
                claim.kind,
                claim.attempts,
                error,
                exc_info=exc,
            )
            return "stale"
        except Exception:
            # The lease still expires, so another worker retries the job later.
            logger.exception(
                "job %s (%s) failed on attempt %d, and recording the failure failed too: %s",
                claim.id,
                claim.kind,
                claim.attempts,
                error,
            )
            return "retry"
        if dead:
            logger.error(
                "job %s (%s) is dead after %d attempts: %s",
                claim.id,
                claim.kind,
                claim.attempts,
                error,
                exc_info=exc,
            )
            return "dead"
        logger.warning(
            "job %s (%s) failed on attempt %d of %d, retrying in %.1f s: %s",
            claim.id,
            claim.kind,
            claim.attempts,
            max_attempts,
            delay,
            error,
            exc_info=exc,
        )
        return "retry"

    def run_due(self, limit: int = 1000) -> int:
        """Claim and run jobs that are due now, one batch at a time; return how many ran.

        Jobs that handlers enqueue as due now run in the same call. A failed job
        is retried only once its backoff has passed on the clock.
        """
        count = 0
        while count < limit:
            batched = self._run_batches(None, limit - count)
            count += batched
            claims = self.claim(min(self.batch_size, limit - count)) if count < limit else []
            if not claims and not batched:
                break
            for claim in claims:
                self.execute(claim)
            count += len(claims)
        return count

    # Background threads.

    def start(self) -> None:
        """Start the worker threads, the audit thread and, on PostgreSQL, the listener."""
        if self._threads:
            raise RuntimeError(f"job engine {self.name} is already running")
        self._stopping.clear()
        for index in range(self.workers):
            wakeup = threading.Event()
            if isinstance(self.clock, FakeClock):
                self.clock.subscribe(wakeup)
            self._wakeups.append(wakeup)
            thread = threading.Thread(
                target=self._work,
                args=(f"{self.name}:{index}", wakeup),
                name=f"tocsin-job-worker-{index}",
                daemon=True,
            )
            self._threads.append(thread)
        if not self.database.is_postgresql:
            add_wake_hook(self.database.url, self.wake)
        elif self.workers:
            self.listener = NotificationListener(self.database.url, self.wake)
            self.listener.start()
        self._threads.append(
            threading.Thread(target=self._audit, name="tocsin-job-auditor", daemon=True)
        )
        for thread in self._threads:
            thread.start()
        logger.info("job engine %s started with %d workers", self.name, self.workers)

    def stop(self, timeout: float = 30.0) -> None:
        """Let running handlers finish, release unstarted claims and join the threads."""
        self._stopping.set()
        if not self._threads:
            return
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                logger.error(
                    "job engine thread %s did not stop within %.0f s", thread.name, timeout
                )
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        remove_wake_hook(self.database.url, self.wake)
        self._threads = []
        self._wakeups = []
        logger.info("job engine %s stopped", self.name)

    @property
    def stopping(self) -> bool:
        """Whether ``stop()`` has been called since the last ``start()``."""
        return self._stopping.is_set()

    def wake(self) -> None:
        """Make idle workers look for due jobs now."""
        for wakeup in list(self._wakeups):
            wakeup.set()

    def _work(self, owner: str, wakeup: threading.Event) -> None:
        while not self._stopping.is_set():
            wakeup.clear()
            claimed_at = self.clock.now()
            try:
                batched = self._run_batches(owner)
                claims = self.claim(self.batch_size, owner=owner)
            except Exception:
                logger.exception("worker %s failed to claim jobs", owner)
                self._stopping.wait(self.poll_seconds)
                continue
            claimed_any = bool(claims) or batched > 0
            while claims and not self._stopping.is_set():
                self.execute(claims.pop(0))
            if claims:
                self._release_on_stop(owner, claims)
                return
            if not claimed_any:
                wakeup.wait(self._idle_seconds(claimed_at))

    def _release_on_stop(self, owner: str, claims: list[ClaimedJob]) -> None:
        try:
            self.release(claims)
        except Exception:
            # Their leases expire, and another worker retakes them then.
            logger.exception(
                "worker %s failed to release jobs %s", owner, [claim.id for claim in claims]
            )

    def _idle_seconds(self, claimed_at: datetime) -> float:
        """Return how long to wait before the next claim, at most ``poll_seconds``."""
        try:
            with self.database.session() as session:
                moment = next_due_at(session, self.registry.kinds())
        except Exception:
            logger.exception("job engine %s failed to read the next due time", self.name)
            return self.poll_seconds
        # A job due before the last claim that was not claimed is held by another
        # worker, so it gives no reason to look again before the poll interval.
        if moment is None or moment <= claimed_at:
            return self.poll_seconds
        return min(self.poll_seconds, self.clock.seconds_until(moment))

    def _audit(self) -> None:
        while not self._stopping.wait(self.audit_interval_seconds):
            try:
                self.auditor.check()
            except Exception:
                logger.exception("job engine %s failed to audit the job table", self.name)
