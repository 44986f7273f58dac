"""Periodic check for jobs that run late or whose worker vanished.

A job that is still open ``overdue_seconds`` after its due time means workers
are missing, stuck or overloaded. A running job whose lease has expired means
its worker stopped without finishing, and another worker retakes it on its
next claim. The auditor logs both and exports their counts as metrics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from tocsin.engine import metrics
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import OPEN_STATUSES, Job, JobStatus
from tocsin.store.database import Database

logger = logging.getLogger(__name__)

# Maximum number of job ids written in one warning line.
MAX_IDS_LOGGED = 20


@dataclass(frozen=True)
class LateJob:
    id: int
    kind: str


@dataclass(frozen=True)
class AuditReport:
    """Result of one audit pass."""

    overdue: list[LateJob] = field(default_factory=list)
    lease_expired: list[LateJob] = field(default_factory=list)
    pending: int = 0


def _describe(jobs: list[LateJob]) -> str:
    shown = ", ".join(f"{job.id} ({job.kind})" for job in jobs[:MAX_IDS_LOGGED])
    if len(jobs) > MAX_IDS_LOGGED:
        shown += f" and {len(jobs) - MAX_IDS_LOGGED} more"
    return shown


class Auditor:
    """Count overdue jobs and expired leases, log them and update the gauges.

    Warnings are rate-limited: the same set of late jobs is logged again only
    after ``warn_interval_seconds`` of real time. A changed set is logged at once.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        overdue_seconds: float,
        warn_interval_seconds: float = 300.0,
        limit: int = 1000,
    ) -> None:
        self._database = database
        self._clock = clock
        self._overdue = timedelta(seconds=overdue_seconds)
        self._warn_interval = warn_interval_seconds
        self._limit = limit
        self._last_warning: tuple[frozenset[int], float] | None = None

    def check(self) -> AuditReport:
        """Run one audit pass, log late jobs and return what it found."""
        now = self._clock.now()
        with self._database.session() as session:
            overdue_rows = session.execute(
                select(Job.id, Job.kind)
                .where(Job.status.in_(OPEN_STATUSES), Job.due_at <= now - self._overdue)
                .order_by(Job.due_at, Job.id)
                .limit(self._limit)
            ).all()
            expired_rows = session.execute(
                select(Job.id, Job.kind)
                .where(Job.status == JobStatus.RUNNING.value, Job.lease_expires_at <= now)
                .order_by(Job.lease_expires_at, Job.id)
                .limit(self._limit)
            ).all()
            pending = session.scalar(
                select(func.count()).select_from(Job).where(Job.status == JobStatus.PENDING.value)
            )
        report = AuditReport(
            overdue=[LateJob(row.id, row.kind) for row in overdue_rows],
            lease_expired=[LateJob(row.id, row.kind) for row in expired_rows],
            pending=pending or 0,
        )
        metrics.JOBS_OVERDUE.set(len(report.overdue))
        metrics.JOBS_LEASE_EXPIRED.set(len(report.lease_expired))
        metrics.JOBS_PENDING.set(report.pending)
        self._warn(report)
        return report

    def _warn(self, report: AuditReport) -> None:
        late_ids = frozenset(job.id for job in report.overdue + report.lease_expired)
        if not late_ids:
            self._last_warning = None
            return
        now = time.monotonic()
        if self._last_warning is not None:
            last_ids, last_time = self._last_warning
            if last_ids == late_ids and now - last_time < self._warn_interval:
                return
        self._last_warning = (late_ids, now)
        if report.overdue:
            logger.warning(
                "%d jobs are still open more than %.0f s after their due time: %s",
                len(report.overdue),
                self._overdue.total_seconds(),
                _describe(report.overdue),
            )
        if report.lease_expired:
            logger.warning(
                "%d running jobs have an expired lease, so their worker may have stopped: %s",
                len(report.lease_expired),
                _describe(report.lease_expired),
            )
