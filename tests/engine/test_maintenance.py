"""The hourly maintenance job purges stale rows and reschedules itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from tocsin.engine import maintenance
from tocsin.engine.clock import FakeClock
from tocsin.engine.jobs import Job, JobStatus
from tocsin.engine.queue import enqueue
from tocsin.engine.worker import Engine, JobRegistry
from tocsin.iam.accounts import create_account
from tocsin.iam.crypto import SecretBox
from tocsin.iam.models import Role, RoleSession, User
from tocsin.protocol.idempotency import IdempotencyRecord
from tocsin.store.database import Database
from tocsin.web.console.models import ConsoleSessionRecord, SignInFailure

SECRETS = SecretBox(b"JtKbJrRGHpUxJt4vK7jJ5x0bmb3qZ3uUEwJ8nM5rP9k=")


def seed_stale_rows(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    with db.session() as session:
        account = create_account(session, clock, SECRETS, account_id="111111111111")
        session.add(
            Role(
                role_id="AROAEXAMPLE0000000001",
                account_id=account.account_id,
                name="Old",
                path="/",
                assume_role_policy="{}",
                created_at=now,
            )
        )
        session.flush()
        for name, expires_at in (("stale", now - timedelta(days=2)), ("live", now)):
            session.add(
                RoleSession(
                    access_key_id=f"ASIA{name.upper():0<16}",
                    role_id="AROAEXAMPLE0000000001",
                    session_name=name,
                    encrypted_secret="unused",
                    session_token_digest="0" * 64,
                    source_arn="arn:aws:iam::111111111111:user/Administrator",
                    expires_at=expires_at,
                    created_at=now,
                )
            )
        session.add(
            IdempotencyRecord(
                account_id="111111111111",
                service="ssm-incidents",
                operation="StartIncident",
                token="old",
                request_digest="0" * 64,
                response="{}",
                created_at=now - timedelta(days=2),
            )
        )
        administrator = session.scalars(
            select(User).where(User.account_id == account.account_id)
        ).one()
        for digest, expires_at in (("a" * 64, now), ("b" * 64, now + timedelta(hours=2))):
            session.add(
                ConsoleSessionRecord(
                    session_digest=digest,
                    account_id=account.account_id,
                    user_id=administrator.user_id,
                    csrf_token="token",
                    password_stamp="stamp",
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        for name, failed_at in (
            ("old", now - timedelta(days=1)),
            ("recent", now + timedelta(minutes=50)),
        ):
            session.add(
                SignInFailure(
                    account_id=account.account_id,
                    user_name=name,
                    client_address="127.0.0.1",
                    failed_at=failed_at,
                )
            )
        old_job = enqueue(session, clock, "record", {}, key="finished-long-ago")
        old_job.status = JobStatus.DONE.value
        old_job.finished_at = now - timedelta(days=8)


def test_maintenance_purges_and_reschedules(
    db: Database, clock: FakeClock, make_engine: Callable[..., Engine]
) -> None:
    seed_stale_rows(db, clock)
    registry = JobRegistry()
    maintenance.register(registry)
    engine = make_engine(registry=registry)
    with db.session() as session:
        first = maintenance.schedule_maintenance(session, clock)
        again = maintenance.schedule_maintenance(session, clock)
    assert again.id == first.id

    clock.advance(hours=1)
    assert engine.run_due() == 1

    with db.session() as session:
        sessions = session.scalars(select(RoleSession.session_name)).all()
        records = session.scalar(select(func.count()).select_from(IdempotencyRecord))
        kinds = session.scalars(select(Job.kind).where(Job.status == JobStatus.PENDING.value)).all()
        old = session.scalar(select(Job).where(Job.key == "finished-long-ago"))
        console_sessions = session.scalars(select(ConsoleSessionRecord.session_digest)).all()
        failures = session.scalars(select(SignInFailure.user_name)).all()
    assert sessions == ["live"]
    assert console_sessions == ["b" * 64]
    assert failures == ["recent"]
    assert records == 0
    assert old is None
    assert kinds == [maintenance.KIND]
