"""The ``jobs`` table of durable timers and deferred tasks, and the handler interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from tocsin.engine.clock import Clock
from tocsin.store.base import Base


class JobStatus(StrEnum):
    """Life-cycle state of a job, stored as its lower-case wire string."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"


# Jobs in these states may still run. The other states are final.
OPEN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class Job(Base):
    """One unit of deferred work with a due time, run at least once by the engine.

    A worker that claims a job sets ``lease_owner`` and ``lease_expires_at`` and
    increments ``fencing_token``. Any later write by that worker is accepted only
    while the row still carries the same owner and token, so a worker whose lease
    was taken over cannot commit its effects.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query filters on status and orders by due time.
        Index("ix_jobs_status_due_at", "status", "due_at"),
        # Running jobs whose lease has expired are reclaimed by this pair.
        Index("ix_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    account_id: Mapped[str | None] = mapped_column(String(12))
    # Idempotency key: enqueuing a second job with the same key returns the first one.
    key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING.value)
    due_at: Mapped[datetime]
    # Number of claims so far, including the one in progress.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # None means the engine's ``job_max_attempts`` setting.
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    fencing_token: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status} due {self.due_at.isoformat()}>"


@dataclass(frozen=True)
class JobContext:
    """Job data and database session passed to a handler.

    The handler writes through ``session`` and must not commit or roll it back.
    Its writes commit together with the job's completion, or not at all.
    When ``read_only`` is true (the prepare step of a ``SendingHandler``), the
    session's transaction rejects writes and is discarded after the step.
    """

    session: Session
    job_id: int
    kind: str
    payload: dict[str, Any]
    account_id: str | None
    attempt: int
    fencing_token: int
    clock: Clock
    read_only: bool = False

    @property
    def idempotency_key(self) -> str:
        """Return the key that external sends of this job carry.

        It is the same for every claim of the job, so a send that reached its
        receiver just before a crash is retried with the key it first used and
        the receiver can drop the duplicate.
        """
        return f"tocsin-job-{self.job_id}"


Handler = Callable[[JobContext], None]

IntentT = TypeVar("IntentT")
OutcomeT = TypeVar("OutcomeT")


class SendingHandler(Protocol[IntentT, OutcomeT]):
    """A job that sends something outside the database, run in three steps.

    1. ``prepare`` reads what to send in a read-only transaction, which takes
       no write lock on SQLite, and returns an intent, or None to send nothing.
    2. ``send`` sends the intent with no transaction open. It returns the
       outcome, and should return an expected failure (such as a rejected
       delivery) as part of that outcome. An exception it raises fails the
       job like a handler exception: the engine retries it with backoff.
    3. ``record`` writes the outcome in the job's fenced write transaction.
       It runs with intent and outcome None when ``prepare`` returned None.
       It must check again what ``prepare`` decided, because another worker
       or request may have written in between.

    The claim is checked before ``send`` and again by ``record``. A claim that
    is lost after ``send`` leaves the job to the new owner, which sends again
    with the same ``JobContext.idempotency_key``. Before ``send`` the engine
    extends the lease by ``send_timeout_seconds``, so that a slow send does
    not let another worker retake the job and send in parallel.
    """

    def exclusive_key(self, intent: IntentT) -> str | None:
        """Return a key that no two sends may hold at once, or None for no exclusion.

        When a key is given, the engine takes the key's lock, runs ``prepare``
        again under it, and keeps it until ``record`` commits. A second job
        with the same key therefore reads the first one's record before it
        decides what to send.
        """
        ...

    @property
    def send_timeout_seconds(self) -> float:
        """Maximum expected duration of one ``send``, in seconds."""
        ...

    def prepare(self, context: JobContext) -> IntentT | None: ...

    def send(self, intent: IntentT) -> OutcomeT: ...

    def record(
        self, context: JobContext, intent: IntentT | None, outcome: OutcomeT | None
    ) -> None: ...


AnyHandler = Handler | SendingHandler[Any, Any]


class JobRegistry:
    """Map from job kind to the handler that runs it."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._sending_handlers: dict[str, SendingHandler[Any, Any]] = {}

    def register(self, kind: str, handler: Handler) -> None:
        """Register a single-step handler, which runs whole in the job's write transaction."""
        self._check_free(kind)
        self._handlers[kind] = handler

    def register_sending(self, kind: str, handler: SendingHandler[Any, Any]) -> None:
        """Register a handler whose send runs outside any database transaction."""
        self._check_free(kind)
        self._sending_handlers[kind] = handler

    def _check_free(self, kind: str) -> None:
        if kind in self._handlers or kind in self._sending_handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Return a decorator that registers the decorated function for ``kind``."""

        def decorate(function: Handler) -> Handler:
            self.register(kind, function)
            return function

        return decorate

    def get(self, kind: str) -> AnyHandler | None:
        return self._handlers.get(kind) or self._sending_handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted([*self._handlers, *self._sending_handlers])
