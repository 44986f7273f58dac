"""The ``jobs`` table of durable timers and deferred tasks, and the handler interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

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
    """

    session: Session
    job_id: int
    kind: str
    payload: dict[str, Any]
    account_id: str | None
    attempt: int
    fencing_token: int
    clock: Clock

    @property
    def idempotency_key(self) -> str:
        """Return the key that external sends of this job carry.

        It is the same for every claim of the job, so a send that reached its
        receiver just before a crash is retried with the key it first used and
        the receiver can drop the duplicate.
        """
        return f"tocsin-job-{self.job_id}"


Handler = Callable[[JobContext], None]


class JobRegistry:
    """Map from job kind to the handler that runs it."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        self._handlers[kind] = handler

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Return a decorator that registers the decorated function for ``kind``."""

        def decorate(function: Handler) -> Handler:
            self.register(kind, function)
            return function

        return decorate

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._handlers)
