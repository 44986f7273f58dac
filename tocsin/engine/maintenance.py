"""The hourly maintenance job: purge rows that no request or job needs any more.

The job reschedules itself, so the next run is a row in the jobs table like
every other timer. Its key names the hour it is due, so nodes that start
together schedule it once.

NOTE: the console's session tables come from ``tocsin.web.console.models``,
whose package imports Starlette, so the engine depends on the web layer
until those models move beside IAM.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import Job, JobContext, JobRegistry, JobStatus
from tocsin.engine.queue import enqueue
from tocsin.iam.models import RoleSession
from tocsin.incidents import deployments
from tocsin.protocol import idempotency
from tocsin.web.console.models import ConsoleSessionRecord, SignInFailure

if TYPE_CHECKING:
    from tocsin.config import Settings

logger = logging.getLogger(__name__)

KIND = "maintenance.purge"
INTERVAL = timedelta(hours=1)
# Finished jobs stay this long for diagnosis; expired role sessions this long
# so that a late request still gets ExpiredToken rather than an unknown key.
FINISHED_JOB_RETENTION = timedelta(days=7)
EXPIRED_SESSION_RETENTION = timedelta(days=1)
# The defaults of the deployment_event_retention_days and
# console_sign_in_window_seconds settings.
DEPLOYMENT_EVENT_RETENTION = timedelta(days=30)
SIGN_IN_WINDOW = timedelta(minutes=15)


def _next_slot(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + INTERVAL


def schedule_maintenance(session: Session, clock: Clock) -> Job:
    """Enqueue the next run at the start of the next hour, unless it is already queued."""
    due_at = _next_slot(clock.now())
    return enqueue(session, clock, KIND, {}, due_at=due_at, key=f"{KIND}:{due_at.isoformat()}")


def run_maintenance(
    ctx: JobContext,
    deployment_retention: timedelta = DEPLOYMENT_EVENT_RETENTION,
    sign_in_window: timedelta = SIGN_IN_WINDOW,
) -> None:
    """Delete stale idempotency records, expired sessions, old jobs and deployment events.

    Console sessions go when they expire, and failed console sign-ins once
    they fall out of ``sign_in_window``, the period over which they count.
    """
    now = ctx.clock.now()
    purged_tokens = idempotency.purge(ctx.session, now - idempotency.IDEMPOTENCY_WINDOW)
    # Session expiry times are wall-clock times; see Clock.wall_now.
    wall_now = ctx.clock.wall_now()
    session_cutoff = wall_now - EXPIRED_SESSION_RETENTION
    sessions = ctx.session.execute(
        delete(RoleSession).where(RoleSession.expires_at < session_cutoff)
    )
    console_sessions = ctx.session.execute(
        delete(ConsoleSessionRecord).where(ConsoleSessionRecord.expires_at <= wall_now)
    )
    ctx.session.execute(
        delete(SignInFailure).where(SignInFailure.failed_at <= wall_now - sign_in_window)
    )
    finished = ctx.session.execute(
        delete(Job).where(
            Job.status.in_([JobStatus.DONE.value, JobStatus.DEAD.value, JobStatus.CANCELLED.value]),
            Job.finished_at < now - FINISHED_JOB_RETENTION,
        )
    )
    purged_deployments = deployments.purge(ctx.session, now - deployment_retention)
    logger.info(
        "maintenance purged %d idempotency records, %d role sessions, %d console sessions, "
        "%d finished jobs and %d deployment events",
        purged_tokens,
        sessions.rowcount,  # type: ignore[attr-defined]
        console_sessions.rowcount,  # type: ignore[attr-defined]
        finished.rowcount,  # type: ignore[attr-defined]
        purged_deployments,
    )
    schedule_maintenance(ctx.session, ctx.clock)


def register(registry: JobRegistry, settings: Settings | None = None) -> None:
    """Register the maintenance job with the retention periods of ``settings``."""
    if settings is None:
        registry.register(KIND, run_maintenance)
        return
    retention = timedelta(days=settings.deployment_event_retention_days)
    window = timedelta(seconds=settings.console_sign_in_window_seconds)
    registry.register(KIND, lambda ctx: run_maintenance(ctx, retention, window))
