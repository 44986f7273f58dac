"""Escalation stages that fall due together start in batches, each once, under row locks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.conftest import OWNER, personal
from tests.contacts.engagement_support import (
    advance,
    channel_stage,
    contact_stage,
    engage,
    escalation,
    mark_activated,
    page_messages,
    pages_of,
    receipt_types,
    settle,
)
from tocsin.contacts.engagement_models import Page
from tocsin.contacts.engagements import STAGE_JOB
from tocsin.contacts.pages import PAGE_SEND_JOB
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import lock_due
from tocsin.engine.worker import BatchHandler, Engine
from tocsin.testing import RunningServer

ENGAGEMENTS = 12


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A server with no background workers, so each test decides which node runs a job."""
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url, workers=0) as running:
        runtime = running.runtime
        # An engine that runs jobs only when a test calls it.
        runtime.engine = Engine(runtime.database, runtime.clock, runtime.jobs, running.settings)
        yield running


@pytest.fixture
def contacts(server: RunningServer) -> Any:
    return server.client("ssm-contacts", server.create_account(account_id=OWNER))


def paged_person(server: RunningServer, contacts: Any, alias: str) -> tuple[str, str]:
    """Create a personal contact whose plan pages one activated email channel at once."""
    contact = personal(contacts, alias)
    channel: str = contacts.create_contact_channel(
        ContactId=contact,
        Name="mail",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": f"{alias}@example.com"},
        DeferActivation=True,
    )["ContactChannelArn"]
    mark_activated(server, channel)
    contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})
    return contact, channel


def two_stage_engagements(
    server: RunningServer, contacts: Any, count: int
) -> tuple[list[str], str]:
    """Start ``count`` engagements whose stage 2, paging ``second``, is due one minute later."""
    first, _ = paged_person(server, contacts, "first")
    second, second_channel = paged_person(server, contacts, "second")
    plan = escalation(
        contacts, "plan", contact_stage(1, (first, False)), contact_stage(0, (second, True))
    )
    engagements = [engage(contacts, plan) for _ in range(count)]
    settle(server)
    return engagements, second_channel


def stage_handler(engine: Engine) -> BatchHandler:
    return engine.batch_kinds()[STAGE_JOB]


def second_stage_pages(server: RunningServer) -> dict[str, int]:
    """Return the number of stage-2 pages of each engagement."""
    with server.runtime.database.session() as session:
        rows = session.execute(
            select(Page.engagement_arn, func.count())
            .where(Page.stage_index == 1)
            .group_by(Page.engagement_arn)
        ).all()
    return {arn: count for arn, count in rows}


def jobs_of(server: RunningServer, kind: str) -> list[Job]:
    with server.runtime.database.session() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))
        session.expunge_all()
    return jobs


def other_engine(server: RunningServer, name: str) -> Engine:
    """Return a second engine on the server's database, as another node would run."""
    runtime = server.runtime
    return Engine(runtime.database, runtime.clock, runtime.jobs, server.settings, name=name)


def test_due_stages_start_once_in_batch(server: RunningServer, contacts: Any) -> None:
    engagements, second_channel = two_stage_engagements(server, contacts, ENGAGEMENTS)
    engine = server.runtime.engine
    assert engine is not None
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))

    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 100, "node") == ENGAGEMENTS
    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 100, "node") == 0

    assert second_stage_pages(server) == {arn: 1 for arn in engagements}
    stage_jobs = jobs_of(server, STAGE_JOB)
    assert [job.status for job in stage_jobs] == [JobStatus.DONE.value] * ENGAGEMENTS
    assert all(job.finished_at == server.clock.now() for job in stage_jobs)
    assert all(job.attempts == 1 and job.lease_owner is None for job in stage_jobs)
    due_sends = [job for job in jobs_of(server, PAGE_SEND_JOB) if job.status == "pending"]
    assert len(due_sends) == ENGAGEMENTS
    assert all(job.due_at == server.clock.now() for job in due_sends)

    settle(server)
    assert len(page_messages(server, second_channel)) == ENGAGEMENTS
    for engagement in engagements:
        stage_two = [
            page for page in pages_of(contacts, engagement) if "second" in page["ContactArn"]
        ]
        assert len(stage_two) == 1
        assert receipt_types(contacts, stage_two[0]["PageArn"]) == ["SENT"]


def test_batch_size_limits_one_transaction(server: RunningServer, contacts: Any) -> None:
    engagements, _ = two_stage_engagements(server, contacts, 5)
    engine = other_engine(server, "node")
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))

    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 2, "node") == 2
    assert len(second_stage_pages(server)) == 2
    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 10, "node") == 3
    assert second_stage_pages(server) == {arn: 1 for arn in engagements}


def test_batch_that_dies_leaves_its_jobs_pending(server: RunningServer, contacts: Any) -> None:
    engagements, second_channel = two_stage_engagements(server, contacts, ENGAGEMENTS)
    first = other_engine(server, "first")
    second = other_engine(server, "second")
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))
    database = server.runtime.database

    # The first node locks the due jobs and starts their stages, then dies
    # before its transaction commits.
    class Crash(Exception):
        pass

    with pytest.raises(Crash), database.session() as session:
        locked = lock_due(session, server.clock, "first", kind=STAGE_JOB, limit=100)
        assert len(locked) == ENGAGEMENTS
        contexts = [first._context(session, job, read_only=False) for job in locked]
        stage_handler(first).run_batch(contexts)
        if database.is_postgresql:
            # Another node skips the locked rows instead of waiting for them.
            assert second.run_batch_due(STAGE_JOB, stage_handler(second), 100, "second") == 0
        raise Crash

    stage_jobs = jobs_of(server, STAGE_JOB)
    assert [job.status for job in stage_jobs] == [JobStatus.PENDING.value] * ENGAGEMENTS
    assert all(job.attempts == 0 for job in stage_jobs)
    assert second_stage_pages(server) == {}

    assert second.run_batch_due(STAGE_JOB, stage_handler(second), 100, "second") == ENGAGEMENTS
    assert second_stage_pages(server) == {arn: 1 for arn in engagements}
    settle(server)
    assert len(page_messages(server, second_channel)) == ENGAGEMENTS


def test_batch_skips_stopped_engagement(server: RunningServer, contacts: Any) -> None:
    engagements, second_channel = two_stage_engagements(server, contacts, 3)
    engine = other_engine(server, "node")
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))

    # StopEngagement cancels the due stage job of the first engagement.
    contacts.stop_engagement(EngagementId=engagements[0], Reason="fixed")
    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 100, "node") == 2

    assert second_stage_pages(server) == {arn: 1 for arn in engagements[1:]}
    statuses = sorted(job.status for job in jobs_of(server, STAGE_JOB))
    assert statuses == ["cancelled", "done", "done"]
    settle(server)
    assert len(page_messages(server, second_channel)) == 2


def test_stage_job_of_stopped_engagement_starts_nothing(
    server: RunningServer, contacts: Any
) -> None:
    """A stage job claimed on its own before the engagement stopped commits nothing."""
    engagements, second_channel = two_stage_engagements(server, contacts, 1)
    engine = other_engine(server, "node")
    assert isinstance(server.clock, FakeClock)
    server.clock.advance(timedelta(minutes=1))

    claims = engine.claim(10)
    assert [claim.kind for claim in claims] == [STAGE_JOB]
    contacts.stop_engagement(EngagementId=engagements[0], Reason="fixed")
    assert engine.execute(claims[0]) == "stale"

    assert second_stage_pages(server) == {}
    assert [job.status for job in jobs_of(server, STAGE_JOB)] == ["cancelled"]
    settle(server)
    assert page_messages(server, second_channel) == []


def test_batch_failure_runs_jobs_alone(server: RunningServer, contacts: Any) -> None:
    _, second_channel = two_stage_engagements(server, contacts, 3)
    engine = other_engine(server, "node")
    assert isinstance(server.clock, FakeClock)
    # A stage job whose payload names no stage makes the batch raise.
    with server.runtime.database.session() as session:
        job = session.scalars(select(Job).where(Job.kind == STAGE_JOB).order_by(Job.id)).first()
        assert job is not None
        job.payload = {"engagement_arn": job.payload["engagement_arn"], "stage": 7}
        broken = job.id
    server.clock.advance(timedelta(minutes=1))

    assert engine.run_batch_due(STAGE_JOB, stage_handler(engine), 100, "node") == 3

    jobs = {job.id: job for job in jobs_of(server, STAGE_JOB)}
    failed = jobs.pop(broken)
    assert (failed.status, failed.attempts) == (JobStatus.PENDING.value, 1)
    assert "IndexError" in (failed.last_error or "")
    assert [job.status for job in jobs.values()] == [JobStatus.DONE.value] * 2
    assert [job.attempts for job in jobs.values()] == [1, 1]
    assert len(second_stage_pages(server)) == 2
    advance(server, seconds=1)
    assert len(page_messages(server, second_channel)) == 2
