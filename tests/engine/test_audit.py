"""The auditor reports overdue jobs and expired leases in logs and metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from tests.engine.conftest import wait_for
from tocsin.engine import metrics
from tocsin.engine.audit import Auditor
from tocsin.engine.clock import FakeClock
from tocsin.engine.queue import enqueue
from tocsin.engine.worker import Engine
from tocsin.store.database import Database


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


def test_auditor_reports_overdue_job(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    auditor = Auditor(db, clock, overdue_seconds=60)
    with db.session() as session:
        job = enqueue(session, clock, "escalate", {})
        enqueue(session, clock, "later", {}, due_at=clock.now() + timedelta(hours=1))

    clock.advance(seconds=59)
    quiet = auditor.check()
    assert quiet.overdue == []
    assert gauge("tocsin_jobs_overdue") == 0
    assert gauge("tocsin_jobs_pending") == 2

    clock.advance(seconds=2)
    with caplog.at_level(logging.WARNING, logger="tocsin.engine.audit"):
        report = auditor.check()
        # The same late set inside the warning interval is not logged again.
        again = auditor.check()

    assert [(late.id, late.kind) for late in report.overdue] == [(job.id, "escalate")]
    assert again.overdue == report.overdue
    assert gauge("tocsin_jobs_overdue") == 1
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert f"{job.id} (escalate)" in warning.getMessage()


def test_auditor_reports_expired_lease(
    db: Database,
    clock: FakeClock,
    make_engine: Callable[..., Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(lease_seconds=30)
    auditor = Auditor(db, clock, overdue_seconds=600)
    with db.session() as session:
        job = enqueue(session, clock, "record", {})
    engine.claim(5)
    assert auditor.check().lease_expired == []

    clock.advance(seconds=31)
    with caplog.at_level(logging.WARNING, logger="tocsin.engine.audit"):
        report = auditor.check()

    assert [late.id for late in report.lease_expired] == [job.id]
    assert report.overdue == []
    assert gauge("tocsin_jobs_lease_expired") == 1
    assert any(str(job.id) in record.getMessage() for record in caplog.records)


def test_engine_runs_auditor_periodically(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(workers=0, overdue_seconds=5, audit_interval_seconds=0.05)
    with db.session() as session:
        enqueue(session, clock, "record", {})
    clock.advance(seconds=10)
    metrics.JOBS_OVERDUE.set(-1)

    engine.start()

    assert wait_for(lambda: gauge("tocsin_jobs_overdue") == 1, timeout=3)
